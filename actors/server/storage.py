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

A bounded LRU cache keeps hot lists decoded, so a delta costs a merge, not
a read and a decode. That merge waits until the server is between requests
(:meth:`ListStore.join_pending`, on its tick), where a run of them is cheap.
A write to a list already stored appends the delta to the ``deltas`` table
instead of rewriting the list: encoding a whole list was a quarter of a
server's work per write. A list's durable state is its
row joined with its delta rows. Its row is rewritten (*flushed*) when it
holds :data:`MAX_DELTAS` deltas, when it leaves the cache, and when
:meth:`ListStore.settle` asks (before a handed-off list is dropped, and at
close). A list's anti-entropy digest (:meth:`ShoppingList.digest`, of its
causal context) comes from the cached state (:meth:`ListStore.digest`), so
it never waits for a flush; a row keeps the digest as of its last flush. Every
list with delta rows is in the cache, so a read of a cold list is one row.
Deltas left by a crash are flushed when the store opens.

The store belongs to one thread (the server actor's); SQLite connections
must not be shared across threads.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from crdt import ShoppingList
from ring import key_position

__all__ = ["MAX_DELTAS", "ListStore", "Update", "position_bytes"]

#: Delta rows a list may hold before its row is rewritten. Bounds what a
#: load after a crash must merge, and the size of the deltas table.
MAX_DELTAS: Final = 32
#: Acknowledged deltas that may wait for their join into the cache (see
#: :meth:`ListStore.join_pending`) before a write joins them at once.
MAX_UNJOINED: Final = 4096

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS lists (
    list_id  TEXT PRIMARY KEY,
    position BLOB NOT NULL,   -- md5 of the id: where it sits on the ring
    state    BLOB NOT NULL,   -- canonical encoding of the CRDT state
    digest   BLOB NOT NULL    -- ShoppingList.digest() of state, for anti-entropy
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lists_by_position ON lists(position);
CREATE TABLE IF NOT EXISTS deltas (
    seq      INTEGER PRIMARY KEY,  -- given by the store: appends go to the end
    list_id  TEXT NOT NULL,        -- a list with a row in lists
    state    BLOB NOT NULL         -- a delta (or state) joined in since that row
);
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
"""

#: ``PRAGMA user_version`` of a store whose digests are of causal contexts
#: (older stores held md5 of the state; opening one recomputes them).
_DIGESTS_OF_CONTEXTS: Final = 1

_UPSERT: Final = (
    "INSERT INTO lists (list_id, position, state, digest) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(list_id) DO UPDATE SET state = excluded.state, digest = excluded.digest"
)
_APPEND: Final = "INSERT INTO deltas (seq, list_id, state) VALUES (?, ?, ?)"
_DROP: Final = "DELETE FROM deltas WHERE seq = ?"
_HINT: Final = (
    "INSERT INTO hints (owner, list_id, state) VALUES (?, ?, ?) "
    "ON CONFLICT(owner, list_id) DO UPDATE SET state = excluded.state"
)

#: A write: (list id, state or delta), optionally with the bytes the state
#: was decoded from, which then need not be encoded again for its delta row.
Update = tuple[str, ShoppingList] | tuple[str, ShoppingList, bytes]


def position_bytes(list_id: str) -> bytes:
    """The ring position of a list as 16 big-endian bytes (sorts like the integer)."""
    return key_position(list_id).to_bytes(16, "big")


def _check_ids(updates: list[Update], hints: list[tuple[str, str, ShoppingList]]) -> None:
    """Raise ``ValueError`` if a state is offered under another list's id."""
    for update in updates:
        if update[1].list_id != update[0]:
            raise ValueError(f"a state of list {update[1].list_id} offered as {update[0]}")
    for _, list_id, incoming in hints:
        if incoming.list_id != list_id:
            raise ValueError(f"a state of list {incoming.list_id} offered as {list_id}")


class _Entry:
    """A cached list: its decoded state and, once encoded, its bytes."""

    __slots__ = ("blob", "state")

    def __init__(self, state: ShoppingList, blob: bytes | None) -> None:
        self.state = state
        #: the encoding of ``state``; ``None`` after a merge, until encoded
        self.blob = blob


#: (list id, its cache entry, a state to join into it)
_Join = tuple[str, _Entry, ShoppingList]


class ListStore:
    """The lists of one server; see the module docstring.

    Args:
        path: the database file (its folder is created).
        durability: ``"normal"`` or ``"full"``.
        cache_lists: how many decoded lists to keep in memory (at least 1).
    """

    def __init__(self, path: Path, durability: str = "normal", cache_lists: int = 65_536) -> None:
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
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_lists = max(1, cache_lists)
        #: the seqs of the delta rows of each list that has any; every such
        #: list is in the cache
        self._deltas: dict[str, list[int]] = {}
        self._next_seq = 1
        #: joins of acknowledged deltas into cached lists, not done yet
        self._unjoined: list[_Join] = []
        #: lists that may have hint rows: a read of any other skips the query
        self._maybe_hinted: set[str] = set()
        self._migrate()
        self._recover()
        self._maybe_hinted = {i for (i,) in self._db.execute("SELECT DISTINCT list_id FROM hints")}

    def close(self) -> None:
        """Flush what the deltas hold (a quicker next start), then close."""
        try:
            self.settle()
        finally:
            self._db.close()

    # ----------------------------------------------------------------- reads

    def get(self, list_id: str) -> bytes | None:
        """The stored state of a list, or ``None``.

        A list outside the cache is returned as stored, neither decoded nor
        cached: a read passes the bytes on (whoever decodes them validates
        them), and reads of cold lists must not evict the hot ones.
        """
        entry = self._hit(list_id)
        if entry is None:
            return self._select(list_id)
        if self._unjoined:
            self.join_pending()
        if entry.blob is None:
            entry.blob = entry.state.encode()
        return entry.blob

    def get_list(self, list_id: str) -> ShoppingList | None:
        entry = self._lookup(list_id)
        if entry is None:
            return None
        self.join_pending()
        self._shrink()
        return entry.state

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

    def _hit(self, list_id: str) -> _Entry | None:
        entry = self._cache.get(list_id)
        if entry is not None:
            self._cache.move_to_end(list_id)
        return entry

    def _select(self, list_id: str) -> bytes | None:
        row = self._db.execute("SELECT state FROM lists WHERE list_id = ?", (list_id,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def _lookup(self, list_id: str) -> _Entry | None:
        """The cached list, loaded if need be; the caller then calls :meth:`_shrink`."""
        entry = self._hit(list_id)
        if entry is not None:
            return entry
        blob = self._select(list_id)
        if blob is None:
            return None
        # The database is ours, but a bad disk or an older version could still
        # hand us garbage; decoding validates it like any untrusted bytes.
        entry = self._cache[list_id] = _Entry(ShoppingList.decode(blob), blob)
        return entry

    # ---------------------------------------------------------------- writes

    def merge_many(
        self,
        updates: Iterable[Update],
        hints: Iterable[tuple[str, str, ShoppingList]] = (),
        committed: Callable[[], None] | None = None,
    ) -> set[str]:
        """Join states into the store, and hinted writes into the hints, in one transaction.

        ``updates`` are (list id, state or delta[, the bytes it was decoded
        from]) for lists this server keeps; ``hints`` are (owner, list id,
        state or delta) held for an owner that is down. When this returns,
        the transaction is committed; if it raises, nothing was written and
        the cache is left as the database is.

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
        _check_ids(updates, hints)
        touched: set[str] = set()
        try:
            changed, rows, flush, later = self._join_lists(updates, touched)
            hinted = self._join_hints(hints) if hints else {}
            if len(self._cache) > self._cache_lists:
                flush.update(self._overflow())
            deltas = self._deltas
            for list_id, blobs in rows.items():
                if len(deltas.get(list_id, ())) + len(blobs) >= MAX_DELTAS:
                    flush.add(list_id)
            if not changed and not hinted and not flush:
                # Nothing new: what was offered is durable here already.
                if committed is not None:
                    committed()
                return set()
            if flush:
                # A list written whole is encoded from its joined state: join it now.
                self._join_now([j for j in later if j[0] in flush])
                later = [j for j in later if j[0] not in flush]
            seqs = self._write(rows, flush, hinted)
        except BaseException:
            self._forget(touched)
            raise
        self._maybe_hinted.update(list_id for _, list_id in hinted)
        for list_id, seq in seqs:
            self._deltas.setdefault(list_id, []).append(seq)
        self._unjoined += later
        if committed is not None:
            committed()
        if len(self._unjoined) > MAX_UNJOINED:
            self.join_pending()
        if len(self._cache) > self._cache_lists:
            self._shrink()
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
        if not self._unjoined:
            return
        joins, self._unjoined = self._unjoined, []
        try:
            self._join_now(joins)
        except BaseException:
            # Committed, but the cache missed a join: load those lists again.
            self._forget({list_id for list_id, _, _ in joins})
            raise

    def settle(self, list_ids: Iterable[str] | None = None) -> None:
        """Rewrite the rows of lists that hold deltas: all, or those of ``list_ids``."""
        held = self._deltas if list_ids is None else [i for i in list_ids if i in self._deltas]
        flush = set(held)
        if flush:
            self._write({}, flush, {})

    def _join_lists(
        self, updates: list[Update], touched: set[str]
    ) -> tuple[set[str], dict[str, list[bytes]], set[str], list[_Join]]:
        """Merge into the cached copies, or leave the merge for later.

        Returns (changed, delta rows, lists to write whole, joins left to
        do): a delta bound for a delta row is stored as it came, so its
        join with the cached copy can wait until the write is acknowledged.
        """
        changed: set[str] = set()
        rows: dict[str, list[bytes]] = {}
        later: list[_Join] = []
        # A list new to this store is written whole, so that every list with
        # delta rows has a row to join them to. So is a list this batch
        # loaded: it was decoded anyway, and a cold list is likely to leave
        # the cache before its next write, when a delta row would cost a flush.
        whole: set[str] = set()
        for list_id, incoming, *raw in updates:
            if list_id not in touched:
                touched.add(list_id)
                if list_id not in self._cache:
                    whole.add(list_id)
            entry = self._lookup(list_id)
            if entry is None:
                self._cache[list_id] = _Entry(incoming.copy(), None)
            elif incoming.compare(entry.state):
                # A retry, a duplicate or an older copy. (One that repeats a
                # delta of this batch whose join waits is stored twice:
                # harmless, since a join is idempotent.)
                continue
            elif list_id in whole:
                self._join_now([(list_id, entry, incoming)])
            else:
                rows.setdefault(list_id, []).append(raw[0] if raw else incoming.encode())
                later.append((list_id, entry, incoming))
            changed.add(list_id)
        return changed, rows, whole & changed, later

    @staticmethod
    def _join_now(joins: list[_Join]) -> None:
        for _, entry, incoming in joins:
            entry.state.merge(incoming)
            entry.blob = None

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

    def _overflow(self) -> set[str]:
        """The coldest cached lists beyond the cache's size that hold deltas."""
        extra = len(self._cache) - self._cache_lists
        if extra <= 0:
            return set()
        return {i for i in itertools.islice(self._cache, extra) if i in self._deltas}

    def _shrink(self) -> None:
        """Evict the coldest lists beyond the cache's size, flushing any with deltas."""
        flush = self._overflow()
        if flush:
            self._write({}, flush, {})
        while len(self._cache) > self._cache_lists:
            self._cache.popitem(last=False)

    def _write(
        self,
        deltas: dict[str, list[bytes]],
        flush: set[str],
        hinted: dict[tuple[str, str], ShoppingList],
    ) -> list[tuple[str, int]]:
        """Append delta rows, rewrite the rows of ``flush``, store hints: one transaction.

        Returns:
            (list id, seq) of each delta row appended; the caller records
            them once this returned, i.e. committed.
        """
        rows = []
        if flush:
            self.join_pending()  # a row is written from the joined state
            for list_id in flush:
                entry = self._cache[list_id]
                blob = entry.blob
                if blob is None:
                    blob = entry.blob = entry.state.encode()
                rows.append((list_id, position_bytes(list_id), blob, entry.state.digest()))
        seq = self._next_seq
        appended = []
        for list_id, blobs in deltas.items():
            if list_id not in flush:
                for blob in blobs:
                    appended.append((seq, list_id, blob))
                    seq += 1
        if not (rows or hinted) and len(appended) == 1:
            # One write (the case of requests one at a time): a lone statement
            # is its own transaction, as atomic and as durable; BEGIN
            # IMMEDIATE alone took ~17 µs of a replica's ~200 µs per write.
            self._db.execute(_APPEND, appended[0])
            self._next_seq = seq
            return [(appended[0][1], appended[0][0])]
        dropped = [(n,) for i in flush for n in self._deltas.get(i, ())]
        hint_rows = [(o, i, st.encode()) for (o, i), st in hinted.items()]
        # Only the statements with rows; a lone row needs no BEGIN/COMMIT.
        statements = [
            (sql, params)
            for sql, params in (
                (_APPEND, appended),
                (_UPSERT, rows),
                (_DROP, dropped),
                (_HINT, hint_rows),
            )
            if params
        ]
        if len(statements) == 1 and len(statements[0][1]) == 1:
            sql, params = statements[0]
            self._db.execute(sql, params[0])
        else:
            with self._transaction():
                for sql, params in statements:
                    self._db.executemany(sql, params)
        # Committed. (A batch that failed above leaves the seqs to the next.)
        self._next_seq = seq
        for list_id in flush:
            self._deltas.pop(list_id, None)
        return [(i, n) for n, i, _ in appended]

    def _forget(self, touched: set[str]) -> None:
        """After a failed batch: make the cache what the database holds again.

        States were merged in place. Lists without delta rows are evicted
        (the next read loads the row); the others are loaded again from
        their row and deltas, so that every list with deltas stays cached.
        ``_deltas`` itself changes only after a commit, so it still holds.
        """
        for list_id in touched:
            self._cache.pop(list_id, None)
            if list_id in self._deltas:
                self._cache[list_id] = self._load_with_deltas(list_id)

    def _load_with_deltas(self, list_id: str, blobs: Iterable[bytes] | None = None) -> _Entry:
        """A list joined from its row and its delta rows (decoding validates them).

        ``blobs`` are the delta rows, when the caller read them already.
        """
        row = self._select(list_id)
        if row is None:  # a new list is written whole, so only a damaged file gets here
            raise ValueError(f"list {list_id} has delta rows but no row")
        state = ShoppingList.decode(row)
        if blobs is None:
            blobs = [
                self._db.execute("SELECT state FROM deltas WHERE seq = ?", (n,)).fetchone()[0]
                for n in self._deltas.get(list_id, ())
            ]
        for blob in blobs:
            state.merge(ShoppingList.decode(blob))
        return _Entry(state, None)

    def _migrate(self) -> None:
        """Bring an older store's digests to the current kind, in one transaction."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version >= _DIGESTS_OF_CONTEXTS:
            return
        with self._transaction():
            rows = self._db.execute("SELECT list_id, state FROM lists").fetchall()
            self._db.executemany(
                "UPDATE lists SET digest = ? WHERE list_id = ?",
                [(ShoppingList.decode(state).digest(), i) for i, state in rows],
            )
            self._db.execute(f"PRAGMA user_version = {_DIGESTS_OF_CONTEXTS}")

    def _recover(self) -> None:
        """Flush the lists a crash left with delta rows (one scan of the table)."""
        held: dict[str, list[int]] = {}
        blobs: dict[str, list[bytes]] = {}
        for seq, list_id, blob in self._db.execute(
            "SELECT seq, list_id, state FROM deltas ORDER BY seq"
        ):
            held.setdefault(list_id, []).append(seq)
            blobs.setdefault(list_id, []).append(blob)
            self._next_seq = seq + 1
        if not held:
            return
        for list_id, rows in blobs.items():
            self._cache[list_id] = self._load_with_deltas(list_id, rows)
        self._deltas = held
        self.settle()
        self._shrink()

    # ----------------------------------------------------------------- hints

    def get_with_hints(self, list_id: str) -> bytes | None:
        """The stored state joined with any hinted writes held for the list."""
        own = self.get(list_id)
        if list_id not in self._maybe_hinted:
            return own  # most reads: no query (it was 5% of a server's time under load)
        rows = self._db.execute("SELECT state FROM hints WHERE list_id = ?", (list_id,)).fetchall()
        if not rows:
            self._maybe_hinted.discard(list_id)  # handed over since
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
        self.settle([list_id])  # its row then holds every write it took
        with self._transaction():
            cur = self._db.execute(
                "DELETE FROM lists WHERE list_id = ? AND state = ?", (list_id, state)
            )
        if cur.rowcount:
            self._cache.pop(list_id, None)
        return cur.rowcount > 0

    def digest(self, list_id: str) -> bytes | None:
        """A stored list's anti-entropy digest (:meth:`ShoppingList.digest`), or ``None``."""
        entry = self._cache.get(list_id)
        if entry is not None:
            self.join_pending()
            return entry.state.digest()
        # Not cached, so no delta rows: the row's digest is the list's.
        row = self._db.execute("SELECT digest FROM lists WHERE list_id = ?", (list_id,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def digests(self) -> Iterator[tuple[str, bytes]]:
        """(list id, state digest) of every stored list, deltas included."""
        self.join_pending()
        for list_id, digest in self._db.execute("SELECT list_id, digest FROM lists"):
            entry = self._cache.get(list_id) if list_id in self._deltas else None
            # A row's digest is as of its last flush; a list with deltas is cached.
            yield list_id, entry.state.digest() if entry is not None else bytes(digest)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
