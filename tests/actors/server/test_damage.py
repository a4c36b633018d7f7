"""A store survives a full disk, a corrupt file and a corrupt row, on real SQLite files.

A full disk is SQLite's own SQLITE_FULL: ``PRAGMA max_page_count`` on the
store's connection (what SQLite raises there is what a full disk raises),
and a real full filesystem, a small tmpfs, where mounting one is allowed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.server import ListStore
from actors.server.damage import StoreFull, is_disk_full
from crdt import ShoppingList
from tests.actors.server.stores import LIST_A, LIST_B, row_count


def _big(list_id: str, items: int = 200) -> ShoppingList:
    shopping = ShoppingList(list_id, "alice", "big")
    for i in range(items):
        shopping.add(f"item-{i}-{uuid.uuid4()}", 1)
    return shopping


def _cap(store: ListStore) -> None:
    """No page beyond what the file holds now: the next page a write needs is SQLITE_FULL."""
    db = store._db
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")


def _fill(store: ListStore, shopping: ShoppingList) -> None:
    """Write deltas to a cached list until one does not fit."""
    for i in range(10_000):
        store.merge_many([(shopping.list_id, shopping.add(f"more-{i}-{uuid.uuid4()}" * 4))])


def _uncap(store: ListStore) -> None:
    store._db.execute("PRAGMA max_page_count = 1073741823")


def test_max_page_count_is_what_sqlite_raises_for_a_full_disk(db_path: Path) -> None:
    store = ListStore(db_path)
    try:
        _cap(store)
        with pytest.raises(sqlite3.OperationalError) as raised:
            store._db.execute("INSERT INTO hints VALUES ('s1', ?, ?)", (LIST_A, b"x" * 50_000))
        assert is_disk_full(raised.value)
    finally:
        _uncap(store)
        store.close()


def test_a_full_disk_refuses_the_write_keeps_reads_and_takes_writes_once_freed(
    db_path: Path,
) -> None:
    store = ListStore(db_path)
    try:
        kept = ShoppingList(LIST_A, "alice", "kept")
        kept.add("milk", 2)
        assert {LIST_A} == store.merge_many([(LIST_A, kept.copy())])
        _cap(store)
        acked: list[bool] = []
        big = _big(LIST_B)
        with pytest.raises(StoreFull):
            store.merge_many([(LIST_B, big)], committed=lambda: acked.append(True))
        assert not acked
        assert store.disk_full
        # Deltas to a cached list, one statement each, until one needs a page.
        with pytest.raises(StoreFull):
            _fill(store, kept)
        assert store.disk_full
        # Reads serve; the cache is what the disk holds (nothing half-applied).
        assert store.get(LIST_B) is None
        assert store.digest(LIST_B) is None
        on_disk = store.get_list(LIST_A)
        assert on_disk is not None
        _uncap(store)
        assert {LIST_B} == store.merge_many([(LIST_B, big.copy())])
        assert not store.disk_full
    finally:
        store.close()
    reopened = ListStore(db_path)
    try:
        assert big == reopened.get_list(LIST_B)
        assert on_disk == reopened.get_list(LIST_A)
    finally:
        reopened.close()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted after the test; skipped where mounting is not allowed."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr!r}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_really_full_filesystem_refuses_writes_until_space_is_freed(tmpfs: Path) -> None:
    store = ListStore(tmpfs / "s1" / "lists.db")
    filler = tmpfs / "filler"
    try:
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        big = _big(LIST_B, items=2000)
        with pytest.raises(StoreFull):
            store.merge_many([(LIST_B, big)])
        assert store.disk_full
        assert store.get(LIST_B) is None
        filler.unlink()
        assert {LIST_B} == store.merge_many([(LIST_B, big.copy())])
        assert not store.disk_full
        assert big.encode() == store.get(LIST_B)
    finally:
        store.close()


def _seed(path: Path) -> ShoppingList:
    store = ListStore(path)
    try:
        shopping = _big(LIST_A, items=300)
        store.merge_many([(LIST_A, shopping.copy())])
        return shopping
    finally:
        store.close()


def _corrupt_files(path: Path) -> list[Path]:
    """The files set aside (their -wal and -shm files, moved with them, left out)."""
    moved = path.parent.glob(f"{path.name}.corrupt-*")
    return sorted(p for p in moved if not p.name.endswith(("-wal", "-shm")))


@pytest.mark.parametrize("damage", ["zeroed header", "truncated"])
def test_a_corrupt_file_is_set_aside_and_the_store_starts_empty(db_path: Path, damage: str) -> None:
    _seed(db_path)
    data = db_path.read_bytes()
    bad = b"\0" * 100 + data[100:] if damage == "zeroed header" else data[: len(data) // 2]
    db_path.write_bytes(bad)
    store = ListStore(db_path)
    try:
        (moved,) = _corrupt_files(db_path)
        assert bad == moved.read_bytes()  # kept for a person, as it was
        assert store.quarantined == moved
        assert store.rebuilding_since is not None
        assert 0 == store.count()
        # It serves and takes writes: anti-entropy fills it again.
        refill = _big(LIST_A, items=3)
        assert {LIST_A} == store.merge_many([(LIST_A, refill.copy())])
        assert refill.encode() == store.get(LIST_A)
    finally:
        store.close()
    again = ListStore(db_path)  # now sound: not quarantined again
    try:
        assert again.rebuilding_since is None
        assert 1 == len(_corrupt_files(db_path))
    finally:
        again.close()


def _overwrite(path: Path, table: str) -> None:
    """24 bytes of one stored blob overwritten, as a bad disk would."""
    with sqlite3.connect(path) as db:
        (blob,) = db.execute(f"SELECT state FROM {table} LIMIT 1").fetchone()
        damaged = blob[:8] + b"\xc1" * 24 + blob[32:]
        db.execute(f"UPDATE {table} SET state = ? WHERE state = ?", (damaged, blob))
    db.close()


def test_a_corrupt_list_row_is_quarantined_and_a_write_then_succeeds(db_path: Path) -> None:
    _seed(db_path)
    _overwrite(db_path, "lists")
    store = ListStore(db_path)
    try:
        bob = ShoppingList(LIST_A, "bob")
        delta = bob.add("tea")
        assert {LIST_A} == store.merge_many([(LIST_A, delta)])
        assert delta == store.get_list(LIST_A)  # from the delta alone
        assert {LIST_A} == store.merge_many([(LIST_A, bob.add("jam"))])
    finally:
        store.close()
    assert 1 == row_count(db_path, "quarantine")


def test_a_corrupt_delta_row_left_by_a_crash_is_quarantined_at_open(db_path: Path) -> None:
    _seed(db_path)
    # A crash leaves delta rows: write one behind the store's back, then damage it.
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, ShoppingList(LIST_A, "bob").add("tea"))])
        store.get_list(LIST_A)
        store.merge_many([(LIST_A, ShoppingList(LIST_A, "carol").add("jam"))])
        assert 1 == row_count(db_path, "deltas")
        _overwrite(db_path, "deltas")
    finally:
        store._db.close()  # a crash: no flush
    store = ListStore(db_path)
    try:
        assert store.get(LIST_A) is None  # absent here: repaired from its replicas
        assert 0 == row_count(db_path, "deltas")
        # Its row goes with it, and its cold row (bob's write, made while it was out of the cache).
        assert 3 == row_count(db_path, "quarantine")
        assert 0 == row_count(db_path, "cold")
        delta = ShoppingList(LIST_A, "dave").add("rice")
        assert {LIST_A} == store.merge_many([(LIST_A, delta)])
    finally:
        store.close()


def test_a_corrupt_hint_row_is_quarantined_and_reads_and_handoff_go_on(db_path: Path) -> None:
    """A hint that no longer decodes is set aside: reads of its list serve what
    else is held, handoff stops offering it, and a new hint for it is taken."""
    store = ListStore(db_path)
    try:
        store.merge_many([], [("s9", LIST_A, ShoppingList(LIST_A, "bob").add("tea"))])
        store.merge_many([], [("s8", LIST_B, ShoppingList(LIST_B, "bob").add("jam"))])
    finally:
        store.close()
    with sqlite3.connect(db_path) as db:
        (blob,) = db.execute("SELECT state FROM hints WHERE list_id = ?", (LIST_A,)).fetchone()
        db.execute(
            "UPDATE hints SET state = ? WHERE list_id = ?",
            (blob[:8] + b"\xc1" * 24 + blob[32:], LIST_A),
        )
    db.close()
    store = ListStore(db_path)
    try:
        assert store.get_with_hints(LIST_A) is None
        assert [LIST_B] == [list_id for _, list_id, _ in store.hints(limit=10)]
        assert 1 == row_count(db_path, "quarantine")
        again = ShoppingList(LIST_A, "carol").add("rice")
        store.merge_many([], [("s9", LIST_A, again)])
        held = store.get_with_hints(LIST_A)
        assert held is not None
        assert again == ShoppingList.decode(held)
    finally:
        store.close()


def _fill_both(
    store: ListStore, a: ShoppingList, b: ShoppingList, before: list[ShoppingList | None]
) -> None:
    """Write a delta to both lists in one batch until one batch does not fit."""
    for i in range(10_000):
        before.append(store.get_list(b.list_id))
        name = f"more-{i}-{uuid.uuid4()}" * 4
        store.merge_many([(a.list_id, a.add(name)), (b.list_id, b.add(name))])


def test_a_failed_batch_restores_every_list_even_one_that_cannot_be_set_aside(
    db_path: Path,
) -> None:
    """A batch that hits a full disk leaves the cache as the database is for
    every list it touched, even when reloading one of them meets a bad row
    that the full disk does not let it quarantine (that one is dropped)."""
    store = ListStore(db_path)
    try:
        # A's row is large, so that moving it aside needs pages the disk lacks.
        alice, bob = _big(LIST_A, items=400), ShoppingList(LIST_B, "bob")
        store.merge_many([(LIST_A, alice.copy()), (LIST_B, bob.add("jam"))])
        store.get_list(LIST_A), store.get_list(LIST_B)  # cached: writes add delta rows
        store.merge_many([(LIST_A, alice.add("milk")), (LIST_B, bob.add("rice"))])
        assert 2 == row_count(db_path, "deltas")
        with sqlite3.connect(db_path) as db:  # A's delta row damaged behind the store's back
            db.execute("UPDATE deltas SET state = ? WHERE list_id = ?", (b"\xc1" * 24, LIST_A))
        db.close()
        _cap(store)
        before: list[ShoppingList | None] = []  # B as committed before each batch
        with pytest.raises(StoreFull):
            _fill_both(store, alice, bob, before)
        assert before[-1] == store.get_list(LIST_B)
        assert store.disk_full
    finally:
        _uncap(store)
        store.close()


def test_a_corrupt_file_and_its_wal_are_set_aside_untouched(tmp_path: Path, db_path: Path) -> None:
    """What a crash leaves (a file and a WAL of committed frames), with a page
    of the file damaged: both are moved aside byte for byte as they were; the
    WAL is not checkpointed into the damaged file first."""
    _seed(db_path)
    writer = sqlite3.connect(db_path)  # holds the WAL open: its frames stay un-checkpointed
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        with writer:  # a small write elsewhere: the list's own pages stay in the file
            writer.execute("INSERT INTO hints VALUES ('s9', ?, ?)", (LIST_B, b"hint"))
        crashed = tmp_path / "crashed" / "lists.db"
        crashed.parent.mkdir()
        for suffix in ("", "-wal"):  # the files as a crash leaves them
            crashed.with_name(crashed.name + suffix).write_bytes(
                db_path.with_name(db_path.name + suffix).read_bytes()
            )
    finally:
        writer.close()
    data = crashed.read_bytes()
    with sqlite3.connect(db_path) as db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'lists'").fetchone()
    db.close()
    at = (root - 1) * 4096  # the page that holds the list's row
    bad = data[:at] + b"\xa5" * 4096 + data[at + 4096 :]
    crashed.write_bytes(bad)
    wal = crashed.with_name(crashed.name + "-wal").read_bytes()
    assert wal  # frames a checkpoint would have written into the file
    store = ListStore(crashed)
    try:
        (moved,) = _corrupt_files(crashed)
        assert bad == moved.read_bytes()
        assert wal == moved.with_name(moved.name + "-wal").read_bytes()
        assert 0 == store.count()
    finally:
        store.close()
