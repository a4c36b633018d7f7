"""Comparing replicas' copies of a list by their causal contexts alone.

A read gathers the copies of R or N replicas, and most often one of them
has seen everything the others have: they differ by a write still on its
way to the replicas behind. For states reachable by the mutators and
``merge``, a copy whose causal context holds another's, with an equal
access list, *is* their join (:meth:`ShoppingList.compare
<crdt.shopping_list.ShoppingList.compare>`), and its canonical encoding is
the join's. So the proxy can answer, and tell which replicas are behind,
from the copies' leading fields (:class:`Head`: the list id, replica
table, version vector and cloud) and their access part's bytes, skipping
the items: a few microseconds per copy instead of a decode of the whole
list, which grows with it (a 300-item list takes ~10x a 30-item one).

Only for copies the cluster's own servers sent (a client's frame is always
decoded and checked whole). A copy that is not shaped like a state raises
:class:`~protocol.ProtocolError`; the caller falls back to decoding. Pure
code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crdt.context import CausalContext
from crdt.observed import peek_head
from protocol import NIL

__all__ = ["Head", "dominant", "head_of"]


@dataclass(frozen=True, slots=True)
class Head:
    """What a copy has seen: its causal context, and its access part as encoded."""

    list_id: str
    context: CausalContext
    #: the encoded access list (``b""`` when the copy has none)
    access: bytes

    def covers(self, other: Head) -> bool:
        """Whether this copy has seen everything ``other`` has (so merging
        ``other`` into it changes nothing): same list, ``other``'s context
        inside this one, and equal access lists (access lists that differ
        are not compared here: the caller decodes)."""
        return (
            self.list_id == other.list_id
            and self.access == other.access
            and other.context.issubset(self.context)
        )


def head_of(blob: bytes) -> Head:
    """The :class:`Head` of a copy a server sent.

    Raises:
        ProtocolError: the blob is not shaped like a list state.
    """
    wire, ctx = peek_head(blob)
    access = bytes(wire.access)
    return Head(wire.list_id, ctx, b"" if access == bytes(NIL) else access)


def dominant(blobs: Sequence[bytes]) -> bytes | None:
    """The copy among ``blobs`` that covers every other (:meth:`Head.covers`),
    hence their join as encoded; ``None`` if none does (concurrent copies,
    or access lists that differ: the caller joins them by decoding).

    Raises:
        ProtocolError: a blob is not shaped like a list state.
    """
    if not blobs:
        return None
    heads = [head_of(b) for b in blobs]
    # The one with the most dots seen is the only candidate.
    best = max(range(len(heads)), key=lambda i: len(heads[i].context))
    top = heads[best]
    if all(i == best or top.covers(h) for i, h in enumerate(heads)):
        return blobs[best]
    return None
