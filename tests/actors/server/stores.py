"""What the store tests share: list ids, a database path, a cached list, and reads of the file.

The fixtures are made visible to the tests by ``conftest.py``; the reads
open the database with a connection of their own, as another process would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from actors.server import ListStore
from crdt import ShoppingList

__all__ = [
    "LIST_A",
    "LIST_B",
    "LIST_C",
    "cached",
    "changed",
    "db_path",
    "reopened",
    "row_count",
    "stored_row",
]

LIST_A = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
LIST_B = "9b2c7a10-1d3e-4f56-8a9b-0c1d2e3f4a5b"
LIST_C = "c0ffee00-1234-4abc-9def-0123456789ab"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "lists.db"


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


def row_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    db.close()
    return int(count)


def stored_row(path: Path) -> bytes:
    """The state in the row of :data:`LIST_A` (its delta rows not joined)."""
    with sqlite3.connect(path) as db:
        (state,) = db.execute("SELECT state FROM lists WHERE list_id = ?", (LIST_A,)).fetchone()
    db.close()
    return bytes(state)
