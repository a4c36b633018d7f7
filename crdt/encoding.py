"""The wire form of a shopping list, and the cache that keeps encoding it cheap.

A :class:`~crdt.ShoppingList` travels as a :class:`protocol.state.ListState`:
replica ids interned in a sorted table, every dot referring to its replica
by index, every table sorted, so equal states give equal bytes. This module
converts the list's stores to that form (:class:`EncodingCache`) and back,
checking the CRDT's invariants on the way in (:func:`decode_stores`), and
to the JSON view that user interfaces show (:func:`json_view`).

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from sys import intern
from typing import Any, Final

import msgspec

from crdt.context import CausalContext, Counts, Dot, ItemStore, NameStore
from protocol import ProtocolError, encode_item, encode_state, encode_state_body
from protocol.access import AccessState
from protocol.limits import MAX_ID_CHARS
from protocol.state import ItemState, ListState

__all__ = ["RAWS_AFTER_ENCODES", "EncodingCache", "decode_stores", "json_view"]

#: Encodes of a list (since its decode) made in one msgspec call; the next one
#: builds the per-item bytes, and later ones re-encode only changed items.
#: One add then encode of a 30-item list: ~19 µs in one call, ~37 µs when
#: building the per-item bytes, ~14 µs with them. The first encode of a
#: decoded list (the proxy's, a client's) takes one call; a list encoded
#: again keeps the bytes: they hold it in a third of the memory that the
#: ``ItemState`` objects of the one-call path take (a server caches
#: thousands of lists: ``benchmarks/cache_memory.py``), and make every later
#: encode cheaper.
RAWS_AFTER_ENCODES: Final = 1

#: The counts most dots carry (an add of 0 to 15), by quantity: a decoded dot
#: shares one instead of holding its own. (An index, not a dict of every
#: common pair: decoding then costs no more than making the tuple.)
_ADDS: Final[tuple[Counts, ...]] = tuple((q, 0) for q in range(16))


class EncodingCache:
    """What one list keeps of its own encoding, so that re-encoding it after a
    write costs the items the write changed, not the whole list.

    It holds two layers, both built lazily by :meth:`state` and :meth:`encode`:

    * an :class:`ItemState` per item, with replica indices into the replica
      table it was built for (also lent by :func:`decode_stores` from a
      canonical blob, so a decoded list need not rebuild them);
    * the encoded bytes of every item, in name order, joined in one buffer
      (one object per list, not one per item), built only once a list has
      been encoded :data:`RAWS_AFTER_ENCODES` times in one msgspec call each
      (a list that stays hot). They replace the first layer: once they are
      built, no ``ItemState`` is kept (an item's bytes take a tenth of its
      ``ItemState``'s memory, and a server keeps thousands of lists).

    The header (list id, replica table, context, names) is never cached: it
    is rebuilt on every encode, so renames and context-only changes need no
    invalidation.

    Invalidation rules; the owning list must keep the first two:

    * an item's dots changed (added, acquired, removed, joined in):
      :meth:`changed` drops its ``ItemState`` and marks its bytes stale;
    * the stores were rebuilt wholesale (a full join): :meth:`clear` drops
      everything and restarts the encode count;
    * the replica table changed (a new replica): found here on every
      :meth:`state` and :meth:`encode`, by comparing the context's sorted
      replica ids with the table the cache was built for; every item is
      then dropped, since the indices moved.

    Contract: for stores whose changes were reported this way, the bytes of
    :meth:`encode` equal ``protocol.encode_state`` of :meth:`state`, whatever
    the cache holds (``tests/crdt/test_encoding.py``,
    ``tests/crdt/test_encoding_cache.py``); the cache changes the cost, never
    the bytes. A cache belongs to one list: a copy of the list
    takes :meth:`copy`, a delta a fresh one. Not thread-safe.
    """

    __slots__ = (
        "_body",
        "_dirty",
        "_encodes",
        "_item_states",
        "_lengths",
        "_order",
        "_raw_names",
        "_raws_ok",
    )

    # The encoded items of encode(), in name order, joined in one buffer
    # (_body; _lengths[k] bytes are _raw_names[k]'s): one object per list,
    # not one per item. Valid while _raws_ok, except for the items in _dirty.
    _raw_names: list[str]
    _body: bytes
    _lengths: list[int]
    _raws_ok: bool
    _dirty: set[str]
    #: one-call encodes since the last reset (see RAWS_AFTER_ENCODES)
    _encodes: int

    def __init__(
        self, item_states: dict[str, ItemState] | None = None, order: tuple[str, ...] = ()
    ) -> None:
        """An empty cache, or one lent ``item_states`` built for replica table ``order``."""
        self._item_states: dict[str, ItemState] = {} if item_states is None else item_states
        self._order = order
        self._reset_raws()

    def copy(self) -> EncodingCache:
        """An independent cache for a copy of the list."""
        new = EncodingCache.__new__(EncodingCache)
        new._item_states = dict(self._item_states)
        new._order = self._order
        new._raw_names = list(self._raw_names)
        new._body = self._body  # bytes: shared, never changed in place
        new._lengths = list(self._lengths)
        new._raws_ok = self._raws_ok
        new._dirty = set(self._dirty)
        new._encodes = self._encodes
        return new

    def changed(self, item: str) -> None:
        """``item``'s dots changed (it may also be new or gone): drop what is cached of it."""
        self._item_states.pop(item, None)
        if self._raws_ok:  # else the next encode builds every item's bytes anyway
            self._dirty.add(item)

    def clear(self) -> None:
        """The stores were rebuilt: forget every item (the count starts again)."""
        self._item_states.clear()
        self._reset_raws()

    def state(
        self,
        list_id: str,
        ctx: CausalContext,
        names: NameStore,
        items: ItemStore,
        access: AccessState | None = None,
    ) -> ListState:
        """The canonical wire form of the list with these stores."""
        order, index = self._replica_table(ctx)
        return self._state(list_id, ctx, names, items, order, index, access)

    def encode(
        self,
        list_id: str,
        ctx: CausalContext,
        names: NameStore,
        items: ItemStore,
        access: AccessState | None = None,
    ) -> bytes:
        """Byte for byte ``encode_state(self.state(...))``, re-encoding only changed items."""
        order, index = self._replica_table(ctx)
        raw_names, lengths = self._raw_names, self._lengths
        if not self._raws_ok and self._encodes < RAWS_AFTER_ENCODES:
            # A list just decoded, or rarely written (a write to a list
            # outside a server's cache): one msgspec call over the item
            # encodings the decode left. The per-item bytes only pay off on a
            # list written again and again.
            self._encodes += 1
            return encode_state(self._state(list_id, ctx, names, items, order, index, access))
        if not self._raws_ok:
            raw_names[:] = sorted(items)
            raws = [encode_item(self._item_state(item, items, index)) for item in raw_names]
            lengths[:] = [len(raw) for raw in raws]
            self._body = b"".join(raws)
            self._raws_ok = True
            self._item_states.clear()  # the bytes stand for them now
        else:
            for item in self._dirty:
                self._splice(item, items, index)
        self._dirty.clear()
        header = _header(list_id, ctx, names, order, index)
        if access is not None:
            header["access"] = access
        return encode_state_body(header, len(raw_names), self._body)

    def _splice(self, item: str, items: ItemStore, index: dict[str, int]) -> None:
        """Put ``item``'s bytes as it is now in the body: replaced, added or dropped."""
        raw_names, lengths = self._raw_names, self._lengths
        pos = bisect.bisect_left(raw_names, item)
        held = pos < len(raw_names) and raw_names[pos] == item
        if not held and item not in items:
            return
        start = sum(lengths[:pos])  # C-level: cheap next to an item's encode
        end = start + lengths[pos] if held else start
        raw: bytes | msgspec.Raw = b""
        if item in items:
            raw = encode_item(self._item_state(item, items, index))
            if held:
                lengths[pos] = len(raw)
            else:
                raw_names.insert(pos, item)
                lengths.insert(pos, len(raw))
        else:
            del raw_names[pos]
            del lengths[pos]
        body = memoryview(self._body)
        self._body = b"".join((body[:start], raw, body[end:]))

    def _replica_table(self, ctx: CausalContext) -> tuple[tuple[str, ...], dict[str, int]]:
        """The sorted replica ids and their indices; a change drops every cached item."""
        # Every stored dot is in the context, so its replicas are all there.
        order = tuple(sorted(ctx.replicas()))
        if order != self._order:
            self._item_states.clear()  # replica indices moved
            self._order = order
            self._raws_ok = False
        return order, {r: i for i, r in enumerate(order)}

    def _state(
        self,
        list_id: str,
        ctx: CausalContext,
        names: NameStore,
        items: ItemStore,
        order: tuple[str, ...],
        index: dict[str, int],
        access: AccessState | None,
    ) -> ListState:
        return ListState(
            **_header(list_id, ctx, names, order, index),
            items=[self._item_state(item, items, index) for item in sorted(items)],
            access=access,
        )

    def _item_state(self, item: str, items: ItemStore, index: dict[str, int]) -> ItemState:
        """The item's wire form; kept only while the cache holds no item bytes."""
        encoded = self._item_states.get(item)
        if encoded is None:
            encoded = ItemState(
                name=item,
                dots=tuple(
                    sorted((index[r], n, need, got) for (r, n), (need, got) in items[item].items())
                ),
            )
            if not self._raws_ok:
                self._item_states[item] = encoded
        return encoded

    def _reset_raws(self) -> None:
        """Forget the encoded items (the next encode() builds them all)."""
        self._raw_names = []
        self._body = b""
        self._lengths = []
        self._raws_ok = False
        self._dirty = set()
        self._encodes = 0


def _header(
    list_id: str,
    ctx: CausalContext,
    names: NameStore,
    order: tuple[str, ...],
    index: dict[str, int],
) -> dict[str, Any]:
    """Every :class:`ListState` field but ``items``."""
    return {
        "list_id": list_id,
        "replicas": list(order),
        "vv": [ctx.vv.get(r, 0) for r in order],
        "cloud": sorted((index[r], n) for r, n in ctx.cloud),
        "names": sorted((index[r], n, name) for (r, n), name in names.items()),
    }


def decode_stores(
    state: ListState, replica_id: str
) -> tuple[CausalContext, NameStore, ItemStore, EncodingCache]:
    """The context and stores of a wire-form state, checking every invariant.

    This runs for every state and delta a server or the proxy receives, and
    for every list a server loads, so its per-dot work is kept to a bounds
    check and a dict insert; duplicates are found by set sizes. A canonical
    state (ours always are) lends its item encodings to the returned cache:
    re-encoding after a write then costs one item.

    Raises:
        ProtocolError: (fault ``bad_state``) ``replica_id`` is too long, or the
            state violates the CRDT's invariants: a repeated or empty replica
            id, a version vector not aligned with the replica table, an
            unknown replica index, a stored dot outside the causal context, a
            dot used twice, a repeated item.
    """
    cloud = _checked_header(state, replica_id)
    # Interned: every dot refers to its replica's one string, whichever state
    # or delta it came in (a server's cached list otherwise kept one copy of
    # a 40-character id per delta joined into it).
    replicas, vv = [intern(r) for r in state.replicas], state.vv
    width = len(replicas)
    ctx = CausalContext(dict(zip(replicas, vv, strict=True)), [(replicas[i], n) for i, n in cloud])
    names: NameStore = {}
    for i, n, name in state.names:
        if i >= width or (n > vv[i] and (i, n) not in cloud):
            raise _unseen(replicas, i, n)
        names[(replicas[i], n)] = name
    seen: set[Dot] = set(names)
    total = len(state.names)
    items: ItemStore = {}
    canonical = replicas == sorted(replicas)
    lent: dict[str, ItemState] = {}
    for item_state in state.items:
        name = intern(item_state.name)  # lists share their item names (one per process)
        if name in items:
            raise ProtocolError(f"list state: item {name!r} appears twice", fault="bad_state")
        raw = item_state.dots
        dots: dict[Dot, Counts] = {}
        for i, n, need, got in raw:
            if i >= width or (n > vv[i] and (i, n) not in cloud):
                raise _unseen(replicas, i, n)
            dots[(replicas[i], n)] = _ADDS[need] if not got and need < 16 else (need, got)
        items[name] = dots
        seen.update(dots)
        total += len(raw)
        if canonical and (len(raw) == 1 or list(raw) == sorted(raw)):
            lent[name] = item_state
    if len(seen) != total:
        raise ProtocolError(
            f"list state: dot {_first_repeat(state)} is used twice", fault="bad_state"
        )
    return ctx, names, items, EncodingCache(lent, tuple(replicas) if canonical else ())


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


def json_view(
    list_id: str, name: str, version: int, rows: Sequence[tuple[str, Sequence[Counts]]]
) -> dict[str, Any]:
    """The seed design's JSON schema of a list: one row per ``(display name,
    counts of its live dots)``, in the order given.

    Per item: ``needed`` and ``bought`` are the sums over its live dots, and
    ``quantity`` what remains to buy (never below 0; ``acquired`` when 0).
    """
    out = []
    for item, counts in rows:
        needed = sum(n for n, _ in counts)
        bought = sum(a for _, a in counts)
        left = max(0, needed - bought)
        out.append(
            {
                "id": item,
                "quantity": left,
                "needed": needed,
                "bought": bought,
                "acquired": left == 0,
            }
        )
    return {"id": list_id, "name": name, "version": version, "list": out}
