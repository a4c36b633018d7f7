"""The shopping list: an add-wins observed-remove map of causal counters.

State
    One :class:`~crdt.context.CausalContext` per list, plus two dot stores:

    * ``items``: item name -> {dot: (needed increment, acquired increment)}.
      Every ``add`` and ``acquire`` creates a fresh dot that carries only its
      own increment, so an item's counts are the sums over its live dots.
    * ``names``: {dot: list name}, a multi-value register for the list name.

    Items are keyed by the name as written; the view and the operations
    match names without regard to case and spacing (see :mod:`crdt.item_names`:
    a group of written forms is one item, shown under its display name).

    A dot that is in the context but in no store has been removed. That is
    the whole trick of causal CRDTs: the context remembers what was seen, so
    removal needs no tombstones, and an item that is removed costs nothing
    once the context's version vector has absorbed its dots.

Join (``merge``)
    A dot survives if both sides have it, or if one side has it and the other
    side has not seen it. Hence add-wins: a remove only drops the dots it
    observed, and a concurrent ``add`` of 3 survives with exactly 3 (not with
    whatever the item held before, as a per-replica cumulative counter would).

Deltas
    Every mutator returns a delta, itself a ``ShoppingList`` holding just the
    new dot and the dots the operation observed. Deltas join like full
    states, in any order and any number of times.

Wire form
    :mod:`crdt.encoding` converts a list to and from ``protocol``'s
    ``ListState``, and holds the cache that makes re-encoding a list after a
    write cost the items it changed; a list reports each changed item to it.

Queries
    What a list shows (its name, its items by display name, their counts,
    the JSON view) is :class:`~crdt.view.ListView`, which it inherits.

Thread safety: none; a list belongs to one thread (an actor) at a time.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

import msgspec
from typing_extensions import override

from crdt.access import AccessList
from crdt.context import CausalContext, Counts, Dot, ItemStore, NameStore, join_dots
from crdt.encoding import RAWS_AFTER_ENCODES, EncodingCache, decode_stores
from crdt.errors import OverAcquireError, UnknownItemError
from crdt.item_names import check_quantity, check_utf8, clean_item, item_key
from crdt.view import ListView
from protocol import decode_state
from protocol.limits import MAX_ID_CHARS, MAX_LIST_NAME_CHARS
from protocol.state import ListState
from protocol.types import UUID4_PATTERN

# RAWS_AFTER_ENCODES lives in crdt.encoding; benchmarks/crdt_merge.py still
# imports it from here.
__all__ = ["RAWS_AFTER_ENCODES", "ShoppingList"]

_UUID4 = re.compile(UUID4_PATTERN)

#: Encodes what digest() fingerprints; msgpack is canonical for equal input.
_CONTEXT_ENCODER: Final = msgspec.msgpack.Encoder()


class ShoppingList(ListView):
    """A replica of one shopping list.

    Args:
        list_id: the list's canonical lowercase uuid4 string.
        replica_id: the id under which *this copy* makes operations; every
            copy that edits must have its own. A copy decoded without one can
            be read and merged but not edited.
        name: if given, sets the list name (one operation).

    Raises:
        ValueError: ``list_id`` is not a uuid4 string or an argument is malformed.
    """

    __slots__ = (
        "_cache",
        "_ctx",
        "_items",
        "_names",
        "access",
        "list_id",
        "replica_id",
    )

    def __init__(self, list_id: str, replica_id: str, name: str = "") -> None:
        if not isinstance(list_id, str) or not _UUID4.fullmatch(list_id):
            raise ValueError(f"list id must be a lowercase uuid4 string, got {list_id!r}")
        if not isinstance(replica_id, str) or len(replica_id) > MAX_ID_CHARS:
            raise ValueError(f"replica id must be a string of at most {MAX_ID_CHARS} characters")
        self.list_id = list_id
        self.replica_id = replica_id
        self._ctx = CausalContext()
        self._items: ItemStore = {}
        self._names: NameStore = {}
        #: who may read and change the list; ``None`` while nobody said
        self.access: AccessList | None = None
        # Told of every changed item (see its invalidation rules): a write to
        # a long list then re-encodes one item, not all.
        self._cache = EncodingCache()
        self._groups: dict[str, list[str]] | None = None
        if name:
            self.rename(name)

    # The queries are ListView's (crdt/view.py).

    # ---------------------------------------------------------------- mutators

    def add(self, item: str, quantity: int = 1) -> ShoppingList:
        """Put ``item`` on the list and grow its needed count by ``quantity``.

        Raises:
            ValueError: ``quantity`` is not an int >= 1, or the name is malformed.
        """
        item = clean_item(item)
        check_quantity(quantity)
        forms = self._grouped().get(item_key(item))
        return self._apply_item_dot(forms[0] if forms else item, (quantity, 0))

    def acquire(self, item: str, quantity: int = 1) -> ShoppingList:
        """Record that ``quantity`` of ``item`` were bought.

        Raises:
            UnknownItemError: ``item`` is not on the list.
            OverAcquireError: ``quantity`` exceeds what remains to buy in this
                replica's view.
            ValueError: ``quantity`` is not an int >= 1.
        """
        item = clean_item(item)
        check_quantity(quantity)
        forms = self._grouped().get(item_key(item))
        if not forms:
            raise UnknownItemError(item)
        left = self.remaining(item)
        if quantity > left:
            raise OverAcquireError(forms[0], quantity, left)
        return self._apply_item_dot(forms[0], (0, quantity))

    def remove(self, item: str) -> ShoppingList:
        """Take ``item`` off the list: drop every dot of every written form
        of it this replica has seen.

        Raises:
            UnknownItemError: ``item`` is not on the list.
        """
        item = clean_item(item)
        self._require_replica()
        forms = self._grouped().get(item_key(item))
        if not forms:
            raise UnknownItemError(item)
        seen: list[Dot] = []
        for form in list(forms):
            seen += self._items.pop(form)
            self._changed(form)
        dot = self._new_dot()
        return self._delta(CausalContext(cloud=[*seen, dot]), {})

    def rename(self, name: str) -> ShoppingList:
        """Set the list name, replacing every name this replica has seen.

        The delta is the whole state. A name replaces names that replaced
        others: a delta that carried only the names it replaced could reach
        a replica before the rename it follows, and leave the name *that*
        one replaced alive under a context that has seen its end; the store
        would then take the missing rename for a duplicate. Renames are rare,
        so they ship the list instead (``tests/crdt/test_late_deltas.py``).
        """
        if not isinstance(name, str) or len(name) > MAX_LIST_NAME_CHARS:
            raise ValueError(f"list name must be a string of at most {MAX_LIST_NAME_CHARS} chars")
        check_utf8(name)
        self._require_replica()
        dot = self._new_dot()
        self._names = {dot: name}
        return self.copy()

    def _apply_item_dot(self, item: str, counts: Counts) -> ShoppingList:
        self._require_replica()
        dot = self._new_dot()
        self._items.setdefault(item, {})[dot] = counts
        self._changed(item)
        return self._delta(CausalContext(cloud=[dot]), {item: {dot: counts}})

    def _new_dot(self) -> Dot:
        dot = self._ctx.next_dot(self.replica_id)
        self._ctx.add(dot)
        return dot

    def _require_replica(self) -> None:
        if not self.replica_id:
            raise ValueError("this copy has no replica id; decode it with one to edit it")

    def _delta(self, ctx: CausalContext, items: ItemStore) -> ShoppingList:
        """A delta of this list: the dots an operation saw, and what it added."""
        return _assemble(self.list_id, self.replica_id, ctx, {}, items, EncodingCache())

    def _changed(self, item: str) -> None:
        """Report a change of ``item``'s dots to the encoding cache and the grouping."""
        self._cache.changed(item)
        self._groups = None

    # ------------------------------------------------------------------ lattice

    def merge(self, other: ShoppingList) -> None:
        """Join ``other`` (a full state or a delta) into this state, in place.

        Raises:
            ValueError: ``other`` is a copy of another list.
        """
        if other.list_id != self.list_id:
            raise ValueError(f"cannot merge list {other.list_id} into list {self.list_id}")
        if other.access is not None:
            if self.access is None:
                self.access = other.access.copy()
            else:
                self.access.merge(other.access)
        mine, theirs = self._ctx, other._ctx
        if len(theirs) == other.dot_count():
            # Every dot ``other`` has seen, it still holds (an add, an acquire,
            # or any state without removals): it removes nothing here, so only
            # its unseen dots need adding. O(size of other), not of self.
            self._add_unseen(other)
            mine.update(theirs)
            return
        items: ItemStore = {}
        # Only the items whose dots the join changes lose their cached
        # bytes: a whole state that removes usually changes one or two of
        # them (merge and encode of one into 300 items: 334 -> 124 µs).
        changed: list[str] = []
        other_items = other._items
        for item, dots in self._items.items():
            joined = join_dots(dots, other_items.get(item), mine, theirs)
            if joined:
                items[item] = joined
            if joined != dots:
                changed.append(item)
        for item, dots in other_items.items():
            if item not in self._items:
                joined = join_dots(None, dots, mine, theirs)
                if joined:
                    items[item] = joined
                    changed.append(item)
        self._names = join_dots(self._names, other._names, mine, theirs)
        self._items = items
        for item in changed:
            self._cache.changed(item)
        self._groups = None
        mine.update(theirs)

    def _add_unseen(self, other: ShoppingList) -> None:
        mine = self._ctx
        for item, dots in other._items.items():
            held = self._items.get(item)
            for dot, counts in dots.items():
                if dot not in mine:
                    if held is None:
                        held = self._items[item] = {}
                    held[dot] = counts
                    self._changed(item)
        for dot, name in other._names.items():
            if dot not in mine:
                self._names[dot] = name

    def compare(self, other: ShoppingList) -> bool:
        """True when ``other`` has seen every operation this state has seen.

        This is the lattice order: for states reachable by the mutators and
        ``merge``, ``a.compare(b)`` holds exactly when merging ``a`` into
        ``b`` leaves ``b`` unchanged.
        """
        if self.access and not (other.access and self.access.leq(other.access)):
            return False
        return self._ctx.issubset(other._ctx)

    def copy(self, replica_id: str | None = None) -> ShoppingList:
        """An independent copy, optionally under another replica id."""
        return _assemble(
            self.list_id,
            self.replica_id if replica_id is None else replica_id,
            self._ctx.copy(),
            dict(self._names),
            {item: dict(dots) for item, dots in self._items.items()},
            self._cache.copy(),
            self.access.copy() if self.access is not None else None,
        )

    @override
    def __eq__(self, other: object) -> bool:
        """States are equal when they hold the same data; replica ids don't count."""
        if not isinstance(other, ShoppingList):
            return NotImplemented
        return (
            self.list_id == other.list_id
            and self._ctx == other._ctx
            and self._items == other._items
            and self._names == other._names
            and (self.access or None) == (other.access or None)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    @override
    def __repr__(self) -> str:
        return (
            f"ShoppingList({self.list_id!r}, replica={self.replica_id!r}, "
            f"items={len(self._items)}, version={self.version})"
        )

    # ---------------------------------------------------------- serialisation

    def to_state(self) -> ListState:
        """The canonical wire form: every table sorted."""
        access = self.access.to_state() if self.access else None
        return self._cache.state(self.list_id, self._ctx, self._names, self._items, access)

    def encode(self) -> bytes:
        """Canonical bytes of this state: equal states give equal bytes.

        Byte for byte ``encode_state(self.to_state())``, but incremental (see
        :class:`~crdt.encoding.EncodingCache`): a write re-encodes only the
        items it changed. A server encodes a list on every write to it, so
        this is its hot path.
        """
        access = self.access.to_state() if self.access else None
        return self._cache.encode(self.list_id, self._ctx, self._names, self._items, access)

    def digest(self) -> bytes:
        """A 16-byte fingerprint of the state, for anti-entropy comparisons.

        It covers the list id and the causal context, not the items: every
        operation mints exactly one dot, and what a state holds follows from
        which operations it has seen (an add or acquire lives on until an
        operation that observed it removes it), so two states of one list
        with equal contexts are equal (which is why a rename's delta is the
        whole state); ``tests/crdt/test_digest.py`` checks this on random
        joins of deltas. A server can then fingerprint a list after every
        write at the cost of a few dozen bytes, not of a whole list.
        """
        ctx = self._ctx  # canonical: compacted, and no zero in the vector
        fields: tuple[Any, ...] = (self.list_id, sorted(ctx.vv.items()), sorted(ctx.cloud))
        if self.access:
            # Who has access changes no dot: it must change the digest itself.
            fields = (*fields, self.access.to_state())
        blob = _CONTEXT_ENCODER.encode(fields)
        return hashlib.md5(blob, usedforsecurity=False).digest()

    @classmethod
    def decode(cls, blob: bytes | memoryview, replica_id: str = "") -> ShoppingList:
        """Decode and validate a state or delta from untrusted bytes.

        Raises:
            ProtocolError: the blob is not a ``ListState``, or as for :meth:`from_state`.
        """
        return cls.from_state(decode_state(blob), replica_id)

    @classmethod
    def from_state(cls, state: ListState, replica_id: str = "") -> ShoppingList:
        """Build a list from its wire form, checking every invariant.

        The invariants: replica ids unique and non-empty, the version vector
        aligned with them, every replica index in range, every stored dot
        inside the causal context, no dot stored twice, no item twice (see
        :func:`~crdt.encoding.decode_stores`, which checks them cheaply).

        Raises:
            ProtocolError: (fault ``bad_state``) an invariant fails, or
                ``replica_id`` is too long.
        """
        # state.list_id matched the uuid4 pattern when msgspec decoded it.
        access = AccessList.from_state(state.access) if state.access is not None else None
        return _assemble(state.list_id, replica_id, *decode_stores(state, replica_id), access)


def _assemble(
    list_id: str,
    replica_id: str,
    ctx: CausalContext,
    names: NameStore,
    items: ItemStore,
    cache: EncodingCache,
    access: AccessList | None = None,
) -> ShoppingList:
    """A list from parts already checked (``__init__`` checks its arguments)."""
    new = ShoppingList.__new__(ShoppingList)
    new.list_id, new.replica_id = list_id, replica_id
    new._ctx, new._names, new._items, new._cache = ctx, names, items, cache
    new._groups = None
    new.access = access
    return new
