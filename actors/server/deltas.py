"""The delta log of a server's store, and the one transaction that writes a batch.

A write to a list already stored appends the delta to the ``deltas`` table
instead of rewriting the list's row; a list's durable state is its row
joined with its delta rows. :class:`DeltaLog` keeps the seqs of each list's
delta rows in memory (the table has no index on the list), gives the seqs
of the rows it appends, and writes a batch (its delta rows, the rows of the
lists *flushed*, i.e. rewritten whole, which drops their delta rows, and
the batch's hint rows) in one transaction, or as one lone statement.

What goes into a batch is :class:`~actors.server.store.ListStore`'s to say;
the log takes the store's connection and runs on the thread that owns it:
the server's bridge thread, which hosts the ServerActor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

from actors.server.damage import BadRow, decode_row
from actors.server.hints import UPSERT as _HINT
from actors.server.hints import HintRow
from actors.server.schema import transaction
from crdt import ShoppingList

__all__ = ["DIGESTS", "ColdRow", "DeltaLog", "ListRow", "fetch"]

#: A row of the lists table: (list id, ring position, state, digest).
ListRow = tuple[str, bytes, bytes, bytes]

_UPSERT: Final = (
    "INSERT INTO lists (list_id, position, state, digest) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(list_id) DO UPDATE SET state = excluded.state, digest = excluded.digest"
)
_APPEND: Final = "INSERT INTO deltas (seq, list_id, state) VALUES (?, ?, ?)"
_DROP: Final = "DELETE FROM deltas WHERE seq = ?"
_COLD: Final = "INSERT INTO cold (list_id, state, digest) VALUES (?, ?, ?)"
_DROP_COLD: Final = "DELETE FROM cold WHERE list_id = ?"
#: A list's row and its cold row (:mod:`actors.server.cold`), if any.
_ROWS: Final = (
    "SELECT l.state, c.state FROM lists AS l LEFT JOIN cold AS c ON c.list_id = l.list_id "
    "WHERE l.list_id = ?"
)
#: Each list's digest: its cold row's if it has one (of the row joined with it), else its row's.
DIGESTS: Final = (
    "SELECT l.list_id, coalesce(c.digest, l.digest) FROM lists AS l "
    "LEFT JOIN cold AS c ON c.list_id = l.list_id"
)

#: A cold row: (list id, the delta, the digest of the list with it).
ColdRow = tuple[str, bytes, bytes]


def fetch(db: sqlite3.Connection, list_id: str) -> tuple[bytes, bytes | None] | None:
    """A list's row and its cold row (``None`` if it has none); ``None`` if no row."""
    row = db.execute(_ROWS, (list_id,)).fetchone()
    if row is None:
        return None
    return bytes(row[0]), None if row[1] is None else bytes(row[1])


class DeltaLog:
    """The delta rows of one store.

    Args:
        db: the store's connection, with its schema made.
    """

    __slots__ = ("_db", "_next_seq", "seqs")

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        #: the seqs of the delta rows of each list that has any, oldest
        #: first. Changed only once a write committed, and never replaced:
        #: the store holds the same dict, to read it without a lookup here.
        self.seqs: dict[str, list[int]] = {}
        self._next_seq = 1

    def recover(self) -> tuple[dict[str, ShoppingList], list[BadRow]]:
        """The lists a crash left with delta rows, each joined with them (one scan).

        Their seqs are recorded, so the caller can flush those lists; a
        close flushes every list, so after one this finds none. Lists with a
        row that does not decode come back apart, as the :class:`BadRow`
        found, for the caller to quarantine (their seqs are recorded too).
        """
        blobs: dict[str, list[bytes]] = {}
        for seq, list_id, blob in self._db.execute(
            "SELECT seq, list_id, state FROM deltas ORDER BY seq"
        ):
            self.seqs.setdefault(list_id, []).append(seq)
            blobs.setdefault(list_id, []).append(blob)
            self._next_seq = seq + 1
        joined: dict[str, ShoppingList] = {}
        bad: list[BadRow] = []
        for list_id, rows in blobs.items():
            try:
                joined[list_id] = self.load(list_id, rows)
            except BadRow as exc:
                bad.append(exc)
        return joined, bad

    def load(self, list_id: str, blobs: Iterable[bytes] | None = None) -> ShoppingList:
        """A list joined from its row, its cold row and its delta rows (decoding validates them).

        ``blobs`` are the states of the delta rows, when the caller read them already.

        Raises:
            BadRow: a row does not decode, or is of another list, or the
                list has delta rows but no row (only a damaged file has).
        """
        rows = fetch(self._db, list_id)
        if rows is None:  # a new list is written whole, so only a damaged file gets here
            raise BadRow(list_id, None, "delta rows but no row")
        state = decode_row(list_id, None, rows[0])
        if rows[1] is not None:
            state.merge(decode_row(list_id, None, rows[1]))
        seqs = self.seqs.get(list_id, [])
        if blobs is None:
            blobs = [
                self._db.execute("SELECT state FROM deltas WHERE seq = ?", (n,)).fetchone()[0]
                for n in seqs
            ]
        for seq, blob in zip(seqs, blobs, strict=True):
            state.merge(decode_row(list_id, seq, blob))
        return state

    def write(
        self,
        deltas: dict[str, list[bytes]],
        rows: list[ListRow],
        flush: set[str],
        hinted: list[HintRow],
        cold: list[ColdRow] | None = None,
    ) -> None:
        """Append delta rows, write the ``rows`` of ``flush``, store hint rows
        and ``cold`` rows: one transaction.

        ``deltas`` are each list's encoded deltas, in order; those of a list
        in ``flush`` are left out, since its row holds them, and so is its
        cold row, which is deleted. Once this
        returned (committed), :attr:`seqs` holds the rows appended, and no
        more rows of ``flush``.
        """
        seq = self._next_seq
        appended: list[tuple[int, str, bytes]] = []
        for list_id, blobs in deltas.items():
            if list_id not in flush:
                for blob in blobs:
                    appended.append((seq, list_id, blob))
                    seq += 1
        if not (rows or hinted or cold) and len(appended) == 1:
            # One write (the case of requests one at a time): a lone statement
            # is its own transaction, as atomic and as durable; BEGIN
            # IMMEDIATE alone took ~17 µs of a replica's ~200 µs per write.
            self._db.execute(_APPEND, appended[0])
            self._next_seq = seq
            self.seqs.setdefault(appended[0][1], []).append(appended[0][0])
            return
        dropped = [(n,) for i in flush for n in self.seqs.get(i, ())]
        # Only the statements with rows; a lone row needs no BEGIN/COMMIT.
        statements = [
            (sql, params)
            for sql, params in (
                (_APPEND, appended),
                (_UPSERT, rows),
                (_DROP, dropped),
                (_DROP_COLD, [(i,) for i in flush]),
                (_HINT, hinted),
                (_COLD, cold or []),
            )
            if params
        ]
        if len(statements) == 1 and len(statements[0][1]) == 1:
            sql, params = statements[0]
            self._db.execute(sql, params[0])
        else:
            with transaction(self._db):
                for sql, params in statements:
                    self._db.executemany(sql, params)
        # Committed. (A batch that failed above leaves the seqs to the next.)
        self._next_seq = seq
        for list_id in flush:
            self.seqs.pop(list_id, None)
        for n, list_id, _ in appended:
            self.seqs.setdefault(list_id, []).append(n)
