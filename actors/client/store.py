"""A client's own copy of its lists: local-first, on its own disk.

One SQLite database per client id (default ``var/clients/<id>/client.db``).
Every edit is committed here first, in the same transaction as the delta it
adds to the *pending* table; pushing the pending deltas to the cluster is a
separate step that may happen much later, even after a restart. A pending
delta is cleared only if it is still the one that was pushed, so an edit
made while a push was in flight is not lost.

The replica id under which this client edits is derived from the store's
own CurveZMQ public key and a random device name drawn when the id is made
(:func:`crdt.replica_ids.replica_id_for`): the cluster lets a key mint dots
only under its own replica ids. A client that loses its store starts again
with a new key, and so never reuses a dot. A store whose replica id is not
its key's (made before ids came from keys) takes a new one when it opens:
its lists keep the old id's dots, and new edits use the new id.

A store file found damaged when it opens is moved aside (never deleted)
and a new one is started: :attr:`ClientStore.quarantined` says where it went.

Each thread opens its own ``ClientStore`` (SQLite connections are not shared
across threads); transactions serialise concurrent writers, including other
processes of the same client.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Final

import zmq
from zmq.utils import z85

import logs
from actors.kernel import check_read_only, is_corrupt, set_aside
from crdt import ShoppingList, key_tag, replica_id_for, writer_of
from protocol.types import UUID4_PATTERN

__all__ = ["ClientStore"]

log = logs.get_logger("client")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
    list_id TEXT PRIMARY KEY,
    state   BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    list_id TEXT PRIMARY KEY,
    delta   BLOB NOT NULL      -- every local edit not yet saved by the cluster, merged
) WITHOUT ROWID;
"""


_UUID4: Final = re.compile(UUID4_PATTERN)

#: The characters of a device name, and how many a store draws.
_DEVICE_ALPHABET: Final = string.digits + string.ascii_lowercase
_DEVICE_CHARS: Final = 8


class ClientStore:
    """See the module docstring. Not thread-safe: one per thread."""

    def __init__(self, directory: Path, client_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "client.db"
        self.client_id = client_id
        #: where a damaged store was moved when this one opened (``None``: it was sound)
        self.quarantined = self._set_aside_if_damaged()
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        # It holds the client's secret key: for its owner only.
        os.chmod(self.path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.replica_id = self._replica_id()

    def close(self) -> None:
        self._db.close()

    def _set_aside_if_damaged(self) -> Path | None:
        """A damaged store file is moved aside (kept, with its WAL, for its
        owner: its edits not yet pushed are in it), and a new one started;
        the lists come back from the cluster on the next pull or sync."""
        if not self.path.exists():
            return None
        try:
            check_read_only(self.path)
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
            moved = set_aside(self.path)
            log.warning("client.store_quarantined", moved_to=str(moved), reason=repr(exc))
            return moved
        return None

    def _replica_id(self) -> str:
        """The replica id of this store's key: the one saved, or a new one (with a
        fresh device name) if none is saved or the saved one is not the key's."""
        public_key = z85.decode(self.curve_keys()[0])
        with self._tx():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'replica_id'").fetchone()
            if row is not None and writer_of(str(row[0])) == key_tag(public_key):
                return str(row[0])
            device = "".join(secrets.choice(_DEVICE_ALPHABET) for _ in range(_DEVICE_CHARS))
            replica = replica_id_for(public_key, device)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('replica_id', ?)", (replica,))
            if row is not None:
                log.info("client.replica_id_renewed", old=str(row[0]), new=replica)
            return replica

    def curve_keys(self) -> tuple[bytes, bytes]:
        """This client's CurveZMQ key pair (public, secret; Z85), made on first use.

        The public key is who this client is to a secured cluster; the secret
        never leaves this file.
        """
        with self._tx():
            rows = dict(
                self._db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('curve_public', 'curve_secret')"
                ).fetchall()
            )
            if len(rows) == 2:
                return rows["curve_public"].encode(), rows["curve_secret"].encode()
            public, secret = zmq.curve_keypair()
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("curve_public", public.decode()), ("curve_secret", secret.decode())],
            )
            return public, secret

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    # ----------------------------------------------------------------- reads

    def load(self, list_id: str) -> ShoppingList | None:
        row = self._db.execute("SELECT state FROM lists WHERE list_id = ?", (list_id,)).fetchone()
        return None if row is None else ShoppingList.decode(row[0], self.replica_id)

    def all(self) -> list[ShoppingList]:
        rows = self._db.execute("SELECT state FROM lists ORDER BY list_id").fetchall()
        return [ShoppingList.decode(r[0], self.replica_id) for r in rows]

    def ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT list_id FROM lists ORDER BY list_id")]

    def resolve(self, ref: str) -> str | None:
        """The list ``ref`` names (see :meth:`matches`) if exactly one matches, else ``None``."""
        found = self.matches(ref)
        return found[0][0] if len(found) == 1 else None

    def matches(self, ref: str) -> list[tuple[str, str]]:
        """The lists (id, name) that ``ref`` may name, sorted by id: a full id
        (held here or not), or the lists held here whose id starts with ``ref``
        (4 characters or more) or whose name is ``ref`` (case and surrounding
        spaces aside)."""
        ref = ref.strip()
        key = ref.lower()
        if _UUID4.match(key):
            state = self.load(key)
            return [(key, state.name if state is not None else "")]
        folded = ref.casefold()
        return [
            (s.list_id, s.name)
            for s in self.all()
            if (len(key) >= 4 and s.list_id.startswith(key)) or s.name.strip().casefold() == folded
        ]

    def pending(self) -> list[tuple[str, bytes]]:
        return [(r[0], bytes(r[1])) for r in self._db.execute("SELECT list_id, delta FROM pending")]

    def has_pending(self, list_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM pending WHERE list_id = ?", (list_id,)).fetchone()
        return row is not None

    # ---------------------------------------------------------------- writes

    def create(self, name: str) -> ShoppingList:
        """A new list with a fresh uuid4, saved and pending."""
        state = ShoppingList(str(uuid.uuid4()), self.replica_id, name)
        with self._tx():
            self._save(state)
            self._add_pending(state.list_id, state)
        return state

    def edit(
        self, list_id: str, op: Callable[[ShoppingList], ShoppingList]
    ) -> tuple[ShoppingList, ShoppingList] | None:
        """Apply ``op`` (a mutator returning its delta) to the stored list.

        Returns ``(state, delta)``, or ``None`` if the list is not here. If
        ``op`` raises, nothing is written.
        """
        with self._tx():
            state = self.load(list_id)
            if state is None:
                return None
            delta = op(state)
            self._save(state)
            self._add_pending(list_id, delta)
        return state, delta

    def merge_remote(self, state: ShoppingList) -> tuple[ShoppingList, bool]:
        """Join a copy from the cluster into ours; returns (ours, changed)."""
        with self._tx():
            local = self.load(state.list_id)
            if local is None:
                local = state.copy(replica_id=self.replica_id)
            elif state.compare(local):
                return local, False
            else:
                local.merge(state)
            self._save(local)
        return local, True

    def clear_pending(self, list_id: str, delta: bytes) -> None:
        """Forget a pending delta the cluster saved, unless it grew meanwhile."""
        with self._tx():
            self._db.execute(
                "DELETE FROM pending WHERE list_id = ? AND delta = ?", (list_id, delta)
            )

    def delete(self, list_id: str) -> bool:
        with self._tx():
            cur = self._db.execute("DELETE FROM lists WHERE list_id = ?", (list_id,))
            self._db.execute("DELETE FROM pending WHERE list_id = ?", (list_id,))
            return cur.rowcount > 0

    def _save(self, state: ShoppingList) -> None:
        self._db.execute(
            "INSERT INTO lists (list_id, state) VALUES (?, ?) "
            "ON CONFLICT(list_id) DO UPDATE SET state = excluded.state",
            (state.list_id, state.encode()),
        )

    def _add_pending(self, list_id: str, delta: ShoppingList) -> None:
        row = self._db.execute("SELECT delta FROM pending WHERE list_id = ?", (list_id,)).fetchone()
        if row is not None:
            merged = ShoppingList.decode(row[0], self.replica_id)
            merged.merge(delta)
            delta = merged
        self._db.execute(
            "INSERT INTO pending (list_id, delta) VALUES (?, ?) "
            "ON CONFLICT(list_id) DO UPDATE SET delta = excluded.delta",
            (list_id, delta.encode()),
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
