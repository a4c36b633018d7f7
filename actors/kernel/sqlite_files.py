"""A process's own SQLite file, damaged: how to tell, and how to set it aside.

The server's store (:mod:`actors.server.damage`) and a client's store
(:mod:`actors.client.store`) both keep their data in a SQLite file on a disk
that may fail. A damaged file is never repaired in place nor deleted: it is
moved aside, with its WAL files, for a person to inspect, and the store
starts a new one. Pure file handling; runs on the thread that opens the store.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

__all__ = [
    "CorruptFile",
    "check_file",
    "check_read_only",
    "is_corrupt",
    "is_disk_full",
    "set_aside",
    "sqlite_code",
]

#: Primary result codes of a damaged file (the low byte of an extended code).
_CORRUPT_CODES: Final = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
#: The files SQLite keeps next to a WAL database.
_SIDE_FILES: Final = ("-wal", "-shm")


class CorruptFile(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found the file damaged."""


def sqlite_code(exc: BaseException) -> int:
    """The primary result code of a SQLite error (0 if it has none)."""
    # The primary code is the low byte of an extended one (SQLITE_IOERR_* etc.).
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database or disk is full" (by its code, not its text)."""
    return isinstance(exc, sqlite3.Error) and sqlite_code(exc) == sqlite3.SQLITE_FULL


def is_corrupt(exc: BaseException) -> bool:
    """Whether ``exc`` says the database file is damaged (not, say, unreadable or busy)."""
    return isinstance(exc, CorruptFile) or (
        isinstance(exc, sqlite3.DatabaseError) and sqlite_code(exc) in _CORRUPT_CODES
    )


def check_file(db: sqlite3.Connection) -> None:
    """Raise :class:`CorruptFile` unless ``PRAGMA quick_check`` finds the file sound.

    (A damaged page may also make the pragma itself raise ``DatabaseError``.)
    """
    rows = db.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        raise CorruptFile(f"quick_check: {rows[0][0] if rows else 'no answer'}")


def check_read_only(path: Path) -> None:
    """:func:`check_file` on a read-only connection of its own.

    Before the store's connection touches the file: that one writes its
    schema into it, and its close checkpoints the WAL into it, which would
    change a damaged file before it is moved aside for a person to inspect.
    """
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        check_file(db)
    finally:
        db.close()


def set_aside(path: Path) -> Path:
    """Move a damaged database file and its WAL files aside; the new name of the file.

    They become ``<name>.corrupt-<UTC timestamp>`` (plus ``-wal``, ``-shm``)
    in the same folder: nothing is deleted. No connection may be open on it.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    moved = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.replace(moved)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(moved.with_name(moved.name + suffix))
    return moved
