"""Hinted writes: the writes a server holds for an owner that is down (sloppy quorum).

A hint is kept in the store's ``hints`` table, one row per (owner, list):
later writes for the same owner are merged into it, and a read of the list
joins every hint held for it with the server's own copy. The server hands
hints over to their owners (:mod:`actors.server.handoff`) and drops each
once it is stored there, unless it took more writes meanwhile.

:class:`HintTable` takes the store's connection and runs on the thread that
owns it: the server's bridge thread, which hosts the ServerActor. Writing
the rows is the store's job, in the transaction of the batch they came in
(:meth:`ListStore.merge_many <actors.server.store.ListStore.merge_many>`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Final

from actors.server.damage import decode_hint, decode_row
from actors.server.schema import transaction
from crdt import ShoppingList

__all__ = ["UPSERT", "Hint", "HintRow", "HintTable"]

#: A hinted write: (owner, list id, state or delta).
Hint = tuple[str, str, ShoppingList]
#: A row of the hints table: (owner, list id, merged state, encoded).
HintRow = tuple[str, str, bytes]

#: Stores a :data:`HintRow`, replacing the owner's row for that list.
UPSERT: Final = (
    "INSERT INTO hints (owner, list_id, state) VALUES (?, ?, ?) "
    "ON CONFLICT(owner, list_id) DO UPDATE SET state = excluded.state"
)


class HintTable:
    """The hints of one store, and which lists may have any.

    Args:
        db: the store's connection, with its schema made.
    """

    __slots__ = ("_db", "lists")

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        #: lists that may have hint rows: a read of any other skips the query
        #: (the store tests it before it calls :meth:`joined`)
        self.lists: set[str] = {i for (i,) in db.execute("SELECT DISTINCT list_id FROM hints")}

    def join(self, hints: list[Hint]) -> list[HintRow]:
        """The rows that store ``hints``, each joined with what is held for its owner and list.

        Hints of one batch for the same owner and list make one row; a hint
        held already makes none, so this is empty if every one was. Nothing
        is written: the caller writes the rows, then calls :meth:`stored`.
        """
        hinted: dict[tuple[str, str], ShoppingList] = {}
        for owner, list_id, incoming in hints:
            key = (owner, list_id)
            held = hinted.get(key)
            if held is None:
                row = self._db.execute(
                    "SELECT state FROM hints WHERE owner = ? AND list_id = ?", key
                ).fetchone()
                held = decode_hint(self._db, owner, list_id, row[0]) if row is not None else None
            if held is None:
                hinted[key] = incoming.copy()
            elif not incoming.compare(held):
                held.merge(incoming)
                hinted[key] = held
        return [(o, i, st.encode()) for (o, i), st in hinted.items()]

    def stored(self, rows: list[HintRow]) -> None:
        """Note that ``rows`` were committed: their lists have hints now."""
        self.lists.update(list_id for _, list_id, _ in rows)

    def joined(self, list_id: str, own: bytes | None) -> bytes | None:
        """``own`` (the server's copy of the list, if any) joined with its hints.

        Raises:
            BadRow: ``own`` does not decode (the caller quarantines the list).
        """
        rows = self._db.execute(
            "SELECT owner, state FROM hints WHERE list_id = ?", (list_id,)
        ).fetchall()
        if not rows:
            self.lists.discard(list_id)  # handed over since
            return own
        merged = decode_row(list_id, None, own) if own is not None else None
        for owner, blob in rows:
            hinted = decode_hint(self._db, owner, list_id, blob)
            if hinted is None:
                continue
            if merged is None:
                merged = hinted
            else:
                merged.merge(hinted)
        return merged.encode() if merged is not None else None

    def states(self, list_id: str) -> list[ShoppingList]:
        """Every hint held for ``list_id``, decoded (a bad one is set aside)."""
        if list_id not in self.lists:
            return []
        rows = self._db.execute(
            "SELECT owner, state FROM hints WHERE list_id = ?", (list_id,)
        ).fetchall()
        decoded = (decode_hint(self._db, owner, list_id, bytes(blob)) for owner, blob in rows)
        return [state for state in decoded if state is not None]

    def held(self, limit: int, skip: Collection[str] = ()) -> list[HintRow]:
        """Up to ``limit`` held writes, by owner and list; none for the owners of ``skip``."""
        marks = ", ".join("?" * len(skip))
        rows = self._db.execute(
            f"SELECT owner, list_id, state FROM hints WHERE owner NOT IN ({marks}) "  # noqa: S608 - only marks
            "ORDER BY owner, list_id LIMIT ?",
            (*skip, limit),
        ).fetchall()
        # Offered only if they decode: a bad one would be refused for ever.
        return [
            (o, i, bytes(b))
            for o, i, b in rows
            if decode_hint(self._db, o, i, bytes(b)) is not None
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM hints").fetchone()[0])

    def drop(self, owner: str, list_id: str, state: bytes) -> None:
        """Forget a handed-over hint, unless more writes were merged into it since."""
        with transaction(self._db):
            self._db.execute(
                "DELETE FROM hints WHERE owner = ? AND list_id = ? AND state = ?",
                (owner, list_id, state),
            )
