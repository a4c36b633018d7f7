"""The store's SQLite file: WAL mode and its tables, the durability modes, the
columns of a list's row, and the migration of the files older versions left."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from actors.kernel import Durability
from actors.server import ListStore
from actors.server.schema import position_bytes
from crdt import ShoppingList
from tests.actors.server.stores import LIST_A, LIST_B, changed, reopened


def test_the_database_is_in_wal_mode_with_a_hints_table(db_path: Path) -> None:
    ListStore(db_path).close()
    with sqlite3.connect(db_path) as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        columns = [row[1] for row in db.execute("PRAGMA table_info(hints)")]
    db.close()
    assert "wal" == mode
    assert ["owner", "list_id", "state"] == columns


@pytest.mark.parametrize(("durability", "synchronous"), [("normal", 1), ("full", 2)])
def test_both_durability_modes_work(
    db_path: Path, durability: Durability, synchronous: int
) -> None:
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
        ListStore(db_path, durability=durability)  # type: ignore[arg-type]  # from a bad file


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


_OLD_LISTS = (
    "CREATE TABLE old_lists (list_id TEXT PRIMARY KEY, position BLOB NOT NULL, "
    "state BLOB NOT NULL, digest BLOB NOT NULL) WITHOUT ROWID",
    "INSERT INTO old_lists SELECT list_id, position, state, digest FROM lists",
    "DROP TABLE lists",
    "ALTER TABLE old_lists RENAME TO lists",
    "CREATE INDEX lists_by_position ON lists(position)",
)


def test_a_store_with_lists_without_rowid_gets_a_rowid_table_and_keeps_its_lists(
    db_path: Path,
) -> None:
    """A file whose lists table is WITHOUT ROWID (as older stores made it) is
    rebuilt as a rowid table when opened: every row, its delta rows and the
    ring-position index are kept, and writes go on as before."""
    alice = ShoppingList(LIST_A, "alice", "x")
    bob = ShoppingList(LIST_B, "bob", "y")
    store = ListStore(db_path)
    store.merge_many([(LIST_A, alice.copy()), (LIST_B, bob.copy())])
    store.merge_many([(LIST_A, alice.add("milk"))])  # a delta row, left for the open to join
    store._db.close()  # no flush at close: as a crash leaves it
    with sqlite3.connect(db_path, isolation_level=None) as db:  # as an older version made it
        for statement in _OLD_LISTS:
            db.execute(statement)
    db.close()
    store = ListStore(db_path)
    try:
        (sql,) = store._db.execute("SELECT sql FROM sqlite_master WHERE name = 'lists'").fetchone()
        indexes = {
            name
            for (name,) in store._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lists'"
            )
        }
        assert "WITHOUT ROWID" not in sql.upper()
        assert "lists_by_position" in indexes
        assert alice == store.get_list(LIST_A)
        assert bob == store.get_list(LIST_B)
        assert sorted([LIST_A, LIST_B], key=position_bytes) == list(store.list_ids())
        store.merge_many([(LIST_B, bob.add("eggs"))])
    finally:
        store.close()
    assert alice == reopened(db_path)


def test_reads_map_the_file(db_path: Path) -> None:
    """The store's connection maps the file for reads (``mmap_size``; SQLite
    caps it at its build's limit, 0x7fff0000 by default)."""
    store = ListStore(db_path)
    try:
        (size,) = store._db.execute("PRAGMA mmap_size").fetchone()
        assert True is (1024**3 < size <= 2 * 1024**3)
    finally:
        store.close()
