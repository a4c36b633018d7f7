"""The list store: merges commit before they are acknowledged, survive
reopening and dedupe; the cache reads, evicts and joins waiting deltas as
the database holds them; a handed-over list is dropped only if unchanged."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.server import ListStore
from actors.server import store as store_module
from actors.server.schema import position_bytes
from crdt import ShoppingList
from tests.actors.server.stores import LIST_A, LIST_B, LIST_C, changed, reopened, row_count


def test_merge_many_commits_and_survives_reopening(db_path: Path) -> None:
    shopping = ShoppingList(LIST_A, "alice", "groceries")
    shopping.add("milk", 2)
    store = ListStore(db_path)
    assert {LIST_A} == changed(store, [(LIST_A, shopping)])
    store.close()
    store = ListStore(db_path)
    try:
        assert shopping.encode() == store.get(LIST_A)
        assert shopping == store.get_list(LIST_A)
        assert 1 == store.count()
        assert [LIST_A] == list(store.list_ids())
    finally:
        store.close()


def test_an_unknown_list_is_none(db_path: Path) -> None:
    store = ListStore(db_path)
    try:
        assert store.get(LIST_A) is None
        assert store.get_list(LIST_A) is None
        assert 0 == store.count()
    finally:
        store.close()


def test_a_duplicate_delta_reports_no_change(db_path: Path) -> None:
    shopping = ShoppingList(LIST_A, "alice")
    delta = shopping.add("milk")
    store = ListStore(db_path)
    try:
        assert {LIST_A} == changed(store, [(LIST_A, delta)])
        assert set() == changed(store, [(LIST_A, delta)])
        assert shopping == store.get_list(LIST_A)
    finally:
        store.close()


def test_an_older_copy_reports_no_change_and_loses_nothing(db_path: Path) -> None:
    shopping = ShoppingList(LIST_A, "alice")
    shopping.add("milk")
    older = shopping.copy()
    shopping.add("eggs", 6)
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, shopping)])
        assert set() == changed(store, [(LIST_A, older)])
        assert shopping.encode() == store.get(LIST_A)
    finally:
        store.close()
    assert shopping == reopened(db_path)


def test_several_deltas_to_one_list_in_one_batch(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice")
    bob = ShoppingList(LIST_A, "bob")
    deltas = [alice.add("milk"), bob.add("bread", 2), alice.add("eggs", 6), alice.remove("milk")]
    expected = alice.copy()
    expected.merge(bob)
    store = ListStore(db_path)
    try:
        assert {LIST_A} == changed(store, [(LIST_A, d) for d in deltas])
        assert expected == store.get_list(LIST_A)
    finally:
        store.close()
    assert expected == reopened(db_path)
    assert ["bread", "eggs"] == expected.items()


def test_one_batch_for_several_lists_reports_only_those_that_changed(db_path: Path) -> None:
    a = ShoppingList(LIST_A, "alice")
    b = ShoppingList(LIST_B, "alice")
    old = a.add("milk")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, old)])
        assert {LIST_B} == changed(store, [(LIST_A, old), (LIST_B, b.add("tea"))])
        assert 2 == store.count()
    finally:
        store.close()


def test_a_change_merges_into_the_stored_copy(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice")
    alice.add("milk")
    bob = alice.copy(replica_id="bob")
    bob.add("bread")
    alice.add("eggs")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice)])
        assert {LIST_A} == changed(store, [(LIST_A, bob)])
        assert ["bread", "eggs", "milk"] == store.get_list(LIST_A).items()  # type: ignore[union-attr]
    finally:
        store.close()


def test_list_ids_come_in_ring_order(db_path: Path) -> None:
    store = ListStore(db_path)
    try:
        for list_id in (LIST_A, LIST_B, LIST_C):
            store.merge_many([(list_id, ShoppingList(list_id, "alice", "x"))])
        assert sorted([LIST_A, LIST_B, LIST_C], key=position_bytes) == list(store.list_ids())
    finally:
        store.close()


def test_an_evicted_list_still_reads_and_merges_correctly(db_path: Path) -> None:
    lists = {list_id: ShoppingList(list_id, "alice") for list_id in (LIST_A, LIST_B, LIST_C)}
    store = ListStore(db_path, cache_lists=2)
    try:
        for list_id, shopping in lists.items():
            store.merge_many([(list_id, shopping.add(f"item of {list_id[:4]}"))])
        # LIST_A was evicted by the third; write to it and read every list back.
        assert {LIST_A} == changed(store, [(LIST_A, lists[LIST_A].add("more"))])
        for _ in range(2):
            for list_id, shopping in lists.items():
                assert shopping == store.get_list(list_id)
                assert shopping.encode() == store.get(list_id)
    finally:
        store.close()
    assert lists[LIST_A] == reopened(db_path)


def test_reads_of_cold_lists_return_the_stored_bytes_and_evict_nothing(db_path: Path) -> None:
    lists = {list_id: ShoppingList(list_id, "alice") for list_id in (LIST_A, LIST_B, LIST_C)}
    store = ListStore(db_path, cache_lists=2)
    try:
        for list_id, shopping in lists.items():
            store.merge_many([(list_id, shopping.add("milk"))])
        assert {LIST_B, LIST_C} == store.cached()
        assert lists[LIST_A].encode() == store.get(LIST_A)
        assert {LIST_B, LIST_C} == store.cached()
        # A write does not load it either: it is kept as a cold row.
        store.merge_many([(LIST_A, lists[LIST_A].add("eggs"))])
        assert {LIST_B, LIST_C} == store.cached()
        assert lists[LIST_A].encode() == store.get(LIST_A)
    finally:
        store.close()


def test_a_batch_that_raises_leaves_the_cache_as_the_database_is(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        eggs = alice.add("eggs")
        with pytest.raises(ValueError, match="offered as"):
            store.merge_many([(LIST_A, eggs), (LIST_A, ShoppingList(LIST_B, "bob", "x"))])
        # Nothing was written, so the same delta must still count as a change.
        assert {LIST_A} == changed(store, [(LIST_A, eggs)])
    finally:
        store.close()


def test_the_digest_of_a_stored_list_is_that_of_its_state(db_path: Path) -> None:
    shopping = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        assert {LIST_A} == store.merge_many([(LIST_A, shopping)])
        assert shopping.digest() == store.digest(LIST_A)
        assert [(LIST_A, shopping.digest())] == list(store.digests())
        assert store.digest(LIST_B) is None
    finally:
        store.close()


def test_a_write_is_committed_before_it_is_acknowledged(
    db_path: Path, cached: tuple[ListStore, ShoppingList]
) -> None:
    store, alice = cached
    seen_at_ack: list[int] = []
    delta = alice.add("milk", 2)
    store.merge_many(
        [(LIST_A, delta, delta.encode())],
        committed=lambda: seen_at_ack.append(row_count(db_path, "deltas")),
    )
    # Another connection saw the delta row when the write was acknowledged.
    assert [1] == seen_at_ack
    assert alice == store.get_list(LIST_A)


def test_a_write_the_store_holds_already_is_acknowledged_too(
    cached: tuple[ListStore, ShoppingList],
) -> None:
    store, alice = cached
    acks: list[str] = []
    delta = alice.add("milk", 2)
    for _ in range(2):  # a retry of a write that was stored
        store.merge_many([(LIST_A, delta, delta.encode())], committed=lambda: acks.append("ack"))
    assert ["ack", "ack"] == acks


def test_a_failed_acknowledgement_still_leaves_the_cache_joined(
    db_path: Path, cached: tuple[ListStore, ShoppingList]
) -> None:
    store, alice = cached

    def fail() -> None:
        raise RuntimeError("the socket is gone")

    delta = alice.add("milk", 2)
    with pytest.raises(RuntimeError, match="socket is gone"):
        store.merge_many([(LIST_A, delta, delta.encode())], committed=fail)
    assert alice == store.get_list(LIST_A)
    assert set() == changed(store, [(LIST_A, delta)])  # stored already
    store.close()
    assert alice == reopened(db_path)


def test_the_join_of_an_acknowledged_delta_waits_for_join_pending(
    cached: tuple[ListStore, ShoppingList],
) -> None:
    store, alice = cached
    before = alice.copy()
    delta = alice.add("milk", 2)
    store.merge_many([(LIST_A, delta, delta.encode())])
    # Off the write's path: the cached copy is joined when the server is idle.
    assert before == store._cache[LIST_A].state
    store.join_pending()
    assert alice == store._cache[LIST_A].state


@pytest.mark.parametrize(
    "read",
    [
        lambda store, alice: (store.get(LIST_A), alice.encode()),
        lambda store, alice: (store.get_list(LIST_A), alice),
        lambda store, alice: (store.digest(LIST_A), alice.digest()),
        lambda store, alice: (list(store.digests()), [(LIST_A, alice.digest())]),
        lambda store, alice: (store.get_with_hints(LIST_A), alice.encode()),
    ],
    ids=["get", "get_list", "digest", "digests", "get_with_hints"],
)
def test_every_read_sees_the_deltas_whose_join_waits(
    cached: tuple[ListStore, ShoppingList],
    read: Callable[[ListStore, ShoppingList], tuple[object, object]],
) -> None:
    store, alice = cached
    store.get(LIST_A)  # encoded once: a stale encoding must not be served either
    for item in ("milk", "eggs"):
        delta = alice.add(item)
        store.merge_many([(LIST_A, delta, delta.encode())])
    actual, expected = read(store, alice)
    assert expected == actual


def test_a_delta_that_arrives_again_before_its_join_is_stored_twice_harmlessly(
    db_path: Path, cached: tuple[ListStore, ShoppingList]
) -> None:
    store, alice = cached
    delta = alice.add("milk", 2)
    for _ in range(2):
        store.merge_many([(LIST_A, delta, delta.encode())])
    assert 2 == row_count(db_path, "deltas")
    assert alice == store.get_list(LIST_A)
    store.close()
    assert alice == reopened(db_path)


def test_joins_beyond_max_unjoined_are_done_at_once(
    monkeypatch: pytest.MonkeyPatch, cached: tuple[ListStore, ShoppingList]
) -> None:
    monkeypatch.setattr(store_module, "MAX_UNJOINED", 2)
    store, alice = cached
    for item in ("milk", "eggs", "tea"):
        delta = alice.add(item)
        store.merge_many([(LIST_A, delta, delta.encode())])
    assert alice == store._cache[LIST_A].state


def test_a_list_is_dropped_only_if_it_did_not_change_since(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        handed_over = store.get(LIST_A)
        assert handed_over is not None
        store.merge_many([(LIST_A, alice.add("eggs"))])
        assert not store.drop_list(LIST_A, handed_over)
        assert alice == store.get_list(LIST_A)
        assert store.drop_list(LIST_A, alice.encode())
        assert store.get(LIST_A) is None
        assert 0 == store.count()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("seed", "cache_lists", "crash"), [(0, 3, False), (1, 3, True), (2, 1000, True)]
)
def test_any_mix_of_writes_evictions_and_reads_matches_merging_everything(
    tmp_path: Path, seed: int, cache_lists: int, crash: bool
) -> None:
    """A model check: the store always reads as the join of every write it took.

    With ``crash``, the database is closed as a kill would leave it, with
    delta rows not yet joined into their lists' rows.
    """
    rng = random.Random(seed)
    lids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(12)]
    model = {lid: ShoppingList(lid, "model") for lid in lids}
    writers = {lid: [ShoppingList(lid, f"w{k}") for k in range(3)] for lid in lids}
    store = ListStore(tmp_path / "lists.db", cache_lists=cache_lists)
    try:
        for _ in range(250):
            batch = []
            for _ in range(rng.randint(1, 60)):
                lid = rng.choice(lids)
                writer = rng.choice(writers[lid])
                if rng.random() < 0.1:
                    writer.add(f"i{rng.randrange(4)}")
                    delta = writer.copy()  # a whole state, as a client push
                elif rng.random() < 0.05 and writer.lookup("i1"):
                    delta = writer.remove("i1")
                else:
                    delta = writer.add(f"i{rng.randrange(4)}", rng.randint(1, 3))
                batch.append((lid, ShoppingList.decode(delta.encode())))
                model[lid].merge(delta)
            store.merge_many(batch)
            if rng.random() < 0.3:
                lid = rng.choice(lids)
                assert model[lid] == store.get_list(lid)
        assert [model[lid] for lid in lids] == [store.get_list(lid) for lid in lids]
    finally:
        if crash:
            store._db.close()
        else:
            store.close()
    reopened_store = ListStore(tmp_path / "lists.db", cache_lists=cache_lists)
    try:
        assert [model[lid] for lid in lids] == [reopened_store.get_list(lid) for lid in lids]
    finally:
        reopened_store.close()
