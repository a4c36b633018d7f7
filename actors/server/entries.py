"""What a store's cache holds of a list, and a join waiting to be merged into it.

A cached list (an :class:`Entry`) keeps its decoded state and, once
encoded, its bytes, so that reading a hot list again does not encode it
again. A delta bound for the delta log is stored as it came; its merge into
the cached state (a :data:`Join`) may wait until the write is acknowledged
(:meth:`ListStore.join_pending <actors.server.store.ListStore.join_pending>`).

No I/O. Used by the store on the thread that owns it: the server's bridge
thread, which hosts the ServerActor.
"""

from __future__ import annotations

from crdt import ShoppingList

__all__ = ["Entry", "Join", "join_all"]


class Entry:
    """A cached list: its decoded state and, once encoded, its bytes."""

    __slots__ = ("blob", "state")

    def __init__(self, state: ShoppingList, blob: bytes | None) -> None:
        self.state = state
        #: the encoding of ``state``; ``None`` after a merge, until encoded
        self.blob = blob


#: (list id, its cache entry, a state to join into it). A plain tuple: one is
#: made per write, and a named one costs a Python-level ``__new__`` each.
Join = tuple[str, Entry, ShoppingList]


def join_all(joins: list[Join]) -> None:
    """Merge each state into its entry, whose encoding is then stale."""
    for _, entry, incoming in joins:
        entry.state.merge(incoming)
        entry.blob = None
