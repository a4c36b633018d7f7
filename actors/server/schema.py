"""The SQLite file of a server's store: its tables, pragmas and migration.

:func:`connect` opens (or creates) the file in WAL mode and brings an older
store up to date; what a crash left in it is joined by the store as it
opens (:class:`~actors.server.deltas.DeltaLog`). Everything here runs on
the thread that owns the store's connection: the server's bridge thread,
which hosts the ServerActor (a SQLite connection must not be shared across
threads).

Durability modes (the topology's ``durability``):

``normal``
    ``synchronous=NORMAL``: a committed write survives the crash or kill -9
    of the process (it is in the WAL, in the OS page cache), but may be lost
    if the machine loses power before the next checkpoint.
``full``
    ``synchronous=FULL``: the WAL is fsynced at every commit, so a commit
    also survives a power cut. Group commit keeps the cost per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from actors.kernel import Durability
from crdt import ShoppingList
from ring import key_position

__all__ = ["connect", "position_bytes", "transaction"]

_SCHEMA: Final = """
-- A rowid table (older stores made it WITHOUT ROWID; _migrate converts
-- them): a row is ~1 KB, so a B-tree ordered by the random ids held three
-- a page, each new list split a page somewhere in it and each lookup read
-- a deep tree (a miss 48 us, an insert 160 us at 200,000 lists). Here new
-- rows are appended and the ids sit in a slim index (12 us, 80 us).
CREATE TABLE IF NOT EXISTS lists (
    list_id  TEXT PRIMARY KEY,
    position BLOB NOT NULL,   -- md5 of the id: where it sits on the ring
    state    BLOB NOT NULL,   -- canonical encoding of the CRDT state
    digest   BLOB NOT NULL    -- ShoppingList.digest() of state, for anti-entropy
);
CREATE INDEX IF NOT EXISTS lists_by_position ON lists(position);
CREATE TABLE IF NOT EXISTS deltas (
    seq      INTEGER PRIMARY KEY,  -- given by the store: appends go to the end
    list_id  TEXT NOT NULL,        -- a list with a row in lists
    state    BLOB NOT NULL         -- a delta (or state) joined in since that row
);
-- A delta to a list out of the cache, kept without decoding the list
-- (actors.server.cold): at most one per list, joined on the list's next
-- load, deleted when its row is rewritten whole.
CREATE TABLE IF NOT EXISTS cold (
    list_id  TEXT PRIMARY KEY,  -- a list with a row in lists
    state    BLOB NOT NULL,     -- the delta, as it came
    digest   BLOB NOT NULL      -- the digest of the list with it (replaces the row's)
) WITHOUT ROWID;
-- No index on deltas(list_id): the store keeps each list's seqs in memory,
-- and an index made every append write a second page (~5 of ~11 µs).
DROP INDEX IF EXISTS deltas_by_list;
CREATE TABLE IF NOT EXISTS hints (
    owner    TEXT NOT NULL,   -- the replica this write was meant for
    list_id  TEXT NOT NULL,
    state    BLOB NOT NULL,   -- merged writes held for the owner
    PRIMARY KEY (owner, list_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hints_by_list ON hints(list_id);
-- Rows that did not decode, kept for a person to inspect (actors.server.damage);
-- IF NOT EXISTS: this is also the migration of a store made before it.
CREATE TABLE IF NOT EXISTS quarantine (
    id       INTEGER PRIMARY KEY,
    at       REAL NOT NULL,   -- when it was moved here (unix time)
    list_id  TEXT NOT NULL,
    source   TEXT NOT NULL,   -- the table it came from: 'lists', 'cold' or 'deltas'
    seq      INTEGER,         -- its seq, for a delta row
    state    BLOB NOT NULL,   -- the bytes as they were stored
    reason   TEXT NOT NULL    -- why it was moved
);
"""

#: ``PRAGMA user_version`` of a store whose digests are of causal contexts
#: (older stores held md5 of the state; opening one recomputes them).
_DIGESTS_OF_CONTEXTS: Final = 1


#: What a WAL is truncated to when it starts over (``journal_size_limit``).
_WAL_LIMIT_BYTES: Final = 64 * 1024 * 1024


#: How much of the file reads map (``mmap_size``): a 1,000,000-list
#: cluster's server holds ~800 MB.
_MMAP_BYTES: Final = 2 * 1024 * 1024 * 1024


def position_bytes(list_id: str) -> bytes:
    """The ring position of a list as 16 big-endian bytes (sorts like the integer)."""
    return key_position(list_id).to_bytes(16, "big")


def connect(path: Path, durability: Durability) -> sqlite3.Connection:
    """The store's database at ``path`` (its folder is created), ready for use.

    Raises:
        ValueError: ``durability`` is neither ``"normal"`` nor ``"full"``
            (it comes from a topology file, so it is checked at run time too).
    """
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: the store issues BEGIN/COMMIT itself, one per batch.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={durability.upper()}")
    db.execute("PRAGMA busy_timeout=5000")
    # A WAL that starts over is cut back to this (a burst leaves no huge file).
    db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
    # Reads of rows out of the cache come from the OS's page cache without
    # a read() and a copy each (600,000 lists, random deltas: 338 -> 250 us
    # of CPU per write). SQLite still writes with write(); the map only reads.
    db.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
    db.executescript(_SCHEMA)
    _migrate(db)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the block or the commit raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")  # in the try: a COMMIT that fails (disk full) leaves it open
    except BaseException:
        # After some errors (SQLITE_FULL among them) SQLite has rolled back
        # already, and a second ROLLBACK would raise over the first error.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


#: The table a store made before lists had rowids, rebuilt by :func:`_migrate`.
_ROWID_LISTS: Final = (
    "CREATE TABLE lists_rowid (list_id TEXT PRIMARY KEY, position BLOB NOT NULL, "
    "state BLOB NOT NULL, digest BLOB NOT NULL)",
    "INSERT INTO lists_rowid (list_id, position, state, digest) "
    "SELECT list_id, position, state, digest FROM lists",
    "DROP TABLE lists",  # and its index
    "ALTER TABLE lists_rowid RENAME TO lists",
    "CREATE INDEX lists_by_position ON lists(position)",
)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older store up to date: its lists table to rowids, its
    digests to the current kind; each in one transaction."""
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'lists'").fetchone()
    if "WITHOUT ROWID" in sql.upper():
        with transaction(db):
            for statement in _ROWID_LISTS:
                db.execute(statement)
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version >= _DIGESTS_OF_CONTEXTS:
        return
    with transaction(db):
        rows = db.execute("SELECT list_id, state FROM lists").fetchall()
        db.executemany(
            "UPDATE lists SET digest = ? WHERE list_id = ?",
            [(ShoppingList.decode(state).digest(), i) for i, state in rows],
        )
        db.execute(f"PRAGMA user_version = {_DIGESTS_OF_CONTEXTS}")
