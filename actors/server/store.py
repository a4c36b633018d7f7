"""A server's durable store of its lists: a decoded cache over SQLite's delta log.

Every write is a CRDT merge: the incoming state or delta is joined into the
stored copy inside a transaction, and the caller acknowledges only after
:meth:`ListStore.merge_many` returned, i.e. after the commit. A batch of
writes shares one transaction, hence one WAL sync (group commit). The file,
its durability modes and its migration are :mod:`actors.server.schema`'s;
hinted writes are kept by :mod:`actors.server.hints`, in the same
transaction as the batch they came in.

A bounded LRU cache keeps hot lists decoded, so a delta costs a merge, not
a read and a decode. That merge waits until the server is between requests
(:meth:`ListStore.join_pending`, on its tick), where a run of them is cheap.
A write to a list already stored appends the delta to the delta log
(:mod:`actors.server.deltas`) instead of rewriting the list: encoding a
whole list was a quarter of a server's work per write. A list's row is
rewritten (*flushed*) when it holds :data:`MAX_DELTAS` deltas, when it
leaves the cache, and when :meth:`ListStore.settle` asks (before a
handed-off list is dropped, and at close). A list's anti-entropy digest
(:meth:`ShoppingList.digest`, of its causal context) comes from the cached
state (:meth:`ListStore.digest`), so it never waits for a flush; a row keeps
the digest as of its last flush. Every list with delta rows is in the
cache, so a read of a cold list is one row.
Deltas left by a crash are flushed when the store opens.

The store belongs to one thread: the server's bridge thread, which hosts the
ServerActor (a SQLite connection must not be shared across threads).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final, NamedTuple

from actors.kernel import Durability
from actors.server.deltas import DeltaLog, ListRow
from actors.server.entries import Entry, Join, join_all
from actors.server.hints import Hint, HintRow, HintTable
from actors.server.schema import connect, position_bytes, transaction
from crdt import ShoppingList

__all__ = ["MAX_DELTAS", "MAX_UNJOINED", "ListStore", "Update"]

#: Delta rows a list may hold before its row is rewritten. Bounds what a
#: load after a crash must merge, and the size of the deltas table.
MAX_DELTAS: Final = 32
#: Acknowledged deltas that may wait for their join into the cache (see
#: :meth:`ListStore.join_pending`) before a write joins them at once.
MAX_UNJOINED: Final = 4096

#: A write: (list id, state or delta), optionally with the bytes the state
#: was decoded from, which then need not be encoded again for its delta row.
Update = tuple[str, ShoppingList] | tuple[str, ShoppingList, bytes]


def _check_ids(updates: list[Update], hints: list[Hint]) -> None:
    """Raise ``ValueError`` if a state is offered under another list's id."""
    for update in updates:
        if update[1].list_id != update[0]:
            raise ValueError(f"a state of list {update[1].list_id} offered as {update[0]}")
    for _, list_id, incoming in hints:
        if incoming.list_id != list_id:
            raise ValueError(f"a state of list {incoming.list_id} offered as {list_id}")


class _Joined(NamedTuple):
    """What :meth:`ListStore._join_lists` made of a batch's updates (one per batch)."""

    #: the lists whose stored state the batch changes
    changed: set[str]
    #: the delta rows to append: each list's deltas, encoded, in the batch's order
    deltas: dict[str, list[bytes]]
    #: the changed lists to write whole: new to the store, or loaded by this batch
    whole: set[str]
    #: joins into cached copies left until the write is acknowledged
    later: list[Join]


class ListStore:
    """The lists of one server; see the module docstring.

    Args:
        path: the database file (its folder is created).
        durability: ``"normal"`` or ``"full"`` (see :mod:`actors.server.schema`);
            anything else is a ``ValueError``.
        cache_lists: how many decoded lists to keep in memory (at least 1).
    """

    def __init__(
        self, path: Path, durability: Durability = "normal", cache_lists: int = 65_536
    ) -> None:
        self._db = connect(path, durability)
        self.path = path
        self._cache: OrderedDict[str, Entry] = OrderedDict()
        self._cache_lists = max(1, cache_lists)
        self._log = DeltaLog(self._db)
        #: the seqs of the delta rows of each list that has any (the log's
        #: dict, read on every write); every such list is in the cache
        self._deltas = self._log.seqs
        #: joins of acknowledged deltas into cached lists, not done yet
        self._unjoined: list[Join] = []
        self._hints = HintTable(self._db)
        self._recover()

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

    def _hit(self, list_id: str) -> Entry | None:
        entry = self._cache.get(list_id)
        if entry is not None:
            self._cache.move_to_end(list_id)
        return entry

    def _select(self, list_id: str) -> bytes | None:
        row = self._db.execute("SELECT state FROM lists WHERE list_id = ?", (list_id,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def _lookup(self, list_id: str) -> Entry | None:
        """The cached list, loaded if need be; the caller then calls :meth:`_shrink`."""
        entry = self._hit(list_id)
        if entry is not None:
            return entry
        blob = self._select(list_id)
        if blob is None:
            return None
        # The database is ours, but a bad disk or an older version could still
        # hand us garbage; decoding validates it like any untrusted bytes.
        entry = self._cache[list_id] = Entry(ShoppingList.decode(blob), blob)
        return entry

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
            changed, deltas, flush, later = self._join_lists(updates, touched)
            hinted = self._hints.join(hints) if hints else []
            if len(self._cache) > self._cache_lists:
                flush.update(self._overflow())
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
            self._log.write(deltas, self._rows(flush) if flush else [], flush, hinted)
        except BaseException:
            self._forget(touched)
            raise
        if hinted:
            self._hints.stored(hinted)
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
            join_all(joins)
        except BaseException:
            # Committed, but the cache missed a join: load those lists again.
            self._forget({list_id for list_id, _, _ in joins})
            raise

    def settle(self, list_ids: Iterable[str] | None = None) -> None:
        """Rewrite the rows of lists that hold deltas: all, or those of ``list_ids``."""
        held = self._deltas if list_ids is None else [i for i in list_ids if i in self._deltas]
        flush = set(held)
        if flush:
            self._log.write({}, self._rows(flush), flush, [])

    def _join_lists(self, updates: list[Update], touched: set[str]) -> _Joined:
        """Merge into the cached copies, or leave the merge for later.

        A delta bound for a delta row is stored as it came, so its join
        with the cached copy can wait until the write is acknowledged.
        """
        changed: set[str] = set()
        deltas: dict[str, list[bytes]] = {}
        later: list[Join] = []
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
                self._cache[list_id] = Entry(incoming.copy(), None)
            elif incoming.compare(entry.state):
                # A retry, a duplicate or an older copy. (One that repeats a
                # delta of this batch whose join waits is stored twice:
                # harmless, since a join is idempotent.)
                continue
            elif list_id in whole:
                join_all([(list_id, entry, incoming)])
            else:
                deltas.setdefault(list_id, []).append(raw[0] if raw else incoming.encode())
                later.append((list_id, entry, incoming))
            changed.add(list_id)
        return _Joined(changed, deltas, whole & changed, later)

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
            self._log.write({}, self._rows(flush), flush, [])
        while len(self._cache) > self._cache_lists:
            self._cache.popitem(last=False)

    def _rows(self, flush: set[str]) -> list[ListRow]:
        """The rows that write the lists of ``flush`` whole, from their joined states."""
        self.join_pending()
        rows: list[ListRow] = []
        for list_id in flush:
            entry = self._cache[list_id]
            blob = entry.blob
            if blob is None:
                blob = entry.blob = entry.state.encode()
            rows.append((list_id, position_bytes(list_id), blob, entry.state.digest()))
        return rows

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
                self._cache[list_id] = Entry(self._log.load(list_id), None)

    def _recover(self) -> None:
        """Flush the lists a crash left with delta rows."""
        left = self._log.recover()
        if not left:
            return
        for list_id, state in left.items():
            self._cache[list_id] = Entry(state, None)
        self.settle()
        self._shrink()

    # ----------------------------------------------------------------- hints

    def get_with_hints(self, list_id: str) -> bytes | None:
        """The stored state joined with any hinted writes held for the list."""
        own = self.get(list_id)
        if list_id not in self._hints.lists:
            return own  # most reads: no query (it was 5% of a server's time under load)
        return self._hints.joined(list_id, own)

    def hints(self, limit: int) -> list[HintRow]:
        """Up to ``limit`` held writes: (owner, list id, state)."""
        return self._hints.held(limit)

    def hint_count(self) -> int:
        return self._hints.count()

    def drop_hint(self, owner: str, list_id: str, state: bytes) -> None:
        """Forget a handed-over hint, unless more writes were merged into it since."""
        self._hints.drop(owner, list_id, state)

    # ---------------------------------------------- handoff and anti-entropy

    def drop_list(self, list_id: str, state: bytes) -> bool:
        """Forget a list handed over to its new owners, unless it changed since."""
        self.settle([list_id])  # its row then holds every write it took
        with transaction(self._db):
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
