"""Writers with a ledger, and the checks that nothing acknowledged was lost.

Every write is an ``add`` of a known quantity. The ledger records each one
as *attempted*; it becomes *acknowledged* when the cluster answered SAVED to
a push that contained it. A client pushes its pending edits as one delta,
so a SAVED acknowledges every edit of that list since the last SAVED.

Writers only ever push deltas (never a whole list), so a writer cannot put
back what the cluster lost. *Ephemeral* writers go further: they write, stop
before the fault, and delete their local store, so their lists exist in the
cluster alone.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from actors.client import ClusterUnavailable, ClusterUnreachable
from crdt import ShoppingList
from protocol import StatusReply
from ring import HashRing
from tests.harness import ClusterHarness

ITEMS = ("milk", "eggs", "bread", "tea", "rice")


@dataclass
class Ledger:
    """Thread-safe record of attempted and acknowledged adds per (list, item)."""

    attempted: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    acked: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    ops_attempted: int = 0
    ops_acked: int = 0
    ops_failed: int = 0
    tracked: set[str] = field(default_factory=set)
    _unacked: dict[tuple[str, str], list[tuple[str, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, writer: str, list_id: str, item: str, qty: int) -> None:
        with self._lock:
            self.attempted[(list_id, item)] += qty
            self.ops_attempted += 1
            self._unacked[(writer, list_id)].append((item, qty))

    def saved(self, writer: str, list_id: str) -> None:
        """A SAVED for this writer's pending edits of the list: all of them are durable."""
        with self._lock:
            for item, qty in self._unacked.pop((writer, list_id), []):
                self.acked[(list_id, item)] += qty
                self.ops_acked += 1

    def failed(self) -> None:
        with self._lock:
            self.ops_failed += 1

    def track(self, list_id: str) -> None:
        with self._lock:
            self.tracked.add(list_id)

    def lists(self) -> set[str]:
        return self.tracked | {list_id for list_id, _ in self.attempted}


class Writer(threading.Thread):
    """Adds random quantities to the given lists until stopped."""

    def __init__(
        self,
        cluster: ClusterHarness,
        name: str,
        list_ids: list[str],
        ledger: Ledger,
        stop: threading.Event,
        seed: int,
        max_ops: int | None = None,
    ) -> None:
        super().__init__(name=f"writer-{name}", daemon=True)
        self.cluster = cluster
        self.writer = name
        self.list_ids = list_ids
        self.ledger = ledger
        self.stop_event = stop
        self.rng = random.Random(seed)
        self.max_ops = max_ops
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.cluster.session(self.writer) as session:
                for list_id in self.list_ids:
                    if session.get_local(list_id) is None:
                        pull_until_answered(session, list_id)
                ops = 0
                while not self.stop_event.is_set() and (self.max_ops is None or ops < self.max_ops):
                    list_id = self.rng.choice(self.list_ids)
                    item = self.rng.choice(ITEMS)
                    qty = self.rng.randint(1, 5)
                    self.ledger.attempt(self.writer, list_id, item, qty)
                    _, pushed = session.add(list_id, item, qty)
                    if pushed:
                        self.ledger.saved(self.writer, list_id)
                    else:
                        self.ledger.failed()
                    ops += 1
                # A last push of what is pending, so that the ledger settles.
                for list_id in self.list_ids:
                    if session.flush(list_id):
                        self.ledger.saved(self.writer, list_id)
        except BaseException as exc:
            self.error = exc


def ephemeral_writers(cluster: ClusterHarness, ledger: Ledger, count: int, ops: int) -> list[str]:
    """Writers on lists only they hold, who then vanish with their stores."""
    list_ids = []
    for k in range(count):
        name = f"ephemeral-{k}"
        with cluster.session(name) as session:
            state, created = session.create(f"ephemeral list {k}")
            ledger.track(state.list_id)
            if not created:
                flush_until_saved(session, state.list_id)
            rng = random.Random(k)
            for _ in range(ops):
                item, qty = rng.choice(ITEMS), rng.randint(1, 5)
                ledger.attempt(name, state.list_id, item, qty)
                _, pushed = session.add(state.list_id, item, qty)
                if pushed:
                    ledger.saved(name, state.list_id)
            if flush_until_saved(session, state.list_id):
                ledger.saved(name, state.list_id)
            list_ids.append(state.list_id)
        shutil.rmtree(cluster.base / "clients" / name)
    return list_ids


def flush_until_saved(session: Any, list_id: str, deadline_s: float = 20.0) -> bool:
    """Push the list's pending edits until the cluster saved them, or the deadline.

    ``flush`` never raises for the network; each attempt waits for its answer.
    """
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if session.flush(list_id):
            return True
    return False


def pull_until_answered(session: Any, list_id: str, deadline_s: float = 20.0) -> None:
    """Pull the list, retrying while the cluster is unreachable or unavailable."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            session.pull(list_id)
            return
        except (ClusterUnreachable, ClusterUnavailable):
            if time.monotonic() >= end:
                raise


# ------------------------------------------------------------------ checks


def replica_states(cluster: ClusterHarness, status: StatusReply, list_id: str) -> dict[str, Any]:
    """The copies of a list on its N owners, as their SQLite files hold them.

    A copy is the list's row joined with its delta rows (see
    :mod:`actors.server.deltas`): what the server would load after a crash.
    """
    ring = HashRing([m.node_id for m in status.members], vnodes=status.members[0].vnodes)
    copies: dict[str, Any] = {}
    for node in ring.get_replicas(list_id, status.n):
        db = cluster.data_dir / node / "lists.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT state FROM lists WHERE list_id = ?", (list_id,)).fetchone()
            deltas = conn.execute(
                "SELECT state FROM deltas WHERE list_id = ? ORDER BY seq", (list_id,)
            ).fetchall()
        copy = ShoppingList.decode(row[0]) if row is not None else None
        if copy is not None:
            for (delta,) in deltas:
                copy.merge(ShoppingList.decode(delta))
        copies[node] = copy
    return copies


def check_converged(cluster: ClusterHarness, ledger: Ledger) -> tuple[bool, str]:
    """Every list: its N owners hold equal states that keep every acknowledged add."""
    status = cluster.status(timeout_s=2.0)
    if len(status.members) < status.n or any(m.suspect for m in status.members):
        return False, "ring not settled"
    for list_id in sorted(ledger.lists()):
        copies = replica_states(cluster, status, list_id)
        states = list(copies.values())
        if any(s is None for s in states):
            missing = [n for n, s in copies.items() if s is None]
            return False, f"{list_id}: no copy on {missing}"
        first = states[0]
        if any(s != first for s in states[1:]):
            return False, f"{list_id}: replicas differ"
        for (lid, item), qty in ledger.acked.items():
            if lid == list_id and first.needed(item) < qty:
                return False, f"{list_id}: {item} needed {first.needed(item)} < acked {qty}"
    return True, "converged"


def lost_writes(cluster: ClusterHarness, ledger: Ledger) -> tuple[int, list[str]]:
    """Acknowledged quantity missing from the converged state, and overshoots."""
    status = cluster.status(timeout_s=2.0)
    lost = 0
    problems = []
    for (list_id, item), acked in ledger.acked.items():
        state = next(iter(replica_states(cluster, status, list_id).values()))
        needed = state.needed(item) if state is not None else 0
        attempted = ledger.attempted[(list_id, item)]
        if needed < acked:
            lost += acked - needed
            problems.append(f"{list_id}/{item}: {needed} < acked {acked}")
        if needed > attempted:
            problems.append(f"{list_id}/{item}: {needed} > attempted {attempted}")
    return lost, problems
