"""A server's durable store of its lists: a decoded cache over SQLite's delta log.

Every write is a CRDT merge: the incoming state or delta is joined into the
stored copy inside a transaction, and the caller acknowledges only after
:meth:`ListStore.merge_many` returned, i.e. after the commit. A batch of
writes shares one transaction, hence one WAL sync (group commit). The file,
its durability modes and its migration are :mod:`actors.server.schema`'s;
hinted writes are kept by :mod:`actors.server.hints`, in the same
transaction as the batch they came in.

A bounded LRU cache (:mod:`actors.server.cache`) keeps hot lists decoded,
so a delta costs a merge, not a read and a decode. That merge waits until
the server is between requests (:meth:`ListStore.join_pending`, on its
tick), where a run of them is cheap, or until a client's next write to the
list, which the write gate weighs against every committed write
(:meth:`ListStore.knowledge`).
A write to a list already stored appends the delta to the delta log
(:mod:`actors.server.deltas`) instead of rewriting the list: encoding a
whole list was a quarter of a server's work per write. A list's row is
rewritten (*flushed*) when it holds :data:`MAX_DELTAS` deltas, when it
leaves the cache, and when :meth:`ListStore.settle` asks (before a
handed-off list is dropped, and at close). A list's anti-entropy digest
(:meth:`ShoppingList.digest`, of its causal context) comes from the cached
state (:meth:`ListStore.digest`), so it never waits for a flush; a row keeps
the digest as of its last flush. Every list with delta rows is in the
cache, so a read of a list out of the cache is one row, or two: a list's
first write while out of the cache is kept apart, in a *cold row*, without
decoding the list (:mod:`actors.server.cold`), and the write gate weighs it
on the row's causal context alone (:meth:`ListStore.head`).
Deltas left by a crash are flushed when the store opens.

The store (its cache too) belongs to one thread: the server's bridge
thread, which hosts the ServerActor (a SQLite connection must not be shared
across threads).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Final, NamedTuple

import logs
from actors.kernel import Durability
from actors.server.cache import ListCache
from actors.server.checkpoint import Checkpointer
from actors.server.cold import Head
from actors.server.damage import BadRow, DiskWatch, is_disk_full, open_checked
from actors.server.deltas import DIGESTS, DeltaLog
from actors.server.entries import Update, check_ids, join_all, join_lists
from actors.server.hints import Hint, HintRow, HintTable
from actors.server.schema import transaction
from crdt import ShoppingList

__all__ = ["MAX_DELTAS", "MAX_UNJOINED", "Knowledge", "ListStore", "Update"]

log = logs.get_logger("server")

#: Delta rows a list may hold before its row is rewritten. Bounds what a
#: load after a crash must merge, and the size of the deltas table.
MAX_DELTAS: Final = 32
#: Acknowledged deltas that may wait for their join into the cache (see
#: :meth:`ListStore.join_pending`) before a write joins them at once.
MAX_UNJOINED: Final = 4096


class Knowledge(NamedTuple):
    """What a store holds of one list, as the write gate weighs a frame against it."""

    #: the cached state, every committed write joined (``None``: the list
    #: is not stored here)
    state: ShoppingList | None
    #: other genuine states of the list: for a hinted write, the hints held for it
    witnesses: list[ShoppingList]
    #: ``state``'s encoded size, or an upper bound on it
    size: int | None


class ListStore:
    """The lists of one server; see the module docstring.

    Args:
        path: the database file (its folder is created).
        durability: ``"normal"`` or ``"full"`` (see :mod:`actors.server.schema`);
            anything else is a ``ValueError``.
        cache_lists: how many decoded lists to keep in memory (at least 1).
        checkpoint_interval_s: how often a thread of the store's own copies
            the WAL into the file (:mod:`actors.server.checkpoint`), so that
            the thread that writes never does; ``None``: SQLite checkpoints
            on the writing thread, as it does by default.

    A file found corrupt as it opens (``PRAGMA quick_check``, or SQLite's
    ``SQLITE_CORRUPT``/``SQLITE_NOTADB`` on first use) is moved aside
    (:func:`~actors.server.damage.quarantine_file`) and the store starts
    empty, *rebuilding* (:attr:`rebuilding_since`) until its replicas have
    filled it again. A write that hits a full disk raises
    :class:`~actors.server.damage.StoreFull` (:attr:`disk_full` until a
    write commits again); a row that does not decode is quarantined, and
    its list is then absent here. Other errors opening the file (it cannot
    be read, say) are raised.
    """

    def __init__(
        self,
        path: Path,
        durability: Durability = "normal",
        cache_lists: int = 65_536,
        checkpoint_interval_s: float | None = 0.25,
    ) -> None:
        self.path = path
        self._cache_lists = max(1, cache_lists)
        self._disk = DiskWatch()
        #: where the corrupt file was moved, if it was
        self.quarantined = open_checked(path, durability, self._open)
        #: the thread that checkpoints the WAL, if any (see :meth:`maintain`)
        self.checkpointer: Checkpointer | None = None
        if checkpoint_interval_s is not None:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self.checkpointer = Checkpointer(path, checkpoint_interval_s)
            self.checkpointer.start()
        #: when (``time.time()``) the store started again empty, its file
        #: found corrupt; ``None`` when not rebuilding (see :meth:`rebuilt`)
        self.rebuilding_since = time.time() if self.quarantined is not None else None

    def _open(self, db: sqlite3.Connection) -> None:
        """Take the connection to a sound file: join what a crash left in it."""
        self._db = db
        self._log = DeltaLog(db)
        #: the seqs of the delta rows of each list that has any (the log's
        #: dict, read on every write); every such list is in the cache
        self._deltas = self._log.seqs
        self._lists = ListCache(db, self._log, self._disk, self.path, self._cache_lists)
        #: the decoded lists (the cache's dict, read on every write)
        self._cache = self._lists.entries
        self._hints = HintTable(db)
        self._lists.recover()

    @property
    def disk_full(self) -> bool:
        """Whether the last write failed for want of space (until one commits again)."""
        return self._disk.full

    def rebuilt(self) -> None:
        """Note that the replicas filled the store again (the caller decides when)."""
        self.rebuilding_since = None

    def close(self) -> None:
        """Flush what the deltas hold (a quicker next start), then close.

        On a full disk the deltas stay in the log; the next open joins them.
        The checkpointing thread stops first; SQLite checkpoints as the last
        connection closes.
        """
        if self.checkpointer is not None:
            self.checkpointer.stop()
        try:
            self.settle()
        except sqlite3.Error as exc:
            if not is_disk_full(exc):
                raise
        finally:
            self._db.close()

    # ----------------------------------------------------------------- reads

    def get(self, list_id: str) -> bytes | None:
        """The stored state of a list, or ``None``.

        A list outside the cache is returned as stored, neither decoded nor
        cached: a read passes the bytes on (whoever decodes them validates
        them), and reads of cold lists must not evict the hot ones.
        """
        entry = self._lists.hit(list_id)
        if entry is None:
            return self._lists.row(list_id)
        if self._lists.unjoined:
            self.join_pending()
        if entry.blob is None:
            entry.blob = entry.state.encode()
        return entry.blob

    def get_list(self, list_id: str) -> ShoppingList | None:
        entry = self._lists.lookup(list_id)
        if entry is None:
            return None
        self.join_pending()
        self._lists.shrink()
        return entry.state

    def knowledge(self, list_id: str, hinted: bool = False) -> Knowledge:
        """What this store holds of ``list_id``, for the write gate.

        The cached list (loaded if need be, as the write that follows would
        load it), with the committed deltas that waited for their join
        joined into it now (each delta is joined once, now rather than on
        the tick: passed as witnesses instead, they would be weighed again
        by every write until then). Nothing is encoded, except once a list
        whose size the cache does not know yet. ``hinted``: the hints held
        for the list count too (a stand-in's knowledge).

        Raises:
            StoreFull, sqlite3.Error: as for a read that meets a bad row
                and cannot set it aside.
        """
        entry = self._lists.lookup(list_id)
        self._lists.join_list(list_id)
        witnesses = self._hints.states(list_id) if hinted else []
        if entry is None:
            return Knowledge(None, witnesses, None)
        size = entry.size()
        if size is None:
            entry.blob = entry.state.encode()  # the encoding of the state as it is
            size = len(entry.blob)
        return Knowledge(entry.state, witnesses, size)

    def head(self, list_id: str) -> Head | None:
        """The head of a stored list out of the cache without a cold row
        (its causal context and size, for the write gate's fast path), or
        ``None`` (not stored, cached, or with a cold row: ask :meth:`knowledge`)."""
        return self._lists.peek(list_id)

    def cached(self) -> set[str]:
        """The ids of the lists held decoded in memory."""
        return set(self._cache)

    def dirty(self) -> set[str]:
        """The lists whose row is older than their state (they have delta rows)."""
        return set(self._deltas)

    def count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM lists").fetchone()
        return int(row[0])

    def list_ids(self) -> Iterator[str]:
        for (list_id,) in self._db.execute("SELECT list_id FROM lists ORDER BY position"):
            yield list_id

    # ---------------------------------------------------------------- writes

    def merge_many(
        self,
        updates: Iterable[Update],
        hints: Iterable[Hint] = (),
        committed: Callable[[], None] | None = None,
    ) -> set[str]:
        """Join states into the store, and hinted writes into the hints, in one transaction.

        ``updates`` are (list id, state or delta[, the bytes it was decoded
        from]) for lists this server keeps; ``hints`` are (owner, list id,
        state or delta) held for an owner that is down. When this returns,
        the transaction is committed; if it raises, nothing was written and
        the cache is left as the database is:
        :class:`~actors.server.damage.StoreFull` if the disk is full (see
        :attr:`disk_full`).

        ``committed`` is called once the transaction is committed (at once
        when the store held every write already): the caller acknowledges
        the writes there. It must not use the store. The cached copies of
        lists that took a delta row are joined with it later
        (:meth:`join_pending`), off the writes' critical path.

        Returns:
            Every list whose stored state changed (see :meth:`digest`).
        """
        # (A replica runs this once per poll, right before it answers: it is
        # written for the case of one write, without a pass it does not need.)
        updates = updates if isinstance(updates, list) else list(updates)
        hints = hints if isinstance(hints, list) else list(hints)
        check_ids(updates, hints)
        touched: set[str] = set()
        try:
            changed, deltas, flush, later, cold = join_lists(
                updates, touched, self._cache, self._lists.lookup, self._lists.peek
            )
            hinted = self._hints.join(hints) if hints else []
            if len(self._cache) > self._cache_lists:
                flush.update(self._lists.overflow())
            held = self._deltas
            for list_id, blobs in deltas.items():
                if len(held.get(list_id, ())) + len(blobs) >= MAX_DELTAS:
                    flush.add(list_id)
            if not changed and not hinted and not flush:
                # Nothing new: what was offered is durable here already.
                if committed is not None:
                    committed()
                return set()
            if flush:
                # A list written whole is encoded from its joined state: join it now.
                join_all([j for j in later if j[0] in flush])
                later = [j for j in later if j[0] not in flush]
            rows = self._lists.rows(flush) if flush else []
            self._log.write(deltas, rows, flush, hinted, cold)
        except BaseException as exc:
            self._lists.forget(touched)
            self._disk.check(exc, self.path)  # a full disk: StoreFull
            raise
        if self._disk.full:
            self._disk.ok(self.path)
        if hinted:
            self._hints.stored(hinted)
        self._lists.defer(later)
        if committed is not None:
            committed()
        if self._lists.unjoined_count > MAX_UNJOINED:
            self.join_pending()
        if len(self._cache) > self._cache_lists:
            self._lists.shrink()
        return changed

    def join_pending(self) -> None:
        """Join the acknowledged deltas still waiting into their cached lists.

        The server calls it on its tick: off the writes' critical path, and
        a run of joins is cheaper than each right after its write, in a
        process just woken. Everything that reads a cached state calls it
        first; a write compares with the state as it is, so a delta that
        arrives again before its join is stored twice, which a join
        forgives.
        """
        self._lists.join_pending()

    def settle(self, list_ids: Iterable[str] | None = None) -> None:
        """Rewrite the rows of lists that hold deltas: all, or those of ``list_ids``."""
        self._lists.settle(list_ids)

    def maintain(self) -> None:
        """Between requests (the server's tick): join the deltas waiting, and
        give the WAL's checkpoints back to SQLite if the checkpointing thread
        stopped, or finish one if the WAL grew long
        (:meth:`~actors.server.checkpoint.Checkpointer.catch_up`), so that
        the WAL stays bounded."""
        self.join_pending()
        if self.checkpointer is not None:
            if self.checkpointer.fallback(self._db):
                self.checkpointer = None
            else:
                self.checkpointer.catch_up(self._db)

    # ----------------------------------------------------------------- hints

    def get_with_hints(self, list_id: str) -> bytes | None:
        """The stored state joined with any hinted writes held for the list."""
        own = self.get(list_id)
        if list_id not in self._hints.lists:
            return own  # most reads: no query (it was 5% of a server's time under load)
        try:
            return self._hints.joined(list_id, own)
        except BadRow as bad:
            self._lists.quarantine(bad)
            return self._hints.joined(list_id, None)

    def hints(self, limit: int, skip: Collection[str] = ()) -> list[HintRow]:
        """Up to ``limit`` held writes: (owner, list id, state); none for the owners of ``skip``."""
        return self._hints.held(limit, skip)

    def hint_count(self) -> int:
        return self._hints.count()

    def drop_hint(self, owner: str, list_id: str, state: bytes) -> None:
        """Forget a handed-over hint, unless more writes were merged into it since.

        On a full disk it is kept, and handed over again (a join forgives that).
        """
        try:
            self._hints.drop(owner, list_id, state)
        except sqlite3.Error as exc:
            self._disk.tolerate(exc, self.path)

    # ---------------------------------------------- handoff and anti-entropy

    def drop_list(self, list_id: str, state: bytes) -> bool:
        """Forget a list handed over to its new owners, unless it changed since.

        On a full disk it is kept (``False``), and offered again.
        """
        try:
            self.settle([list_id])  # its row then holds every write it took
            with transaction(self._db):
                cur = self._db.execute(
                    "DELETE FROM lists WHERE list_id = ? AND state = ?", (list_id, state)
                )
        except sqlite3.Error as exc:
            self._disk.tolerate(exc, self.path)
            return False
        if cur.rowcount:
            self._cache.pop(list_id, None)
        return cur.rowcount > 0

    def digest(self, list_id: str) -> bytes | None:
        """A stored list's anti-entropy digest (:meth:`ShoppingList.digest`), or ``None``."""
        entry = self._cache.get(list_id)
        if entry is not None:
            self.join_pending()
            return entry.state.digest()
        # Not cached, so no delta rows: its cold row's digest is the list's, or its row's.
        row = self._db.execute(DIGESTS + " WHERE l.list_id = ?", (list_id,)).fetchone()
        return bytes(row[1]) if row is not None else None

    def digests(self) -> Iterator[tuple[str, bytes]]:
        """(list id, state digest) of every stored list, deltas included."""
        self.join_pending()
        for list_id, digest in self._db.execute(DIGESTS):
            entry = self._cache.get(list_id) if list_id in self._deltas else None
            # A row's digest is as of its last flush (a cold row's, of the
            # row with it); a list with deltas is cached.
            yield list_id, entry.state.digest() if entry is not None else bytes(digest)
