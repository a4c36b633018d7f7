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

from collections.abc import Callable, MutableMapping
from typing import NamedTuple

from actors.server.cold import Head, changes, digest_with
from actors.server.hints import Hint
from crdt import ShoppingList
from crdt.write_limits import join_size_bound

__all__ = ["Entry", "Join", "Joined", "Update", "check_ids", "join_all", "join_lists"]

#: A write: (list id, state or delta), optionally with the bytes the state
#: was decoded from, which then need not be encoded again for its delta row.
Update = tuple[str, ShoppingList] | tuple[str, ShoppingList, bytes]


class Entry:
    """A cached list: its decoded state and, once encoded, its bytes."""

    __slots__ = ("blob", "bound", "state")

    def __init__(self, state: ShoppingList, blob: bytes | None) -> None:
        self.state = state
        #: the encoding of ``state``; ``None`` after a merge, until encoded
        self.blob = blob
        #: while ``blob`` is ``None``: an upper bound on the size of the
        #: encoding, kept by :func:`join_all` (``None``: not known)
        self.bound: int | None = None

    def size(self) -> int | None:
        """The encoded size of ``state`` (exact while ``blob`` is held) or an
        upper bound on it; ``None`` when neither is known. Costs nothing: the
        write gate's size check takes it on every client write."""
        return len(self.blob) if self.blob is not None else self.bound


#: (list id, its cache entry, a state to join into it, the state's encoded
#: size if known). A plain tuple: one is made per write, and a named one
#: costs a Python-level ``__new__`` each.
Join = tuple[str, Entry, ShoppingList, int | None]


def join_all(joins: list[Join]) -> None:
    """Merge each state into its entry, whose encoding is then stale.

    The entry's size bound (:meth:`Entry.size`) grows by what the state may
    add to it, or is dropped if the state's size is not known.
    """
    for _, entry, incoming, size in joins:
        if entry.blob is not None:
            entry.bound = join_size_bound(entry.state, len(entry.blob))
        if entry.bound is not None:
            entry.bound = None if size is None else entry.bound + join_size_bound(incoming, size)
        entry.state.merge(incoming)
        entry.blob = None


def check_ids(updates: list[Update], hints: list[Hint]) -> None:
    """Raise ``ValueError`` if a state is offered under another list's id."""
    for update in updates:
        if update[1].list_id != update[0]:
            raise ValueError(f"a state of list {update[1].list_id} offered as {update[0]}")
    for _, list_id, incoming in hints:
        if incoming.list_id != list_id:
            raise ValueError(f"a state of list {incoming.list_id} offered as {list_id}")


class Joined(NamedTuple):
    """What :func:`join_lists` made of a batch's updates (one per batch)."""

    #: the lists whose stored state the batch changes
    changed: set[str]
    #: the delta rows to append: each list's deltas, encoded, in the batch's order
    deltas: dict[str, list[bytes]]
    #: the changed lists to write whole: new to the store, or loaded by this batch
    whole: set[str]
    #: joins into cached copies left until the write is acknowledged
    later: list[Join]
    #: the cold rows to store: (list id, delta, digest of the list with it)
    cold: list[tuple[str, bytes, bytes]]


def join_lists(
    updates: list[Update],
    touched: set[str],
    cache: MutableMapping[str, Entry],
    lookup: Callable[[str], Entry | None],
    peek: Callable[[str], Head | None],
) -> Joined:
    """Merge a batch's updates into the cached copies, or leave the merge for later.

    ``touched`` collects the batch's lists; ``lookup`` is the store's (the
    cached list, loaded if need be), ``peek`` too (the head of a list out of
    the cache, see :mod:`actors.server.cold`). A delta bound for a delta row
    is stored as it came, so its join with the cached copy can wait until
    the write is acknowledged. So is a list's first write out of the cache
    (without an access list to join), as a cold row, the list left
    undecoded; a second write of it in the batch writes it whole. Run by :meth:`ListStore.merge_many
    <actors.server.store.ListStore.merge_many>`, on the server's bridge thread.
    """
    changed: set[str] = set()
    deltas: dict[str, list[bytes]] = {}
    later: list[Join] = []
    # A list new to this store is written whole, so that every list with
    # delta rows has a row to join them to. So is a list this batch
    # loaded: it was decoded anyway, and a cold list is likely to leave
    # the cache before its next write, when a delta row would cost a flush.
    whole: set[str] = set()
    cold: dict[str, tuple[bytes, bytes, ShoppingList]] = {}
    for list_id, incoming, *raw in updates:
        if list_id not in touched:
            touched.add(list_id)
            if list_id not in cache:
                head = peek(list_id) if incoming.access is None else None
                if head is not None:
                    if changes(head, incoming):
                        blob = raw[0] if raw else incoming.encode()
                        cold[list_id] = (blob, digest_with(head, incoming), incoming)
                        changed.add(list_id)
                    continue
                whole.add(list_id)
        elif list_id in cold:
            # Its second write in the batch: load it, join the first, write it whole.
            first = cold.pop(list_id)[2]
            whole.add(list_id)
            loaded = lookup(list_id)
            if loaded is not None:
                join_all([(list_id, loaded, first, None)])
        entry = lookup(list_id)
        if entry is None:
            cache[list_id] = Entry(incoming.copy(), None)
        elif incoming.compare(entry.state):
            # A retry, a duplicate or an older copy. (One that repeats a
            # delta of this batch whose join waits is stored twice:
            # harmless, since a join is idempotent.)
            continue
        elif list_id in whole:
            join_all([(list_id, entry, incoming, None)])  # written whole: its size is measured
        else:
            blob = raw[0] if raw else incoming.encode()
            deltas.setdefault(list_id, []).append(blob)
            later.append((list_id, entry, incoming, len(blob)))
        changed.add(list_id)
    rows = [(list_id, blob, digest) for list_id, (blob, digest, _) in cold.items()]
    return Joined(changed, deltas, whole & changed, later, rows)
