"""What a bad disk does to a server's store, and what the store does about it.

Three kinds of damage, none of which may crash the server or make it loop:

- **A full disk** (SQLite's ``SQLITE_FULL``, also what ``max_page_count``
  raises): the write that hit it is rolled back, and the store raises
  :class:`StoreFull`, so that the server refuses the writes instead of
  acknowledging them. :class:`DiskWatch` logs ``server.disk_full`` when
  the condition starts and ``server.disk_ok`` when a write commits again.
- **A corrupt file** (a zeroed header, a truncated file): the store moves
  it aside (:func:`quarantine_file`), never deleting it, and starts empty;
  anti-entropy fills it again from its replicas.
- **A corrupt row** (a list row or delta row that does not decode): the
  list's rows move to the ``quarantine`` table (:func:`quarantine_list`),
  so the list is absent here until a write, read repair or anti-entropy
  brings it back.

Everything here runs on the thread that owns the store's connection: the
server's bridge thread, which hosts the ServerActor.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final, Literal

import logs
from actors.kernel import (
    Durability,
    check_file,
    check_read_only,
    is_corrupt,
    is_disk_full,
    set_aside,
)
from actors.server.schema import connect, transaction
from crdt import ShoppingList
from protocol import ProtocolError

__all__ = [
    "BadRow",
    "DiskWatch",
    "RebuildWatch",
    "StoreFull",
    "check_file",
    "decode_hint",
    "decode_row",
    "is_corrupt",
    "is_disk_full",
    "open_checked",
    "quarantine_file",
    "quarantine_list",
]

log = logs.get_logger("server")


_MOVE: Final = (
    "INSERT INTO quarantine (at, list_id, source, seq, state, reason) "
    "SELECT ?, list_id, ?, ?, state, ? FROM {table} WHERE {key} = ?"
)


class StoreFull(Exception):
    """A write could not commit for want of space; nothing of it was written."""


class BadRow(Exception):
    """A stored row of ``list_id`` that does not decode.

    ``seq`` is the delta row's, or ``None`` for the list's row.
    """

    def __init__(self, list_id: str, seq: int | None, reason: str) -> None:
        super().__init__(list_id, seq, reason)
        self.list_id = list_id
        self.seq = seq
        self.reason = reason


class DiskWatch:
    """Whether the store's last write failed for want of space; logs only the changes."""

    __slots__ = ("full", "since")

    def __init__(self) -> None:
        self.full = False
        #: when (``time.time()``) the disk was found full, or ``None``
        self.since: float | None = None

    def failed(self, exc: BaseException, path: Path) -> StoreFull:
        """Note a write that hit a full disk; the :class:`StoreFull` to raise for it."""
        if not self.full:
            self.full, self.since = True, time.time()
            log.error("server.disk_full", db=str(path), code=getattr(exc, "sqlite_errorname", ""))
        return StoreFull(f"{path}: database or disk is full")

    def check(self, exc: BaseException, path: Path) -> None:
        """Raise :class:`StoreFull` (from ``exc``) if ``exc`` is a full disk; else return."""
        if is_disk_full(exc):
            raise self.failed(exc, path) from exc

    def tolerate(self, exc: sqlite3.Error, path: Path) -> None:
        """Note a full disk, for a write that may wait (a flush, a drop); raise ``exc`` else."""
        if not is_disk_full(exc):
            raise exc
        self.failed(exc, path)

    def ok(self, path: Path) -> None:
        """Note a committed write: the space is back (the caller tests :attr:`full` first)."""
        full_s = time.time() - self.since if self.since is not None else 0.0
        self.full, self.since = False, None
        log.info("server.disk_ok", db=str(path), full_s=round(full_s, 3))


def decode_row(list_id: str, seq: int | None, blob: bytes) -> ShoppingList:
    """A stored row of ``list_id`` decoded (delta row ``seq``, or its list row if ``None``).

    The database is ours, but a bad disk or an older version could still
    hand us garbage; decoding validates it like any untrusted bytes.

    Raises:
        BadRow: it does not decode, or holds another list.
    """
    try:
        state = ShoppingList.decode(blob)
    except ProtocolError as exc:
        raise BadRow(list_id, seq, f"undecodable: {exc}") from exc
    if state.list_id != list_id:
        raise BadRow(list_id, seq, f"holds list {state.list_id}")
    return state


def open_checked(
    path: Path, durability: Durability, ready: Callable[[sqlite3.Connection], None]
) -> Path | None:
    """Open the store's file and hand it to ``ready``, which reads it (its first use).

    If the file proves corrupt (:func:`check_file`, or :func:`is_corrupt`
    of what opening or ``ready`` raised), it is moved aside
    (:func:`quarantine_file`) and the same is done again with an empty
    file. Other errors are raised. Returns where the corrupt file went, or
    ``None``.
    """
    try:
        _open(path, durability, ready)
    except sqlite3.DatabaseError as exc:
        if not is_corrupt(exc):
            raise
        moved = quarantine_file(path, exc)
        _open(path, durability, ready)
        return moved
    return None


def _open(path: Path, durability: Durability, ready: Callable[[sqlite3.Connection], None]) -> None:
    if path.exists():
        check_read_only(path)
    db = connect(path, durability)
    try:
        ready(db)
    except BaseException:
        db.close()  # (a connection left open would hold the file the caller moves)
        raise


def quarantine_file(path: Path, reason: BaseException) -> Path:
    """Move a damaged database file and its WAL files aside (:func:`set_aside`),
    logged; the new name of the file. The caller has closed its connection."""
    moved = set_aside(path)
    log.error("server.store_quarantined", db=str(path), moved_to=str(moved), reason=repr(reason))
    return moved


def decode_hint(
    db: sqlite3.Connection, owner: str, list_id: str, blob: bytes
) -> ShoppingList | None:
    """A held hint decoded; ``None`` if it does not decode, after moving its
    row to quarantine (logged once): a write for ``owner`` that this server
    can no longer offer, which the owner's other replicas still hold."""
    try:
        return decode_row(list_id, None, blob)
    except BadRow as bad:
        with transaction(db):
            db.execute(
                "INSERT INTO quarantine (at, list_id, source, seq, state, reason) "
                "VALUES (?, ?, 'hints', NULL, ?, ?)",
                (time.time(), list_id, blob, f"hint for {owner}: {bad.reason}"),
            )
            db.execute("DELETE FROM hints WHERE owner = ? AND list_id = ?", (owner, list_id))
        log.error("server.row_quarantined", list_id=list_id, table="hints", owner=owner)
        return None


def quarantine_list(db: sqlite3.Connection, bad: BadRow, seqs: list[int]) -> None:
    """Move every row of ``bad.list_id`` (its list row, its cold row, its
    delta rows ``seqs``) to quarantine.

    The whole list goes, not just the bad row: the list is then absent
    here, which read repair and anti-entropy mend from its replicas, rather
    than present without some of its writes. One transaction; the caller
    forgets the list in memory once this returned.
    """
    now = time.time()
    list_id = bad.list_id

    def reason(seq: int | None) -> str:
        return bad.reason if seq == bad.seq else "quarantined with a bad row of its list"

    with transaction(db):
        sql = _MOVE.format(table="lists", key="list_id")
        db.execute(sql, (now, "lists", None, reason(None), list_id))
        sql = _MOVE.format(table="deltas", key="seq")
        db.executemany(sql, [(now, "deltas", n, reason(n), n) for n in seqs])
        sql = _MOVE.format(table="cold", key="list_id")
        db.execute(sql, (now, "cold", None, reason(None), list_id))
        db.execute("DELETE FROM lists WHERE list_id = ?", (list_id,))
        db.execute("DELETE FROM cold WHERE list_id = ?", (list_id,))
        db.executemany("DELETE FROM deltas WHERE seq = ?", [(n,) for n in seqs])
    log.error(
        "server.row_quarantined",
        list_id=list_id,
        table="lists" if bad.seq is None else "deltas",
        seq=bad.seq,
        rows=1 + len(seqs),
        reason=bad.reason,
    )


#: A replica group: its servers' ids, sorted.
Group = tuple[str, ...]


class RebuildWatch:
    """When a store that started again empty is full again, judged by anti-entropy's questions.

    Anti-entropy asks each replica group for its bucket digests round after
    round, and for keys only where the replicas differ. A group has
    *settled* when it is asked for digests twice with no question for keys
    in between: its replicas agreed. The rebuild is over once every group
    this server is in (:meth:`ring`) has settled. Owned by the server actor,
    on its bridge thread.
    """

    __slots__ = ("_last", "_settled", "groups")

    def __init__(self) -> None:
        #: the replica groups this server is in, as of the last ring
        self.groups: set[Group] = set()
        self._last: dict[Group, Literal["digest", "keys"]] = {}
        self._settled: set[Group] = set()

    def ring(self, groups: Iterable[Group]) -> None:
        self.groups = set(groups)

    def asked(self, group: Group, kind: Literal["digest", "keys"]) -> bool:
        """Note anti-entropy's question about ``group``; whether every group has settled."""
        if kind == "keys":
            self._settled.discard(group)
        elif self._last.get(group) == "digest":
            self._settled.add(group)
        self._last[group] = kind
        return bool(self.groups) and self.groups <= self._settled
