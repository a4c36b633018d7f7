"""A store's decoded lists: a bounded LRU cache kept true to the rows and the delta log.

A cached list (an :class:`~actors.server.entries.Entry`) is its row joined
with its cold row, if any (:mod:`actors.server.cold`), and its delta rows.
Every list with delta rows is cached, and stays so until its row is
rewritten whole (*flushed*, which drops its delta rows and its cold row):
only the cache holds its joined state. A list with a cold row only may be
out of the cache: loading it joins that row (:meth:`ListCache.lookup`).
Beyond its size the cache evicts its coldest lists, flushing those with
deltas first (:meth:`ListCache.shrink`).
The joins of acknowledged deltas wait in :attr:`ListCache.unjoined` until
:meth:`ListCache.join_pending` (or :meth:`ListCache.join_list`, for one list). After a failed batch,
:meth:`ListCache.forget` makes the cache what the database holds again; a
row that does not decode is quarantined (:meth:`ListCache.quarantine`), and
its list is then absent.

When to cache, join and flush is :class:`~actors.server.store.ListStore`'s
to say: the cache takes the store's connection, delta log and disk watch,
and runs on the thread that owns them: the server's bridge thread, which
hosts the ServerActor.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import logs
from actors.server.cold import Head, peek
from actors.server.damage import BadRow, DiskWatch, StoreFull, decode_row, quarantine_list
from actors.server.deltas import DeltaLog, ListRow, fetch
from actors.server.entries import Entry, Join, join_all
from actors.server.schema import position_bytes
from crdt.write_limits import join_size_bound

__all__ = ["ListCache"]

log = logs.get_logger("server")


class ListCache:
    """The decoded lists of one store; see the module docstring.

    Args:
        db: the store's connection, with its schema made.
        delta_log: the store's delta log (its lists with delta rows stay cached).
        disk: the store's disk watch, told of the writes that fail for want of space.
        path: the database file (named in what the disk watch logs).
        size: how many lists to keep decoded (at least 1).
    """

    __slots__ = (
        "_db",
        "_deltas",
        "_disk",
        "_log",
        "_path",
        "entries",
        "size",
        "unjoined",
        "unjoined_count",
    )

    def __init__(
        self, db: sqlite3.Connection, delta_log: DeltaLog, disk: DiskWatch, path: Path, size: int
    ) -> None:
        self._db = db
        self._log = delta_log
        self._disk = disk
        self._path = path
        #: the seqs of the delta rows of each list that has any (the log's dict)
        self._deltas = delta_log.seqs
        #: the decoded lists, the least recently used first
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        #: how many lists to keep (lists with delta rows may exceed it a while)
        self.size = size
        #: joins of acknowledged deltas into cached lists, not done yet, by
        #: list, each list's in their order (added by :meth:`defer`)
        self.unjoined: dict[str, list[Join]] = {}
        #: how many joins ``unjoined`` holds
        self.unjoined_count = 0

    def hit(self, list_id: str) -> Entry | None:
        """The cached list, now the most recently used; ``None`` if not cached."""
        entry = self.entries.get(list_id)
        if entry is not None:
            self.entries.move_to_end(list_id)
        return entry

    def row(self, list_id: str) -> bytes | None:
        """The stored state of a list out of the cache, or ``None``: its row,
        or, with a cold row, the two joined (decoded, not cached)."""
        rows = fetch(self._db, list_id)
        if rows is None:
            return None
        if rows[1] is None:
            return rows[0]
        try:
            return self._log.load(list_id).encode()
        except BadRow as bad:
            self.quarantine(bad)
            return None

    def peek(self, list_id: str) -> Head | None:
        """The head of the row of a stored list out of the cache without a
        cold row (what a cold write needs, :mod:`actors.server.cold`); else ``None``."""
        if list_id in self.entries:
            return None
        rows = fetch(self._db, list_id)
        if rows is None or rows[1] is not None:
            return None
        return peek(list_id, rows[0])

    def lookup(self, list_id: str) -> Entry | None:
        """The cached list, loaded if need be; the caller then calls :meth:`shrink`."""
        entry = self.hit(list_id)
        if entry is not None:
            return entry
        rows = fetch(self._db, list_id)
        if rows is None:
            return None
        row, cold = rows
        try:
            state = decode_row(list_id, None, row)
            if cold is not None:
                delta = decode_row(list_id, None, cold)
        except BadRow as bad:
            self.quarantine(bad)  # absent here now: a write starts it afresh
            return None
        if cold is None:
            entry = self.entries[list_id] = Entry(state, row)
            return entry
        # Joined with its cold row: sized by a bound (the gate asks), not an encoding.
        bound = join_size_bound(state, len(row)) + join_size_bound(delta, len(cold))
        state.merge(delta)
        entry = self.entries[list_id] = Entry(state, None)
        entry.bound = bound
        return entry

    def defer(self, joins: list[Join]) -> None:
        """Leave ``joins`` (of committed deltas) for :meth:`join_pending`."""
        unjoined = self.unjoined
        for join in joins:
            unjoined.setdefault(join[0], []).append(join)
        self.unjoined_count += len(joins)

    def join_list(self, list_id: str) -> None:
        """Do the joins waiting for one list now (its cached state then holds
        every write it committed)."""
        joins = self.unjoined.pop(list_id, None)
        if not joins:
            return
        self.unjoined_count -= len(joins)
        try:
            join_all(joins)
        except BaseException:
            self.forget({list_id})  # committed, but the cache missed a join
            raise

    def join_pending(self) -> None:
        """Do the joins waiting (see :meth:`ListStore.join_pending
        <actors.server.store.ListStore.join_pending>`)."""
        if not self.unjoined:
            return
        pending, self.unjoined, self.unjoined_count = self.unjoined, {}, 0
        joins = [join for waiting in pending.values() for join in waiting]
        try:
            join_all(joins)
        except BaseException:
            # Committed, but the cache missed a join: load those lists again.
            self.forget({join[0] for join in joins})
            raise

    def settle(self, list_ids: Iterable[str] | None = None) -> None:
        """Rewrite the rows of lists that hold deltas: all, or those of
        ``list_ids``, which then also fold their cold rows into their rows."""
        if list_ids is None:
            flush = set(self._deltas)
        else:
            flush = set()
            for list_id in list_ids:
                # A list with a cold row is loaded (which joins it) to be flushed.
                held = list_id in self._deltas
                if held or (self._has_cold(list_id) and self.lookup(list_id) is not None):
                    flush.add(list_id)
        if flush:
            self._log.write({}, self.rows(flush), flush, [])

    def _has_cold(self, list_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM cold WHERE list_id = ?", (list_id,)).fetchone()
        return row is not None

    def overflow(self) -> set[str]:
        """The coldest cached lists beyond the cache's size that hold deltas."""
        extra = len(self.entries) - self.size
        if extra <= 0:
            return set()
        return {i for i in itertools.islice(self.entries, extra) if i in self._deltas}

    def shrink(self) -> None:
        """Evict the coldest lists beyond the cache's size, flushing any with deltas.

        On a full disk the lists whose flush failed stay cached (every list
        with delta rows must be) and the cache stays over its size a while.
        """
        flush = self.overflow()
        if flush:
            try:
                self._log.write({}, self.rows(flush), flush, [])
            except sqlite3.Error as exc:
                self._disk.tolerate(exc, self._path)
        extra = len(self.entries) - self.size
        for list_id in list(itertools.islice(self.entries, max(0, extra))):
            if list_id not in self._deltas:
                del self.entries[list_id]

    def rows(self, flush: set[str]) -> list[ListRow]:
        """The rows that write the lists of ``flush`` whole, from their joined states."""
        self.join_pending()
        rows: list[ListRow] = []
        for list_id in flush:
            entry = self.entries.get(list_id)
            if entry is None:
                continue  # a bad row not yet set aside (see forget): nothing to write
            blob = entry.blob
            if blob is None:
                blob = entry.blob = entry.state.encode()
            rows.append((list_id, position_bytes(list_id), blob, entry.state.digest()))
        return rows

    def forget(self, touched: set[str]) -> None:
        """After a failed batch: make the cache what the database holds again.

        States were merged in place. Lists without delta rows are evicted
        (the next read loads the row); the others are loaded again from
        their row and deltas, so that every list with deltas stays cached.
        The log's seqs change only after a commit, so they still hold.
        """
        # Every list is seen to, even when one fails: a list left as merged
        # in place would serve writes that were never committed.
        for list_id in touched:
            self.entries.pop(list_id, None)
            if list_id in self._deltas:
                try:
                    self.entries[list_id] = Entry(self._log.load(list_id), None)
                except BadRow as bad:
                    try:
                        self.quarantine(bad)
                    except (StoreFull, sqlite3.Error):
                        # Not moved aside (the disk is full): left uncached,
                        # so its next read meets the bad row and tries again.
                        log.warning("server.quarantine_deferred", list_id=list_id)

    def quarantine(self, bad: BadRow) -> None:
        """Move a list with a row that does not decode out of the live tables, and forget it."""
        try:
            quarantine_list(self._db, bad, self._deltas.get(bad.list_id, []))
        except sqlite3.Error as exc:
            self._disk.check(exc, self._path)
            raise
        self._deltas.pop(bad.list_id, None)
        self.entries.pop(bad.list_id, None)

    def recover(self) -> None:
        """Flush the lists a crash left with delta rows (on a full disk, they wait)."""
        left, bad = self._log.recover()
        for row in bad:
            self.quarantine(row)
        if not left:
            return
        for list_id, state in left.items():
            self.entries[list_id] = Entry(state, None)
        try:
            self.settle()
        except sqlite3.Error as exc:
            self._disk.tolerate(exc, self._path)
        self.shrink()
