"""The WAL checkpointer: the store's own connection never checkpoints, a
thread of the store's does, which keeps the WAL bounded; if that thread
dies the store gives checkpoints back to SQLite; closing stops it."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.server import ListStore
from actors.server.checkpoint import AUTOCHECKPOINT_PAGES, RESTART_FRAMES, Checkpointer
from crdt import ShoppingList


def _wait(condition: Callable[[], bool], what: str, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.01)


def _write_lists(store: ListStore, count: int) -> None:
    """``count`` commits of one new list each."""
    for k in range(count):
        state = ShoppingList(str(uuid.uuid4()), "alice", f"list {k}")
        for i in range(10):
            state.add(f"item {i}")
        store.merge_many([(state.list_id, state)])


def _checkpoints_after(checkpointer: Checkpointer, runs: int) -> None:
    """Wait for a checkpoint that began after the caller's writes and copied
    every frame (a busy machine may need more than one)."""
    _wait(
        lambda: checkpointer.runs >= runs + 2 and checkpointer.complete,
        "a complete checkpoint after the writes",
        deadline_s=30.0,
    )


def test_the_store_connection_leaves_checkpoints_to_the_thread(tmp_path: Path) -> None:
    """With a checkpointer the store's connection has autocheckpoint off, and the thread runs."""
    store = ListStore(tmp_path / "lists.db", checkpoint_interval_s=0.01)
    try:
        assert store.checkpointer is not None
        assert (0,) == store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert store.checkpointer.alive
        _checkpoints_after(store.checkpointer, 0)
    finally:
        store.close()


def test_the_wal_stays_bounded_as_writes_go_on(tmp_path: Path) -> None:
    """Rounds of writes with checkpoints between them reuse the WAL: it does
    not grow with the rounds, as it would without any checkpoint."""
    path = tmp_path / "lists.db"
    store = ListStore(path, checkpoint_interval_s=0.01)
    assert store.checkpointer is not None
    wal = path.with_name(path.name + "-wal")
    try:
        sizes = []
        for _ in range(4):
            _write_lists(store, 300)
            sizes.append(wal.stat().st_size)
            _checkpoints_after(store.checkpointer, store.checkpointer.runs)
        assert sizes[-1] < 2 * sizes[0]
    finally:
        store.close()


def test_without_a_checkpointer_sqlite_checkpoints(tmp_path: Path) -> None:
    """``checkpoint_interval_s=None``: SQLite's own checkpoints, on the writing thread."""
    store = ListStore(tmp_path / "lists.db", checkpoint_interval_s=None)
    try:
        assert store.checkpointer is None
        expected = (AUTOCHECKPOINT_PAGES,)
        assert expected == store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
    finally:
        store.close()


def test_a_dead_checkpointer_gives_checkpoints_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the thread dies, the store's next tick turns SQLite's checkpoints on again."""

    def die(self: Checkpointer) -> None:
        raise RuntimeError("the checkpointing thread died")

    monkeypatch.setattr(Checkpointer, "_run", die)
    monkeypatch.setattr("threading.excepthook", lambda args: None)
    store = ListStore(tmp_path / "lists.db", checkpoint_interval_s=0.01)
    try:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        _wait(lambda: not checkpointer.alive, "the thread to end")
        store.maintain()
        assert store.checkpointer is None
        expected = (AUTOCHECKPOINT_PAGES,)
        assert expected == store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
    finally:
        store.close()


def test_close_stops_the_thread_and_keeps_the_writes(tmp_path: Path) -> None:
    """After close the thread is gone, and what was written reads back."""
    path = tmp_path / "lists.db"
    store = ListStore(path, checkpoint_interval_s=0.01)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    state = ShoppingList(str(uuid.uuid4()), "alice", "groceries")
    state.add("milk", 2)
    store.merge_many([(state.list_id, state)])
    store.close()
    assert not checkpointer.alive
    again = ListStore(path)
    try:
        assert state.encode() == again.get(state.list_id)
    finally:
        again.close()


def test_a_long_wal_starts_over_after_the_store_catches_up(tmp_path: Path) -> None:
    """A writer that never pauses never lets the thread's passive checkpoints
    finish the WAL; once one found more than RESTART_FRAMES frames, the
    store's tick copies the rest, and its next write starts the WAL over."""
    path = tmp_path / "lists.db"
    # The thread never runs here: the test plays its part, on a connection of its own.
    store = ListStore(path, checkpoint_interval_s=3600.0)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    other = sqlite3.connect(path, isolation_level=None)
    try:
        _write_lists(store, 50)
        checkpointer.checkpoint(other)
        _write_lists(store, 5)  # committed after the thread's checkpoint
        checkpointer.wal_frames = RESTART_FRAMES  # as if that WAL were long
        store.maintain()
        assert 0 == checkpointer.wal_frames
        _write_lists(store, 1)
        _, frames, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames < 20  # one commit's pages: the WAL started over
    finally:
        other.close()
        store.close()


def test_a_short_wal_is_left_to_the_thread(tmp_path: Path) -> None:
    """Below RESTART_FRAMES the store's tick runs no checkpoint of its own."""
    store = ListStore(tmp_path / "lists.db", checkpoint_interval_s=3600.0)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    try:
        checkpointer.wal_frames = RESTART_FRAMES - 1
        assert False is checkpointer.catch_up(store._db)
    finally:
        store.close()
