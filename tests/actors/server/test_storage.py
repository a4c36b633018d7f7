"""The server's SQLite store: merges commit, survive reopening, and dedupe."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from actors.server import ListStore, storage
from actors.server.storage import MAX_DELTAS, position_bytes
from crdt import ShoppingList

LIST_A = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
LIST_B = "9b2c7a10-1d3e-4f56-8a9b-0c1d2e3f4a5b"
LIST_C = "c0ffee00-1234-4abc-9def-0123456789ab"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "lists.db"


def changed(
    store: ListStore,
    updates: Iterable[tuple[str, ShoppingList]],
    hints: Iterable[tuple[str, str, ShoppingList]] = (),
) -> set[str]:
    """The ids of the lists whose stored state ``merge_many`` changed."""
    return set(store.merge_many(updates, hints))


def reopened(path: Path) -> ShoppingList | None:
    store = ListStore(path)
    try:
        return store.get_list(LIST_A)
    finally:
        store.close()


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


def test_rows_carry_the_ring_position_and_the_digest_of_the_state(db_path: Path) -> None:
    shopping = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, shopping)])
    store.close()
    with sqlite3.connect(db_path) as db:
        position, state, digest = db.execute(
            "SELECT position, state, digest FROM lists WHERE list_id = ?", (LIST_A,)
        ).fetchone()
    db.close()
    assert position_bytes(LIST_A) == position
    assert shopping.encode() == state
    assert shopping.digest() == digest


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
        # A write does load the list (it merges into it), evicting the coldest.
        store.merge_many([(LIST_A, lists[LIST_A].add("eggs"))])
        assert {LIST_A, LIST_C} == store.cached()
    finally:
        store.close()


@pytest.mark.parametrize(("durability", "synchronous"), [("normal", 1), ("full", 2)])
def test_both_durability_modes_work(db_path: Path, durability: str, synchronous: int) -> None:
    shopping = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path, durability=durability)
    try:
        assert synchronous == store._db.execute("PRAGMA synchronous").fetchone()[0]
        assert {LIST_A} == changed(store, [(LIST_A, shopping)])
    finally:
        store.close()
    assert shopping == reopened(db_path)


@pytest.mark.parametrize("durability", ["off", "FULL", "", "extra"])
def test_an_unknown_durability_is_a_value_error(db_path: Path, durability: str) -> None:
    with pytest.raises(ValueError, match="durability must be 'normal' or 'full'"):
        ListStore(db_path, durability=durability)


def test_the_database_is_in_wal_mode_with_a_hints_table(db_path: Path) -> None:
    ListStore(db_path).close()
    with sqlite3.connect(db_path) as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        columns = [row[1] for row in db.execute("PRAGMA table_info(hints)")]
    db.close()
    assert "wal" == mode
    assert ["owner", "list_id", "state"] == columns


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


# ------------------------------------------------------------------- deltas


def _rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    db.close()
    return int(count)


def _stored_row(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        (state,) = db.execute("SELECT state FROM lists WHERE list_id = ?", (LIST_A,)).fetchone()
    db.close()
    return bytes(state)


def test_a_store_with_digests_of_whole_states_gets_digests_of_contexts_when_opened(
    db_path: Path,
) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy())])
    store.close()
    with sqlite3.connect(db_path) as db:  # as an older version left it
        db.execute("UPDATE lists SET digest = ?", (hashlib.md5(alice.encode()).digest(),))
        db.execute("PRAGMA user_version = 0")
    db.close()
    store = ListStore(db_path)
    try:
        assert [(LIST_A, alice.digest())] == list(store.digests())
    finally:
        store.close()
    with sqlite3.connect(db_path) as db:
        assert (1,) == db.execute("PRAGMA user_version").fetchone()
    db.close()


def test_a_write_to_a_cached_list_goes_into_a_delta_row_until_settled(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        first = alice.encode()
        assert {LIST_A} == store.merge_many([(LIST_A, alice.copy())])
        delta = alice.add("milk", 2)
        assert {LIST_A} == store.merge_many([(LIST_A, delta, delta.encode())])
        assert (1, first) == (_rows(db_path, "deltas"), _stored_row(db_path))
        assert {LIST_A} == store.dirty()
        # The digest is of the list with the delta, though its row is not.
        assert alice.digest() == store.digest(LIST_A)
        assert [(LIST_A, alice.digest())] == list(store.digests())
        assert alice.encode() == store.get(LIST_A)
        store.settle()
        assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))
        assert set() == store.dirty()
        store.settle()  # nothing to do
        assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))
    finally:
        store.close()


@pytest.fixture
def cached(db_path: Path) -> Iterator[tuple[ListStore, ShoppingList]]:
    """A store holding alice's list (cached), and alice's replica of it."""
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        yield store, alice
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
        committed=lambda: seen_at_ack.append(_rows(db_path, "deltas")),
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
    assert 2 == _rows(db_path, "deltas")
    assert alice == store.get_list(LIST_A)
    store.close()
    assert alice == reopened(db_path)


def test_joins_beyond_max_unjoined_are_done_at_once(
    monkeypatch: pytest.MonkeyPatch, cached: tuple[ListStore, ShoppingList]
) -> None:
    monkeypatch.setattr(storage, "MAX_UNJOINED", 2)
    store, alice = cached
    for item in ("milk", "eggs", "tea"):
        delta = alice.add(item)
        store.merge_many([(LIST_A, delta, delta.encode())])
    assert alice == store._cache[LIST_A].state


def test_deltas_left_by_a_crash_are_joined_when_the_store_opens(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy())])
    for item in ("milk", "eggs", "tea"):
        store.merge_many([(LIST_A, alice.add(item))])
    store._db.close()  # a kill: close() would have flushed the deltas first
    assert 3 == _rows(db_path, "deltas")
    store = ListStore(db_path)
    try:
        assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))
        assert alice == store.get_list(LIST_A)
        assert [(LIST_A, alice.digest())] == list(store.digests())
    finally:
        store.close()


def test_interleaved_deltas_of_two_lists_are_each_joined_to_their_own_list(
    db_path: Path,
) -> None:
    alice, bob = ShoppingList(LIST_A, "alice", "x"), ShoppingList(LIST_B, "bob", "y")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy()), (LIST_B, bob.copy())])
    store.merge_many([(LIST_A, alice.add("milk")), (LIST_B, bob.add("eggs"))])
    store.merge_many([(LIST_B, bob.add("tea"))])
    store.merge_many([(LIST_A, alice.add("jam"))])
    store._db.close()  # a kill
    assert 4 == _rows(db_path, "deltas")
    store = ListStore(db_path)
    try:
        assert (alice, bob) == (store.get_list(LIST_A), store.get_list(LIST_B))
        assert 0 == _rows(db_path, "deltas")
        store.merge_many([(LIST_A, alice.add("rye"))])  # seqs go on after the recovery
        assert {LIST_A} == store.dirty()
    finally:
        store.close()
    assert alice == reopened(db_path)


def test_a_store_with_the_older_deltas_index_drops_it_and_keeps_its_deltas(
    db_path: Path,
) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy())])
    store.merge_many([(LIST_A, alice.add("milk"))])
    store._db.execute("CREATE INDEX deltas_by_list ON deltas(list_id)")  # as older stores had
    store._db.close()
    store = ListStore(db_path)
    try:
        assert alice == store.get_list(LIST_A)
        indexes = store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deltas'"
        ).fetchall()
        assert [] == indexes
    finally:
        store.close()


def test_close_flushes_the_deltas(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy())])
    store.merge_many([(LIST_A, alice.add("milk"))])
    store.close()
    assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))


def test_a_list_is_rewritten_when_it_holds_max_deltas(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        for k in range(MAX_DELTAS - 1):
            delta = alice.add(f"item {k}")
            assert {LIST_A} == store.merge_many([(LIST_A, delta)])
        assert MAX_DELTAS - 1 == _rows(db_path, "deltas")
        last = alice.add("last")
        assert {LIST_A} == store.merge_many([(LIST_A, last)])
        assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))
    finally:
        store.close()


def test_a_list_with_deltas_is_rewritten_when_it_leaves_the_cache(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    bob = ShoppingList(LIST_B, "bob", "y")
    store = ListStore(db_path, cache_lists=1)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        store.merge_many([(LIST_A, alice.add("milk"))])
        assert 1 == _rows(db_path, "deltas")
        # LIST_B evicts LIST_A: its row is brought up to date in the same commit.
        assert {LIST_B} == store.merge_many([(LIST_B, bob.copy())])
        assert alice.digest() == store.digest(LIST_A)  # from the row now
        assert {LIST_B} == store.cached()
        assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))
        assert alice.encode() == store.get(LIST_A)
    finally:
        store.close()


def test_a_write_that_loads_a_cold_list_rewrites_its_row(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path, cache_lists=1)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        store.merge_many([(LIST_B, ShoppingList(LIST_B, "bob", "y"))])
        assert {LIST_B} == store.cached()
        delta = alice.add("milk")
        assert {LIST_A} == store.merge_many([(LIST_A, delta)])
        assert (0, alice.encode()) == (_rows(db_path, "deltas"), _stored_row(db_path))
    finally:
        store.close()


def test_a_failed_commit_keeps_the_deltas_already_committed(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        store.merge_many([(LIST_A, alice.add("milk"))])
        committed = alice.copy()
        store._db.execute(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON deltas "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        eggs = alice.add("eggs")
        with pytest.raises(sqlite3.IntegrityError, match="disk says no"):
            store.merge_many([(LIST_A, eggs)])
        # The cache holds what the database holds: the row joined with its delta.
        assert committed == store.get_list(LIST_A)
        assert {LIST_A} == store.dirty()
        store._db.execute("DROP TRIGGER refuse")
        assert {LIST_A} == store.merge_many([(LIST_A, eggs)])
        assert alice == store.get_list(LIST_A)
    finally:
        store.close()
    assert alice == reopened(db_path)


# -------------------------------------------------------------------- hints


def test_a_hinted_write_is_held_apart_from_the_servers_own_lists(db_path: Path) -> None:
    delta = ShoppingList(LIST_A, "alice").add("milk")
    store = ListStore(db_path)
    try:
        assert set() == changed(store, [], hints=[("s2", LIST_A, delta)])
        assert store.get(LIST_A) is None
        assert 0 == store.count()
        assert delta.encode() == store.get_with_hints(LIST_A)
    finally:
        store.close()
    store = ListStore(db_path)
    try:
        assert 1 == store.hint_count()
        assert [("s2", LIST_A, delta.encode())] == store.hints(10)
        assert delta.encode() == store.get_with_hints(LIST_A)  # known to be hinted after a restart
    finally:
        store.close()


def test_a_read_after_the_last_hint_was_handed_over_returns_the_own_copy(
    db_path: Path,
) -> None:
    alice = ShoppingList(LIST_A, "alice")
    own, hinted = alice.add("milk"), alice.add("eggs")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, own)], hints=[("s2", LIST_A, hinted)])
        assert alice.encode() == store.get_with_hints(LIST_A)
        store.drop_hint("s2", LIST_A, hinted.encode())
        for _ in range(2):  # the first finds no hint left, the second asks no more
            assert own.encode() == store.get_with_hints(LIST_A)
        store.merge_many([], hints=[("s3", LIST_A, hinted)])  # hinted again
        assert alice.encode() == store.get_with_hints(LIST_A)
    finally:
        store.close()


def test_hinted_writes_for_one_owner_merge_and_join_the_own_copy_on_read(
    db_path: Path,
) -> None:
    alice = ShoppingList(LIST_A, "alice")
    own = alice.add("milk")
    first, second = alice.add("eggs"), alice.add("tea")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, own)], hints=[("s2", LIST_A, first)])
        store.merge_many([], hints=[("s2", LIST_A, second), ("s3", LIST_A, first)])
        assert 2 == store.hint_count()
        held = {(o, i): s for o, i, s in store.hints(10)}
        assert ["eggs", "tea"] == ShoppingList.decode(held[("s2", LIST_A)]).items()
        assert own.encode() == store.get(LIST_A)
        joined = store.get_with_hints(LIST_A)
        assert joined is not None
        assert alice == ShoppingList.decode(joined)
    finally:
        store.close()


def test_a_hint_is_dropped_only_if_nothing_was_merged_into_it_since(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice")
    store = ListStore(db_path)
    try:
        store.merge_many([], hints=[("s2", LIST_A, alice.add("milk"))])
        [(_, _, handed_over)] = store.hints(10)
        store.merge_many([], hints=[("s2", LIST_A, alice.add("eggs"))])
        store.drop_hint("s2", LIST_A, handed_over)
        assert 1 == store.hint_count()
        [(_, _, current)] = store.hints(10)
        store.drop_hint("s2", LIST_A, current)
        assert 0 == store.hint_count()
    finally:
        store.close()


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
