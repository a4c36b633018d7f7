"""crdt.encoding.EncodingCache: what it caches, and when it lets go.

The behaviour under test, as its docstring states it:

* the bytes of ``encode`` equal ``encode_state`` of the list's state built by
  a fresh cache, through every phase of the cache's life;
* the first ``RAWS_AFTER_ENCODES`` encodes make one whole-list msgspec call
  each; the next one encodes every item on its own, and later ones encode
  only the items reported as changed;
* an item whose dots change is re-encoded once reported with ``changed``
  (and, since the owner must report it, not before: proof that it is cached);
* a new replica in the context drops every cached item unasked (the replica
  indices moved); ``clear`` drops everything and restarts the count;
* the header (context, names) is never cached;
* a copy is independent, and a canonical decoded state lends its
  ``ItemState`` objects to the cache of the stores it decodes to (an item
  whose dots are out of order, or a state whose replica table is, lends none);
* once it holds the items' bytes it keeps no ``ItemState``, and before that
  it marks no item stale (one form of each item in memory).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from crdt import encoding
from crdt.context import CausalContext, ItemStore, NameStore
from crdt.encoding import RAWS_AFTER_ENCODES, EncodingCache, decode_stores
from protocol import encode_state
from protocol.state import ItemState, ListState
from tests.crdt.strategies import LIST_ID


class Stores:
    """A small list's context and stores, edited by hand as a list would."""

    def __init__(self, items: int = 5) -> None:
        self.ctx = CausalContext({"b": items + 1})
        self.names: NameStore = {("b", items + 1): "groceries"}
        self.items: ItemStore = {f"item {k}": {("b", k + 1): (k + 1, 0)} for k in range(items)}

    def add(self, replica: str, item: str, counts: tuple[int, int]) -> None:
        """Mint a dot of ``replica`` for ``item`` (without telling any cache)."""
        dot = self.ctx.next_dot(replica)
        self.ctx.add(dot)
        self.items.setdefault(item, {})[dot] = counts

    def encode(self, cache: EncodingCache) -> bytes:
        return cache.encode(LIST_ID, self.ctx, self.names, self.items)

    def expected(self) -> bytes:
        """The bytes from a fresh cache: nothing cached to go stale."""
        return encode_state(EncodingCache().state(LIST_ID, self.ctx, self.names, self.items))


def decoded(blob: bytes) -> ListState:
    return msgspec.msgpack.decode(blob, type=ListState)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the whole-list and per-item msgspec calls the cache makes."""
    counted = {"encode_state": 0, "encode_item": 0}
    for name in counted:
        real: Callable[..., object] = getattr(encoding, name)

        def counting(arg: object, name: str = name, real: Callable[..., object] = real) -> object:
            counted[name] += 1
            return real(arg)

        monkeypatch.setattr(encoding, name, counting)
    return counted


def test_whole_list_encodes_then_every_item_once_then_only_the_changed_ones(
    calls: dict[str, int],
) -> None:
    # (expected() calls protocol's encode_state, which is not counted.)
    stores, cache = Stores(items=5), EncodingCache()
    for k in range(RAWS_AFTER_ENCODES):
        assert stores.expected() == stores.encode(cache)
        assert {"encode_state": k + 1, "encode_item": 0} == calls
    assert stores.expected() == stores.encode(cache)
    assert {"encode_state": RAWS_AFTER_ENCODES, "encode_item": 5} == calls
    stores.add("b", "item 2", (0, 1))
    cache.changed("item 2")
    assert stores.expected() == stores.encode(cache)
    assert {"encode_state": RAWS_AFTER_ENCODES, "encode_item": 6} == calls


@pytest.mark.parametrize("encodes", [1, RAWS_AFTER_ENCODES + 1])
def test_a_change_is_seen_once_reported_and_not_before(encodes: int) -> None:
    # Before and after the cache keeps per-item bytes (encodes > RAWS_AFTER_ENCODES).
    stores, cache = Stores(), EncodingCache()
    for _ in range(encodes):
        before = decoded(stores.encode(cache))
    stores.add("b", "item 1", (3, 0))
    after = decoded(stores.encode(cache))
    assert before.items == after.items  # the item is cached...
    assert [7] == after.vv  # ...the header never is
    cache.changed("item 1")
    assert stores.expected() == stores.encode(cache)
    stores.items.pop("item 3")
    cache.changed("item 3")
    stores.add("b", "new item", (1, 0))
    cache.changed("new item")
    assert stores.expected() == stores.encode(cache)


@pytest.mark.parametrize("encodes", [1, RAWS_AFTER_ENCODES + 1])
def test_a_new_replica_drops_every_cached_item_unasked(encodes: int) -> None:
    stores, cache = Stores(), EncodingCache()
    for _ in range(encodes):
        stores.encode(cache)
    stores.add("a", "item 4", (1, 0))  # "a" sorts first: every index of "b" moves
    cache.changed("item 4")
    assert stores.expected() == stores.encode(cache)
    assert stores.expected() == stores.encode(cache)


def test_clear_forgets_every_item_and_restarts_the_count(calls: dict[str, int]) -> None:
    stores, cache = Stores(items=3), EncodingCache()
    for _ in range(RAWS_AFTER_ENCODES + 1):
        stores.encode(cache)
    for item in list(stores.items):
        stores.add("b", item, (0, 1))  # a join that rebuilt the stores
    cache.clear()
    calls.update(encode_state=0, encode_item=0)
    assert stores.expected() == stores.encode(cache)
    assert {"encode_state": 1, "encode_item": 0} == calls  # a whole-list encode again


def test_a_copy_is_independent() -> None:
    stores, cache = Stores(), EncodingCache()
    for _ in range(RAWS_AFTER_ENCODES + 1):
        stores.encode(cache)
    before = decoded(stores.encode(cache))
    twin = cache.copy()
    stores.add("b", "item 0", (2, 0))  # the original is told, the twin is not
    cache.changed("item 0")
    assert before.items == decoded(stores.encode(twin)).items
    assert stores.expected() == stores.encode(cache)


def test_a_canonical_state_lends_its_items_and_a_scrambled_one_does_not() -> None:
    stores = Stores(items=2)
    stores.add("a", "item 0", (1, 0))
    state = EncodingCache().state(LIST_ID, stores.ctx, stores.names, stores.items)
    _, _, _, cache = decode_stores(state, "")
    lent = cache.state(LIST_ID, stores.ctx, stores.names, stores.items).items
    assert all(mine is theirs for mine, theirs in zip(lent, state.items, strict=True))

    scrambled = msgspec.structs.replace(
        state,
        items=[ItemState(name=i.name, dots=i.dots[::-1]) for i in state.items],
    )
    ctx, names, items, cache = decode_stores(scrambled, "")
    again = cache.state(LIST_ID, ctx, names, items)
    assert state == again
    assert again.items[0] is not scrambled.items[0]  # two dots, reversed: rebuilt
    assert again.items[1] is scrambled.items[1]  # one dot is always in order


def test_a_state_with_an_unsorted_replica_table_lends_nothing() -> None:
    state = ListState(
        list_id=LIST_ID,
        replicas=["b", "a"],
        vv=[1, 1],
        cloud=[],
        names=[],
        items=[
            ItemState(name="milk", dots=((0, 1, 1, 0),)),
            ItemState(name="tea", dots=((1, 1, 1, 0),)),
        ],
    )
    ctx, names, items, cache = decode_stores(state, "")
    again = cache.state(LIST_ID, ctx, names, items)
    assert ["a", "b"] == again.replicas
    assert [((1, 1, 1, 0),), ((0, 1, 1, 0),)] == [i.dots for i in again.items]


def test_once_it_holds_item_bytes_it_keeps_no_item_states() -> None:
    """Item bytes replace the ``ItemState`` objects (lent or built): a server's
    cached list holds one form of each item, and still encodes right."""
    stores = Stores(items=4)
    state = EncodingCache().state(LIST_ID, stores.ctx, stores.names, stores.items)
    ctx, names, items, cache = decode_stores(state, "")
    assert 4 == len(cache._item_states)  # lent
    for _ in range(RAWS_AFTER_ENCODES + 1):
        cache.encode(LIST_ID, ctx, names, items)
    assert {} == cache._item_states
    ctx.add(("b", 6))
    items["item 1"][("b", 6)] = (2, 0)
    cache.changed("item 1")
    assert encode_state(EncodingCache().state(LIST_ID, ctx, names, items)) == cache.encode(
        LIST_ID, ctx, names, items
    )
    cache.state(LIST_ID, ctx, names, items)
    assert {} == cache._item_states


def test_before_it_holds_item_bytes_it_marks_no_item_stale() -> None:
    """While the cache holds no item bytes there is nothing to mark stale: a
    change leaves no name behind (a list written often without an encode
    would otherwise hold a set of all its item names)."""
    stores, cache = Stores(items=3), EncodingCache()
    for item in stores.items:
        cache.changed(item)
    assert set() == cache._dirty
    for _ in range(RAWS_AFTER_ENCODES + 1):
        stores.encode(cache)
    cache.changed("item 2")
    assert {"item 2"} == cache._dirty


def test_items_spliced_into_the_joined_bytes_encode_as_a_fresh_cache_does() -> None:
    """Items replaced, added before, between and after the others, and
    dropped (first, last, all), several between two encodes: the joined
    bytes stay those of a fresh cache."""
    stores, cache = Stores(items=4), EncodingCache()
    for _ in range(RAWS_AFTER_ENCODES + 1):
        stores.encode(cache)
    steps: list[tuple[list[str], list[str]]] = [
        (["item 2"], []),  # (items given a dot, items dropped)
        (["a first", "item 1b", "z last"], []),
        (["item 0"], ["a first", "z last"]),
        (["item 3", "m"], ["item 0", "item 1"]),
        ([], ["item 1b", "item 2", "item 3", "m"]),
        (["only"], []),
    ]
    for grown, dropped in steps:
        for item in grown:
            stores.add("b", item, (1, 0))
            cache.changed(item)
        for item in dropped:
            stores.items.pop(item)
            cache.changed(item)
        assert stores.expected() == stores.encode(cache)
