"""The shopping list: an add-wins observed-remove map of causal counters.

State
    One :class:`~crdt.context.CausalContext` per list, plus two dot stores:

    * ``items``: item name -> {dot: (needed increment, acquired increment)}.
      Every ``add`` and ``acquire`` creates a fresh dot that carries only its
      own increment, so an item's counts are the sums over its live dots.
    * ``names``: {dot: list name}, a multi-value register for the list name.

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

Thread safety: none; a list belongs to one thread (an actor) at a time.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from typing import Any, Final, TypeVar

import msgspec

from crdt.context import CausalContext, Dot
from crdt.errors import OverAcquireError, UnknownItemError
from protocol import ProtocolError, decode_state, encode_item, encode_state, encode_state_parts
from protocol.limits import MAX_ID_CHARS, MAX_ITEM_NAME_CHARS, MAX_LIST_NAME_CHARS, MAX_QUANTITY
from protocol.state import ItemState, ListState
from protocol.types import UUID4_PATTERN

__all__ = ["ShoppingList"]

_UUID4 = re.compile(UUID4_PATTERN)

#: (needed increment, acquired increment) carried by one dot
Counts = tuple[int, int]
V = TypeVar("V")
#: Encodes of a list (since its decode) made in one msgspec call; the next one
#: builds the per-item bytes, and later ones re-encode only changed items.
#: One add then encode of a 30-item list: ~19 µs in one call, ~37 µs when
#: building the per-item bytes, ~14 µs with them: worth it only for a list
#: that stays hot (most lists a server loads get one or two writes).
RAWS_AFTER_ENCODES: Final = 4
#: Encodes what digest() fingerprints; msgpack is canonical for equal input.
_CONTEXT_ENCODER: Final = msgspec.msgpack.Encoder()


class ShoppingList:
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
        "_ctx",
        "_dirty",
        "_enc",
        "_enc_order",
        "_encodes",
        "_items",
        "_names",
        "_raw_names",
        "_raws",
        "_raws_ok",
        "list_id",
        "replica_id",
    )

    # The encoded items of encode(), in name order; valid while _raws_ok,
    # except for the items in _dirty.
    _raw_names: list[str]
    _raws: list[msgspec.Raw]
    _raws_ok: bool
    _dirty: set[str]
    #: one-call encodes since the last reset (see RAWS_AFTER_ENCODES)
    _encodes: int

    def __init__(self, list_id: str, replica_id: str, name: str = "") -> None:
        if not isinstance(list_id, str) or not _UUID4.fullmatch(list_id):
            raise ValueError(f"list id must be a lowercase uuid4 string, got {list_id!r}")
        if not isinstance(replica_id, str) or len(replica_id) > MAX_ID_CHARS:
            raise ValueError(f"replica id must be a string of at most {MAX_ID_CHARS} characters")
        self.list_id = list_id
        self.replica_id = replica_id
        self._ctx = CausalContext()
        self._items: dict[str, dict[Dot, Counts]] = {}
        self._names: dict[Dot, str] = {}
        # Encoded items, reused by to_state() until the item or the replica
        # table changes: a write to a long list re-encodes one item, not all.
        self._enc: dict[str, ItemState] = {}
        self._enc_order: tuple[str, ...] = ()
        self._reset_raws()
        if name:
            self.rename(name)

    # ------------------------------------------------------------------ queries

    @property
    def name(self) -> str:
        """The list name; of concurrent renames, the greatest string is shown."""
        return max(self._names.values(), default="")

    @property
    def names(self) -> list[str]:
        """Every concurrently set name, sorted (one unless renames raced)."""
        return sorted(set(self._names.values()))

    @property
    def version(self) -> int:
        """Number of operations this state has seen."""
        return len(self._ctx)

    @property
    def context(self) -> CausalContext:
        """The causal context; read-only by convention."""
        return self._ctx

    def items(self) -> list[str]:
        """Names of the items on the list, sorted."""
        return sorted(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def lookup(self, item: str) -> bool:
        """True when ``item`` is on the list."""
        return _clean_item(item) in self._items

    def needed(self, item: str) -> int:
        return sum(n for n, _ in self._items.get(_clean_item(item), {}).values())

    def acquired(self, item: str) -> int:
        return sum(a for _, a in self._items.get(_clean_item(item), {}).values())

    def remaining(self, item: str) -> int:
        """How many are still to buy: ``max(0, needed - acquired)``."""
        dots = self._items.get(_clean_item(item), {})
        return max(0, sum(n - a for n, a in dots.values()))

    def dot_count(self) -> int:
        """Dots held in the stores: the size the state grows with."""
        return len(self._names) + sum(len(d) for d in self._items.values())

    # ---------------------------------------------------------------- mutators

    def add(self, item: str, quantity: int = 1) -> ShoppingList:
        """Put ``item`` on the list and grow its needed count by ``quantity``.

        Raises:
            ValueError: ``quantity`` is not an int >= 1, or the name is malformed.
        """
        item = _clean_item(item)
        _check_quantity(quantity)
        return self._apply_item_dot(item, (quantity, 0))

    def acquire(self, item: str, quantity: int = 1) -> ShoppingList:
        """Record that ``quantity`` of ``item`` were bought.

        Raises:
            UnknownItemError: ``item`` is not on the list.
            OverAcquireError: ``quantity`` exceeds what remains to buy in this
                replica's view.
            ValueError: ``quantity`` is not an int >= 1.
        """
        item = _clean_item(item)
        _check_quantity(quantity)
        if item not in self._items:
            raise UnknownItemError(item)
        left = self.remaining(item)
        if quantity > left:
            raise OverAcquireError(item, quantity, left)
        return self._apply_item_dot(item, (0, quantity))

    def remove(self, item: str) -> ShoppingList:
        """Take ``item`` off the list: drop every dot of it this replica has seen.

        Raises:
            UnknownItemError: ``item`` is not on the list.
        """
        item = _clean_item(item)
        self._require_replica()
        dots = self._items.pop(item, None)
        if dots is None:
            raise UnknownItemError(item)
        self._changed(item)
        dot = self._new_dot()
        delta = self._empty_delta()
        delta._ctx = CausalContext(cloud=[*dots, dot])
        return delta

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
        _check_utf8(name)
        self._require_replica()
        dot = self._new_dot()
        self._names = {dot: name}
        return self.copy()

    def _apply_item_dot(self, item: str, counts: Counts) -> ShoppingList:
        self._require_replica()
        dot = self._new_dot()
        self._items.setdefault(item, {})[dot] = counts
        self._changed(item)
        delta = self._empty_delta()
        delta._ctx = CausalContext(cloud=[dot])
        delta._items = {item: {dot: counts}}
        return delta

    def _new_dot(self) -> Dot:
        dot = self._ctx.next_dot(self.replica_id)
        self._ctx.add(dot)
        return dot

    def _require_replica(self) -> None:
        if not self.replica_id:
            raise ValueError("this copy has no replica id; decode it with one to edit it")

    def _empty_delta(self) -> ShoppingList:
        delta = ShoppingList.__new__(ShoppingList)
        delta.list_id = self.list_id
        delta.replica_id = self.replica_id
        delta._ctx = CausalContext()
        delta._items = {}
        delta._names = {}
        delta._enc = {}
        delta._enc_order = ()
        delta._reset_raws()
        return delta

    # ------------------------------------------------------------------ lattice

    def merge(self, other: ShoppingList) -> None:
        """Join ``other`` (a full state or a delta) into this state, in place.

        Raises:
            ValueError: ``other`` is a copy of another list.
        """
        if other.list_id != self.list_id:
            raise ValueError(f"cannot merge list {other.list_id} into list {self.list_id}")
        mine, theirs = self._ctx, other._ctx
        if len(theirs) == other.dot_count():
            # Every dot ``other`` has seen, it still holds (an add, an acquire,
            # or any state without removals): it removes nothing here, so only
            # its unseen dots need adding. O(size of other), not of self.
            self._add_unseen(other)
            mine.update(theirs)
            return
        items: dict[str, dict[Dot, Counts]] = {}
        other_items = other._items
        for item, dots in self._items.items():
            joined = _join_dots(dots, other_items.get(item), mine, theirs)
            if joined:
                items[item] = joined
        for item, dots in other_items.items():
            if item not in self._items:
                joined = _join_dots(None, dots, mine, theirs)
                if joined:
                    items[item] = joined
        self._names = _join_dots(self._names, other._names, mine, theirs)
        self._items = items
        self._enc.clear()
        self._reset_raws()
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
        return self._ctx.issubset(other._ctx)

    def copy(self, replica_id: str | None = None) -> ShoppingList:
        """An independent copy, optionally under another replica id."""
        new = self._empty_delta()
        if replica_id is not None:
            new.replica_id = replica_id
        new._ctx = self._ctx.copy()
        new._items = {item: dict(dots) for item, dots in self._items.items()}
        new._names = dict(self._names)
        new._enc = dict(self._enc)
        new._enc_order = self._enc_order
        new._raw_names = list(self._raw_names)
        new._raws = list(self._raws)
        new._raws_ok = self._raws_ok
        new._dirty = set(self._dirty)
        new._encodes = self._encodes
        return new

    def __eq__(self, other: object) -> bool:
        """States are equal when they hold the same data; replica ids don't count."""
        if not isinstance(other, ShoppingList):
            return NotImplemented
        return (
            self.list_id == other.list_id
            and self._ctx == other._ctx
            and self._items == other._items
            and self._names == other._names
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"ShoppingList({self.list_id!r}, replica={self.replica_id!r}, "
            f"items={len(self._items)}, version={self.version})"
        )

    # ---------------------------------------------------------- serialisation

    def to_json(self) -> dict[str, Any]:
        """The list as the seed design's JSON schema, items sorted by name."""
        rows = []
        for item in sorted(self._items):
            dots = self._items[item].values()
            needed = sum(n for n, _ in dots)
            bought = sum(a for _, a in dots)
            left = max(0, needed - bought)
            rows.append(
                {
                    "id": item,
                    "quantity": left,
                    "needed": needed,
                    "bought": bought,
                    "acquired": left == 0,
                }
            )
        return {"id": self.list_id, "name": self.name, "version": self.version, "list": rows}

    def to_state(self) -> ListState:
        """The canonical wire form: every table sorted."""
        return self._state(*self._replica_table())

    def encode(self) -> bytes:
        """Canonical bytes of this state: equal states give equal bytes.

        Byte for byte ``encode_state(self.to_state())``, but incremental: the
        encoded items are kept in name order, and a write re-encodes only the
        items it changed. A server encodes a list on every write to it, so
        this is its hot path.
        """
        order, index = self._replica_table()
        names, raws = self._raw_names, self._raws
        if not self._raws_ok and self._encodes < RAWS_AFTER_ENCODES:
            # A list just decoded, or rarely written (a write to a list
            # outside a server's cache): one msgspec call over the item
            # encodings the decode left. The per-item bytes only pay off on a
            # list written again and again.
            self._encodes += 1
            return encode_state(self._state(order, index))
        if not self._raws_ok:
            names[:] = sorted(self._items)
            raws[:] = [encode_item(self._item_state(item, index)) for item in names]
            self._raws_ok = True
        else:
            for item in self._dirty:
                pos = bisect.bisect_left(names, item)
                held = pos < len(names) and names[pos] == item
                if item in self._items:
                    raw = encode_item(self._item_state(item, index))
                    if held:
                        raws[pos] = raw
                    else:
                        names.insert(pos, item)
                        raws.insert(pos, raw)
                elif held:
                    del names[pos]
                    del raws[pos]
        self._dirty.clear()
        return encode_state_parts(self._header(order, index), raws)

    def _replica_table(self) -> tuple[tuple[str, ...], dict[str, int]]:
        """The sorted replica ids and their indices; a change drops every cached item."""
        # Every stored dot is in the context, so its replicas are all there.
        order = tuple(sorted(self._ctx.replicas()))
        if order != self._enc_order:
            self._enc.clear()  # replica indices moved
            self._enc_order = order
            self._raws_ok = False
        return order, {r: i for i, r in enumerate(order)}

    def _state(self, order: tuple[str, ...], index: dict[str, int]) -> ListState:
        return ListState(
            **self._header(order, index),
            items=[self._item_state(item, index) for item in sorted(self._items)],
        )

    def _item_state(self, item: str, index: dict[str, int]) -> ItemState:
        encoded = self._enc.get(item)
        if encoded is None:
            encoded = self._enc[item] = ItemState(
                name=item,
                dots=tuple(
                    sorted(
                        (index[r], n, need, got)
                        for (r, n), (need, got) in self._items[item].items()
                    )
                ),
            )
        return encoded

    def _header(self, order: tuple[str, ...], index: dict[str, int]) -> dict[str, Any]:
        ctx = self._ctx
        return {
            "list_id": self.list_id,
            "replicas": list(order),
            "vv": [ctx.vv.get(r, 0) for r in order],
            "cloud": sorted((index[r], n) for r, n in ctx.cloud),
            "names": sorted((index[r], n, name) for (r, n), name in self._names.items()),
        }

    def _changed(self, item: str) -> None:
        """``item``'s dots changed: drop its cached encodings."""
        self._enc.pop(item, None)
        self._dirty.add(item)

    def _reset_raws(self) -> None:
        """Forget the encoded items (the next encode() builds them all)."""
        self._raw_names = []
        self._raws = []
        self._raws_ok = False
        self._dirty = set()
        self._encodes = 0

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
        blob = _CONTEXT_ENCODER.encode((self.list_id, sorted(ctx.vv.items()), sorted(ctx.cloud)))
        return hashlib.md5(blob, usedforsecurity=False).digest()

    @classmethod
    def decode(cls, blob: bytes | memoryview, replica_id: str = "") -> ShoppingList:
        """Decode and validate a state or delta from untrusted bytes.

        Raises:
            ProtocolError: the blob is malformed or violates the CRDT's
                invariants (unknown replica index, a stored dot outside the
                causal context, a dot used twice, a repeated item).
        """
        return cls.from_state(decode_state(blob), replica_id)

    @classmethod
    def from_state(cls, state: ListState, replica_id: str = "") -> ShoppingList:
        """Build a list from its wire form, checking every invariant.

        This runs for every state and delta a server or the proxy receives,
        and for every list a server loads, so its per-dot work is kept to a
        bounds check and a dict insert; duplicates are found by set sizes.

        Raises:
            ProtocolError: as for :meth:`decode`.
        """
        cloud = _checked_header(state, replica_id)
        replicas, vv = state.replicas, state.vv
        width = len(replicas)

        # state.list_id matched the uuid4 pattern when msgspec decoded it.
        new = cls.__new__(cls)
        new.list_id = state.list_id
        new.replica_id = replica_id
        new._ctx = CausalContext(
            dict(zip(replicas, vv, strict=True)), [(replicas[i], n) for i, n in cloud]
        )
        names: dict[Dot, str] = {}
        for i, n, name in state.names:
            if i >= width or (n > vv[i] and (i, n) not in cloud):
                raise _unseen(replicas, i, n)
            names[(replicas[i], n)] = name
        new._names = names
        seen: set[Dot] = set(names)
        total = len(state.names)
        items: dict[str, dict[Dot, Counts]] = {}
        new._items = items
        new._enc = {}
        new._enc_order = ()
        new._reset_raws()
        # A canonical blob (ours always are) lends its item encodings to the
        # next to_state(): re-encoding after a write then costs one item.
        canonical = replicas == sorted(replicas)
        enc = new._enc
        for item_state in state.items:
            name = item_state.name
            if name in items:
                raise ProtocolError(f"list state: item {name!r} appears twice", fault="bad_state")
            raw = item_state.dots
            dots: dict[Dot, Counts] = {}
            for i, n, need, got in raw:
                if i >= width or (n > vv[i] and (i, n) not in cloud):
                    raise _unseen(replicas, i, n)
                dots[(replicas[i], n)] = (need, got)
            items[name] = dots
            seen.update(dots)
            total += len(raw)
            if canonical and (len(raw) == 1 or list(raw) == sorted(raw)):
                enc[name] = item_state
        if len(seen) != total:
            raise ProtocolError(
                f"list state: dot {_first_repeat(state)} is used twice", fault="bad_state"
            )
        if canonical:
            new._enc_order = tuple(replicas)
        return new


def _checked_header(state: ListState, replica_id: str) -> set[tuple[int, int]]:
    """Check the replica table, version vector and cloud; the cloud as a set."""
    replicas = state.replicas
    width = len(replicas)
    if len(set(replicas)) != width or "" in replicas:
        raise ProtocolError(
            "list state: replica ids must be unique and non-empty", fault="bad_state"
        )
    if len(state.vv) != width:
        raise ProtocolError(
            "list state: version vector does not match the replica table", fault="bad_state"
        )
    if not isinstance(replica_id, str) or len(replica_id) > MAX_ID_CHARS:
        raise ProtocolError(
            f"list state: replica id longer than {MAX_ID_CHARS} characters", fault="bad_state"
        )
    cloud = set(state.cloud)
    for i, _ in cloud:
        if i >= width:
            raise ProtocolError(f"list state: replica index {i} is out of range", fault="bad_state")
    return cloud


def _unseen(replicas: list[str], i: int, n: int) -> ProtocolError:
    """The error for a stored dot outside the context (the slow path)."""
    if i >= len(replicas):
        return ProtocolError(f"list state: replica index {i} is out of range", fault="bad_state")
    dot = (replicas[i], n)
    return ProtocolError(
        f"list state: dot {dot} is stored but not in the context", fault="bad_state"
    )


def _first_repeat(state: ListState) -> Dot | None:
    """A dot stored twice (within an item, across items, or with a name)."""
    seen: set[tuple[int, int]] = set()
    dots = [(i, n) for i, n, _ in state.names]
    dots += [(i, n) for item in state.items for i, n, _, _ in item.dots]
    for i, n in dots:
        if (i, n) in seen:
            return (state.replicas[i], n)
        seen.add((i, n))
    return None


def _join_dots(
    mine: dict[Dot, V] | None,
    theirs: dict[Dot, V] | None,
    my_ctx: CausalContext,
    their_ctx: CausalContext,
) -> dict[Dot, V]:
    """Join two dot stores: keep what both have, and what the other side never saw."""
    if not theirs:
        if not mine:
            return {}
        return {d: v for d, v in mine.items() if d not in their_ctx}
    if not mine:
        return {d: v for d, v in theirs.items() if d not in my_ctx}
    if mine == theirs:
        return dict(mine)
    joined = {d: v for d, v in mine.items() if d in theirs or d not in their_ctx}
    for d, v in theirs.items():
        if d not in joined and d not in my_ctx:
            joined[d] = v
    return joined


def _clean_item(item: str) -> str:
    if not isinstance(item, str):
        raise TypeError(f"item name must be a string, got {type(item).__name__}")
    name = item.strip()
    if not name or len(name) > MAX_ITEM_NAME_CHARS:
        raise ValueError(f"item name must have 1 to {MAX_ITEM_NAME_CHARS} characters")
    _check_utf8(name)
    return name


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("names must be valid unicode text") from None


def _check_quantity(quantity: object) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValueError(f"quantity must be an int >= 1, got {quantity!r}")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError(f"quantity must be between 1 and {MAX_QUANTITY}, got {quantity}")
