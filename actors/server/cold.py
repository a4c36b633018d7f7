"""Cold writes: a delta to a list out of the cache, stored without decoding the list.

With many more lists than the cache holds (a 1,000,000-list cluster keeps
~600,000 on each server, 65,536 of them cached), most writes go to a list
that is not cached. Loading it (read, decode its items, cache it, evicting
another) and writing it back whole (encode, rewrite a ~1 KB row) cost
several times the delta's own work. A delta needs much less of the list:

* the write gate's fast path (:func:`crdt.validation.own_additions`) looks
  only at the stored copy's causal context and encoded size;
* whether the delta changes anything, and the list's anti-entropy digest
  after it (:meth:`ShoppingList.digest` covers the list id, the causal
  context and the access list, not the items), follow from the context and
  access list of the row, read here by :func:`peek` without the items.

So the store keeps such a delta in the ``cold`` table, one row per list
(the delta and the digest of the list with it), next to the list's row;
the list stays uncached. A list's durable state is its row joined with its
``cold`` row (if any) and its ``deltas`` rows. A list with a ``cold`` row
takes no second one: its next write loads it as before. Loading a list
(:meth:`DeltaLog.load <actors.server.deltas.DeltaLog.load>`) joins its cold
row; rewriting its row whole deletes it.

Pure code, no I/O; used on the thread that owns the store: the server's
bridge thread, which hosts the ServerActor.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec

from crdt import CausalContext, ShoppingList
from protocol import AccessState, ListState, StateHead

__all__ = ["Head", "changes", "digest_with", "peek"]


_ROW: Final = msgspec.msgpack.Decoder(StateHead)
_ACCESS: Final = msgspec.msgpack.Decoder(AccessState | None)


class Head(NamedTuple):
    """What a cold write needs of a list's row."""

    #: the row's state with its causal context and access list, and no items
    bare: ShoppingList
    #: the row's encoded size (bytes)
    size: int

    @property
    def context(self) -> CausalContext:
        """The row's causal context."""
        return self.bare.context


def peek(list_id: str, blob: bytes) -> Head | None:
    """The head of a stored row of ``list_id``; ``None`` if it is not shaped
    like one (the caller then decodes it whole, which quarantines a bad row).

    The context and access list are validated as in any decode (the bare
    state is built with :meth:`ShoppingList.from_state`); the items are not
    looked at.
    """
    try:
        row = _ROW.decode(blob)
        if row.list_id != list_id:
            return None
        bare = ShoppingList.from_state(
            ListState(list_id, row.replicas, row.vv, row.cloud, [], [], _ACCESS.decode(row.access))
        )
    except (msgspec.DecodeError, ValueError):  # ProtocolError too: a ValueError
        return None
    return Head(bare, len(blob))


def changes(head: Head, delta: ShoppingList) -> bool:
    """Whether ``delta`` holds a dot the row has not seen (else joining it changes nothing)."""
    seen = head.bare.context
    return any(dot not in seen for dot in delta.context.dots())


def digest_with(head: Head, delta: ShoppingList) -> bytes:
    """The digest of the row's list with ``delta`` joined (``delta`` has no access list)."""
    bare = head.bare.copy()
    bare.merge(delta)
    return bare.digest()
