"""What the cluster has shown each client of each list, for the write gate.

A client may remove another replica's operation only if the cluster showed
it that operation (rule 3 of :func:`crdt.validation.check_write`): else one
empty state whose context covers a list's dots would wipe it. The proxy
sees everything the cluster shows a client: the answers to its reads and
the updates it is sent. :class:`ObservedContexts` joins their contexts per
(client key, list), and gives the wire form sent with the client's next
write to the list (``Store.observed``).

Bounded: beyond ``size`` pairs the least recently used are forgotten. A
client whose record was forgotten (or a proxy that restarted) is refused
such a remove as ``unobserved`` until it reads the list again; the client
session does that by itself (``ClientSession.flush``). Owned by the proxy
actor (its bridge thread).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from crdt import CausalContext, observed_blob

__all__ = ["OBSERVED_PAIRS", "ObservedContexts"]

#: (client, list) pairs kept.
OBSERVED_PAIRS: Final = 200_000


class _Seen:
    __slots__ = ("blob", "ctx")

    def __init__(self, ctx: CausalContext) -> None:
        self.ctx = ctx
        #: the wire form of ``ctx``, made when first asked for
        self.blob: bytes | None = None


class ObservedContexts:
    """See the module docstring."""

    def __init__(self, size: int = OBSERVED_PAIRS) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def saw(self, key: str, list_id: str, ctx: CausalContext) -> None:
        """The cluster showed ``key`` a state of ``list_id`` with context ``ctx``."""
        entry = self._seen.get((key, list_id))
        if entry is None:
            self._seen[(key, list_id)] = _Seen(ctx.copy())
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return
        self._seen.move_to_end((key, list_id))
        if not ctx.issubset(entry.ctx):
            entry.ctx.update(ctx)
            entry.blob = None

    def blob(self, key: str, list_id: str) -> bytes:
        """The wire form of what ``key`` was shown of ``list_id`` (empty if nothing)."""
        entry = self._seen.get((key, list_id))
        if entry is None:
            # Kept, empty, so that a writer that never reads does not encode
            # its empty record again with every write.
            entry = self._seen[(key, list_id)] = _Seen(CausalContext())
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end((key, list_id))
        if entry.blob is None:
            entry.blob = observed_blob(list_id, entry.ctx)
        return entry.blob
