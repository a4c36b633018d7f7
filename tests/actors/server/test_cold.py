"""Cold writes (actors.server.cold): a write to a list out of the cache is
kept as a cold row, without decoding the list, and every read, digest,
reload, handoff and crash sees the list with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actors.server import ListStore
from actors.server.cache import ListCache
from actors.server.gate import WriteGate
from crdt import ShoppingList
from crdt.access import AccessList
from tests.actors.server.stores import LIST_A, LIST_B, row_count, stored_row
from tests.actors.server.test_gate import ALICE, A, store_msg


def _cold_store(path: Path, alice: ShoppingList) -> ListStore:
    """A store holding alice's list, out of the cache (which holds one list, LIST_B)."""
    store = ListStore(path, cache_lists=1)
    store.merge_many([(LIST_A, alice.copy())])
    store.merge_many([(LIST_B, ShoppingList(LIST_B, "bob", "y"))])
    assert {LIST_B} == store.cached()
    return store


def _cold_rows(path: Path, list_id: str) -> int:
    with sqlite3.connect(path) as db:
        (n,) = db.execute("SELECT count(*) FROM cold WHERE list_id = ?", (list_id,)).fetchone()
    db.close()
    return int(n)


def _alice(items: int = 3) -> ShoppingList:
    alice = ShoppingList(LIST_A, A, "groceries")
    for i in range(items):
        alice.add(f"item {i}")
    return alice


def test_the_gate_admits_an_add_to_a_list_out_of_the_cache_without_loading_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client's own add to a list out of the cache passes the gate on the
    row's context and size, and is stored as a cold row: the list is never
    decoded whole, and reads it back with the add."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:

        def no_load(self: ListCache, list_id: str) -> None:
            raise AssertionError(f"{list_id} was loaded")

        delta = alice.add("milk")
        msg = store_msg(delta, writer=ALICE)
        with monkeypatch.context() as patched:
            patched.setattr(ListCache, "lookup", no_load)
            gate = WriteGate(store, "s1")
            gate.begin()
            state = ShoppingList.decode(msg.state)
            assert gate.admit(msg, state) is None
            assert {LIST_A} == store.merge_many([(LIST_A, state, msg.state)])
        assert (1, 0) == (row_count(db_path, "cold"), row_count(db_path, "deltas"))
        assert {LIST_B} == store.cached()
        assert alice.encode() == store.get(LIST_A)
    finally:
        store.close()


def test_a_list_with_a_cold_row_has_the_digest_of_the_list_with_it(db_path: Path) -> None:
    """digest() and digests() of a list with a cold row are those of the
    joined state, as anti-entropy compares them with other copies."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        assert 1 == row_count(db_path, "cold")
        assert alice.digest() == store.digest(LIST_A)
        assert alice.digest() == dict(store.digests())[LIST_A]
    finally:
        store.close()


def test_a_cold_row_survives_a_crash_and_a_clean_close(db_path: Path) -> None:
    """A cold row is committed with the write: after a crash (no flush) and
    after a clean close the list reads back with it."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    store.merge_many([(LIST_A, alice.add("milk"))])
    store._db.close()  # a crash
    store = ListStore(db_path)
    try:
        assert alice == store.get_list(LIST_A)
    finally:
        store.close()
    store = ListStore(db_path)
    try:
        assert alice == store.get_list(LIST_A)
        assert alice.digest() == store.digest(LIST_A)
    finally:
        store.close()


def test_a_repeated_write_to_a_list_out_of_the_cache_changes_nothing(db_path: Path) -> None:
    """A delta the row already holds is no change, and leaves no cold row."""
    alice = _alice()
    delta = alice.add("milk")
    store = _cold_store(db_path, alice)
    try:
        assert set() == store.merge_many([(LIST_A, delta)])
        assert 0 == row_count(db_path, "cold")
    finally:
        store.close()


def test_two_writes_of_a_list_out_of_the_cache_in_one_batch_write_it_whole(
    db_path: Path,
) -> None:
    """A second write of the list in the batch loads it: it is written
    whole with both writes, no cold row."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:
        first, second = alice.add("milk"), alice.add("eggs")
        assert {LIST_A} == store.merge_many([(LIST_A, first), (LIST_A, second)])
        assert (0, alice.encode()) == (row_count(db_path, "cold"), stored_row(db_path))
    finally:
        store.close()


def test_a_write_with_an_access_list_loads_the_list(db_path: Path) -> None:
    """A write that changes who has access is joined into the loaded list
    (its digest covers the access list): no cold row."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:
        delta = alice.add("milk")
        delta.access = AccessList().claim(ALICE)
        alice.access = delta.access.copy()
        store.merge_many([(LIST_A, delta)])
        assert 0 == row_count(db_path, "cold")
        assert alice.digest() == store.digest(LIST_A)
    finally:
        store.close()


def test_a_list_with_a_cold_row_is_handed_off_whole(db_path: Path) -> None:
    """drop_list with the bytes get() gave (the list with its cold row)
    forgets the list: its row and its cold row."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        assert store.drop_list(LIST_A, store.get(LIST_A) or b"")
        assert (0, None) == (row_count(db_path, "cold"), store.get(LIST_A))
    finally:
        store.close()


def test_a_list_loaded_with_its_cold_row_and_evicted_keeps_every_write(db_path: Path) -> None:
    """A read loads the list with its cold row; a write to it then is a
    delta row; its eviction rewrites the row whole and drops the cold row."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        assert alice == store.get_list(LIST_A)
        store.merge_many([(LIST_A, alice.add("eggs"))])
        assert 1 == row_count(db_path, "deltas")
        store.merge_many([(LIST_B, ShoppingList(LIST_B, "bob", "y").add("tea"))])
        store.get_list(LIST_B)  # LIST_A is the coldest: evicted, flushed
        assert (0, 0) == (_cold_rows(db_path, LIST_A), row_count(db_path, "deltas"))
        assert alice.encode() == stored_row(db_path)
        assert alice.digest() == store.digest(LIST_A)
    finally:
        store.close()


def test_a_bad_cold_row_is_quarantined_with_its_list(db_path: Path) -> None:
    """A cold row that does not decode sets the whole list aside when it is loaded."""
    alice = _alice()
    store = _cold_store(db_path, alice)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        store._db.execute("UPDATE cold SET state = ?", (b"\xc1garbage",))
        assert store.get_list(LIST_A) is None
        assert (0, 2) == (row_count(db_path, "cold"), row_count(db_path, "quarantine"))
    finally:
        store.close()


def test_a_list_loaded_with_its_cold_row_is_sized_by_a_bound_not_an_encoding(
    db_path: Path,
) -> None:
    """knowledge() of a list loaded with its cold row gives an upper bound
    on its encoded size (what the gate's size checks need) and the joined state."""
    alice = _alice(items=10)
    store = _cold_store(db_path, alice)
    try:
        store.merge_many([(LIST_A, alice.add("milk"))])
        knowledge = store.knowledge(LIST_A)
        assert knowledge.size is not None
        assert True is (knowledge.size >= len(alice.encode()))
        assert alice == knowledge.state
    finally:
        store.close()
