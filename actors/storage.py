"""A server's durable store: one SQLite database in WAL mode.

Every write is a CRDT merge: the incoming state or delta is joined into the
stored copy inside a transaction, and the caller acknowledges only after
:meth:`ListStore.merge_many` returned, i.e. after the commit. A batch of
writes shares one transaction, hence one WAL sync (group commit).

Durability modes (the topology's ``durability``):

``normal``
    ``synchronous=NORMAL``: a committed write survives the crash or kill -9
    of the process (it is in the WAL, in the OS page cache), but may be lost
    if the machine loses power before the next checkpoint.
``full``
    ``synchronous=FULL``: the WAL is fsynced at every commit, so a commit
    also survives a power cut. Group commit keeps the cost per batch.

A bounded LRU cache keeps hot lists decoded, so a delta costs a merge and
an encode, not a read and a decode. The store belongs to one thread (the
server actor's); SQLite connections must not be shared across threads.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from crdt import ShoppingList
from ring import key_position

__all__ = ["ListStore", "position_bytes"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS lists (
    list_id  TEXT PRIMARY KEY,
    position BLOB NOT NULL,   -- md5 of the id: where it sits on the ring
    state    BLOB NOT NULL,   -- canonical encoding of the CRDT state
    digest   BLOB NOT NULL    -- md5 of state, for anti-entropy
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lists_by_position ON lists(position);
CREATE TABLE IF NOT EXISTS hints (
    owner    TEXT NOT NULL,   -- the replica this write was meant for
    list_id  TEXT NOT NULL,
    state    BLOB NOT NULL,   -- merged writes held for the owner
    PRIMARY KEY (owner, list_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hints_by_list ON hints(list_id);
"""


def position_bytes(list_id: str) -> bytes:
    """The ring position of a list as 16 big-endian bytes (sorts like the integer)."""
    return key_position(list_id).to_bytes(16, "big")


class ListStore:
    """The lists of one server; see the module docstring.

    Args:
        path: the database file (its folder is created).
        durability: ``"normal"`` or ``"full"``.
        cache_lists: how many decoded lists to keep in memory.
    """

    def __init__(self, path: Path, durability: str = "normal", cache_lists: int = 4096) -> None:
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per batch.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={durability.upper()}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._cache: OrderedDict[str, tuple[ShoppingList, bytes]] = OrderedDict()
        self._cache_lists = cache_lists

    def close(self) -> None:
        self._db.close()

    # ----------------------------------------------------------------- reads

    def get(self, list_id: str) -> bytes | None:
        """The stored state of a list, or ``None``.

        A list outside the cache is returned as stored, neither decoded nor
        cached: a read passes the bytes on (whoever decodes them validates
        them), and reads of cold lists must not evict the hot ones.
        """
        hit = self._hit(list_id)
        return hit[1] if hit is not None else self._select(list_id)

    def get_list(self, list_id: str) -> ShoppingList | None:
        hit = self._lookup(list_id)
        return hit[0] if hit is not None else None

    def cached(self) -> set[str]:
        """The ids of the lists held decoded in memory."""
        return set(self._cache)

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM lists").fetchone()
        return int(row[0])

    def list_ids(self) -> Iterator[str]:
        for (list_id,) in self._db.execute("SELECT list_id FROM lists ORDER BY position"):
            yield list_id

    def _hit(self, list_id: str) -> tuple[ShoppingList, bytes] | None:
        hit = self._cache.get(list_id)
        if hit is not None:
            self._cache.move_to_end(list_id)
        return hit

    def _select(self, list_id: str) -> bytes | None:
        row = self._db.execute("SELECT state FROM lists WHERE list_id = ?", (list_id,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def _lookup(self, list_id: str) -> tuple[ShoppingList, bytes] | None:
        """The decoded list (loaded into the cache if need be) and its bytes."""
        hit = self._hit(list_id)
        if hit is not None:
            return hit
        blob = self._select(list_id)
        if blob is None:
            return None
        # The database is ours, but a bad disk or an older version could still
        # hand us garbage; decoding validates it like any untrusted bytes.
        entry = (ShoppingList.decode(blob), blob)
        self._remember(list_id, entry)
        return entry

    def _remember(self, list_id: str, entry: tuple[ShoppingList, bytes]) -> None:
        self._cache[list_id] = entry
        self._cache.move_to_end(list_id)
        while len(self._cache) > self._cache_lists:
            self._cache.popitem(last=False)

    # ---------------------------------------------------------------- writes

    def merge_many(
        self,
        updates: Iterable[tuple[str, ShoppingList]],
        hints: Iterable[tuple[str, str, ShoppingList]] = (),
    ) -> dict[str, bytes]:
        """Join states into the store, and hinted writes into the hints, in one transaction.

        ``updates`` are (list id, state or delta) for lists this server
        keeps; ``hints`` are (owner, list id, state or delta) held for an
        owner that is down. Returns the new state digest of every list whose
        stored state changed. When this returns, the transaction is
        committed; if it raises, nothing was written and the cache is left
        as the database is.
        """
        updates, hints = list(updates), list(hints)
        for list_id, incoming in [*updates, *((i, st) for _, i, st in hints)]:
            if incoming.list_id != list_id:
                raise ValueError(f"a state of list {incoming.list_id} offered as {list_id}")
        changed: dict[str, ShoppingList] = {}
        try:
            self._join_lists(updates, changed)
            hinted = self._join_hints(hints)
            if not changed and not hinted:
                return {}
            return self._write(changed, hinted)
        except BaseException:
            # States were merged in place, cache included: evict what was
            # touched, so that it is reloaded as the database has it.
            for list_id in changed:
                self._cache.pop(list_id, None)
            raise

    def _join_lists(
        self, updates: list[tuple[str, ShoppingList]], changed: dict[str, ShoppingList]
    ) -> None:
        for list_id, incoming in updates:
            state = changed.get(list_id)
            if state is None:
                hit = self._lookup(list_id)
                state = hit[0] if hit is not None else None
            if state is None:
                changed[list_id] = incoming.copy()
            elif not incoming.compare(state):  # else: a retry, a duplicate or an older copy
                state.merge(incoming)
                changed[list_id] = state

    def _join_hints(
        self, hints: list[tuple[str, str, ShoppingList]]
    ) -> dict[tuple[str, str], ShoppingList]:
        hinted: dict[tuple[str, str], ShoppingList] = {}
        for owner, list_id, incoming in hints:
            key = (owner, list_id)
            held = hinted.get(key)
            if held is None:
                row = self._db.execute(
                    "SELECT state FROM hints WHERE owner = ? AND list_id = ?", key
                ).fetchone()
                held = ShoppingList.decode(row[0]) if row is not None else None
            if held is None:
                hinted[key] = incoming.copy()
            elif not incoming.compare(held):
                held.merge(incoming)
                hinted[key] = held
        return hinted

    def _write(
        self, changed: dict[str, ShoppingList], hinted: dict[tuple[str, str], ShoppingList]
    ) -> dict[str, bytes]:
        rows = []
        encoded: dict[str, tuple[ShoppingList, bytes]] = {}
        digests: dict[str, bytes] = {}
        for list_id, state in changed.items():
            blob = state.encode()
            encoded[list_id] = (state, blob)
            digest = hashlib.md5(blob, usedforsecurity=False).digest()
            digests[list_id] = digest
            rows.append((list_id, position_bytes(list_id), blob, digest))
        hint_rows = [(o, i, st.encode()) for (o, i), st in hinted.items()]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO lists (list_id, position, state, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(list_id) DO UPDATE SET state = excluded.state, "
                "digest = excluded.digest",
                rows,
            )
            self._db.executemany(
                "INSERT INTO hints (owner, list_id, state) VALUES (?, ?, ?) "
                "ON CONFLICT(owner, list_id) DO UPDATE SET state = excluded.state",
                hint_rows,
            )
        for list_id, entry in encoded.items():
            self._remember(list_id, entry)
        return digests

    # ----------------------------------------------------------------- hints

    def get_with_hints(self, list_id: str) -> bytes | None:
        """The stored state joined with any hinted writes held for the list."""
        own = self.get(list_id)
        rows = self._db.execute("SELECT state FROM hints WHERE list_id = ?", (list_id,)).fetchall()
        if not rows:
            return own
        merged = ShoppingList.decode(own) if own is not None else None
        for (blob,) in rows:
            hinted = ShoppingList.decode(blob)
            if merged is None:
                merged = hinted
            else:
                merged.merge(hinted)
        return merged.encode() if merged is not None else None

    def hints(self, limit: int) -> list[tuple[str, str, bytes]]:
        """Up to ``limit`` held writes: (owner, list id, state)."""
        rows = self._db.execute(
            "SELECT owner, list_id, state FROM hints ORDER BY owner, list_id LIMIT ?", (limit,)
        ).fetchall()
        return [(o, i, bytes(b)) for o, i, b in rows]

    def hint_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM hints").fetchone()[0])

    def drop_hint(self, owner: str, list_id: str, state: bytes) -> None:
        """Forget a handed-over hint, unless more writes were merged into it since."""
        with self._transaction():
            self._db.execute(
                "DELETE FROM hints WHERE owner = ? AND list_id = ? AND state = ?",
                (owner, list_id, state),
            )

    def drop_list(self, list_id: str, state: bytes) -> bool:
        """Forget a list handed over to its new owners, unless it changed since."""
        with self._transaction():
            cur = self._db.execute(
                "DELETE FROM lists WHERE list_id = ? AND state = ?", (list_id, state)
            )
        if cur.rowcount:
            self._cache.pop(list_id, None)
        return cur.rowcount > 0

    def digests(self) -> Iterator[tuple[str, bytes]]:
        """(list id, state digest) of every stored list."""
        for list_id, digest in self._db.execute("SELECT list_id, digest FROM lists"):
            yield list_id, bytes(digest)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
