"""The delta log: a write to a cached list is a delta row until its list is
flushed (settled, closed, at MAX_DELTAS deltas, or evicted), a failed commit
keeps what was committed, and deltas a crash left are joined when the store opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actors.server import ListStore
from actors.server.store import MAX_DELTAS
from crdt import ShoppingList
from tests.actors.server.stores import LIST_A, LIST_B, reopened, row_count, stored_row


def test_a_write_to_a_cached_list_goes_into_a_delta_row_until_settled(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        first = alice.encode()
        assert {LIST_A} == store.merge_many([(LIST_A, alice.copy())])
        delta = alice.add("milk", 2)
        assert {LIST_A} == store.merge_many([(LIST_A, delta, delta.encode())])
        assert (1, first) == (row_count(db_path, "deltas"), stored_row(db_path))
        assert {LIST_A} == store.dirty()
        # The digest is of the list with the delta, though its row is not.
        assert alice.digest() == store.digest(LIST_A)
        assert [(LIST_A, alice.digest())] == list(store.digests())
        assert alice.encode() == store.get(LIST_A)
        store.settle()
        assert (0, alice.encode()) == (row_count(db_path, "deltas"), stored_row(db_path))
        assert set() == store.dirty()
        store.settle()  # nothing to do
        assert (0, alice.encode()) == (row_count(db_path, "deltas"), stored_row(db_path))
    finally:
        store.close()


def test_close_flushes_the_deltas(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy())])
    store.merge_many([(LIST_A, alice.add("milk"))])
    store.close()
    assert (0, alice.encode()) == (row_count(db_path, "deltas"), stored_row(db_path))


def test_a_list_is_rewritten_when_it_holds_max_deltas(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        for k in range(MAX_DELTAS - 1):
            delta = alice.add(f"item {k}")
            assert {LIST_A} == store.merge_many([(LIST_A, delta)])
        assert MAX_DELTAS - 1 == row_count(db_path, "deltas")
        last = alice.add("last")
        assert {LIST_A} == store.merge_many([(LIST_A, last)])
        assert (0, alice.encode()) == (row_count(db_path, "deltas"), stored_row(db_path))
    finally:
        store.close()


def test_a_list_with_deltas_is_rewritten_when_it_leaves_the_cache(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    bob = ShoppingList(LIST_B, "bob", "y")
    store = ListStore(db_path, cache_lists=1)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        store.merge_many([(LIST_A, alice.add("milk"))])
        assert 1 == row_count(db_path, "deltas")
        # LIST_B evicts LIST_A: its row is brought up to date in the same commit.
        assert {LIST_B} == store.merge_many([(LIST_B, bob.copy())])
        assert alice.digest() == store.digest(LIST_A)  # from the row now
        assert {LIST_B} == store.cached()
        assert (0, alice.encode()) == (row_count(db_path, "deltas"), stored_row(db_path))
        assert alice.encode() == store.get(LIST_A)
    finally:
        store.close()


def test_a_write_to_a_list_out_of_the_cache_is_a_cold_row_until_the_next(db_path: Path) -> None:
    """A list's first write while out of the cache is a cold row (the list is
    neither loaded nor rewritten); its next write loads it, with the cold
    row joined, and rewrites its row whole, dropping the cold row."""
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path, cache_lists=1)
    try:
        store.merge_many([(LIST_A, alice.copy())])
        row = stored_row(db_path)
        store.merge_many([(LIST_B, ShoppingList(LIST_B, "bob", "y"))])
        assert {LIST_B} == store.cached()
        assert {LIST_A} == store.merge_many([(LIST_A, alice.add("milk"))])
        assert {LIST_B} == store.cached()
        assert (0, 1, row) == (
            row_count(db_path, "deltas"),
            row_count(db_path, "cold"),
            stored_row(db_path),
        )
        assert alice.encode() == store.get(LIST_A)
        assert {LIST_A} == store.merge_many([(LIST_A, alice.add("eggs"))])
        assert (0, alice.encode()) == (row_count(db_path, "cold"), stored_row(db_path))
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


def test_deltas_left_by_a_crash_are_joined_when_the_store_opens(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice", "x")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy())])
    for item in ("milk", "eggs", "tea"):
        store.merge_many([(LIST_A, alice.add(item))])
    store._db.close()  # a kill: close() would have flushed the deltas first
    assert 3 == row_count(db_path, "deltas")
    store = ListStore(db_path)
    try:
        assert (0, alice.encode()) == (row_count(db_path, "deltas"), stored_row(db_path))
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
    assert 4 == row_count(db_path, "deltas")
    store = ListStore(db_path)
    try:
        assert (alice, bob) == (store.get_list(LIST_A), store.get_list(LIST_B))
        assert 0 == row_count(db_path, "deltas")
        store.merge_many([(LIST_A, alice.add("rye"))])  # seqs go on after the recovery
        assert {LIST_A} == store.dirty()
    finally:
        store.close()
    assert alice == reopened(db_path)
