"""The chaos harness: a ledger of every acknowledged write, a fault while
clients write, and the check that nothing acknowledged is lost and every
replica converges (see :mod:`tests.chaos.test_chaos` for the scenarios)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from protocol import DebugCrash, DebugFaults, Done
from ring import HashRing
from supervisor.probe import ask_proxy
from tests.chaos.workload import (
    Ledger,
    Writer,
    check_converged,
    ephemeral_writers,
    flush_until_saved,
    lost_writes,
)
from tests.harness import ClusterHarness, wait_until

SERVERS = ["s1", "s2", "s3", "s4", "s5"]
CHAOS_SETTINGS: dict[str, Any] = {
    "debug": True,
    "ae_interval_s": 0.2,
    "handoff_interval_s": 0.3,
    "repair_concurrency": 8,
    "dead_after_s": 600.0,
}
WRITE_BEFORE_S = 1.5
FAULT_S = 4.0
WRITE_AFTER_S = 1.5
#: Writers w0.. w2: the first writes the hot list only, the others all three.
WRITERS = 3
CONVERGE_DEADLINE_S = 90.0


@dataclass
class Report:
    scenario: str
    #: lists of writers that left before the fault: only the cluster has them
    ephemeral: list[str] = field(default_factory=list)
    #: servers the fault hit
    victims: list[str] = field(default_factory=list)
    fault_at: float = 0.0  # wall clock
    healed_at: float = 0.0
    detected_s: float | None = None
    converged_s: float | None = None
    notes: list[str] = field(default_factory=list)


def run_scenario(
    cluster: ClusterHarness,
    name: str,
    fault: Callable[[Report], None],
    heal: Callable[[Report], None] | None = None,
    detect_event: tuple[str, str | None] | None = None,
    hot_replica: str | None = None,
) -> Report:
    """Write, break, write, heal, write, stop, converge, check, report.

    ``hot_replica``: a server the hot list must be placed on, for a fault
    whose victim is fixed before the run (default: the hot list shares the
    first ephemeral list's replicas)."""
    report = Report(name)
    ledger = Ledger()
    ephemeral = ephemeral_writers(cluster, ledger, count=2, ops=15)
    report.ephemeral = ephemeral
    # The writers' hottest list is placed on the same replicas as the first
    # ephemeral list, so a fault on those replicas hits both: the lists only
    # the cluster holds, and the writes made while the fault lasts.
    hot_group = set(owners(cluster, ephemeral[0]))

    def is_hot(list_id: str) -> bool:
        placed = owners(cluster, list_id)
        return hot_replica in placed if hot_replica else set(placed) == hot_group

    with cluster.session("setup") as setup:
        candidates = (setup.create(f"shared {k}")[0].list_id for k in range(300))
        hot = next(c for c in candidates if is_hot(c))
        shared = [hot] + [setup.create(f"shared {k}")[0].list_id for k in range(2)]
        # Setup, not the test: the writers need these lists in the cluster
        # even if a push timed out on a loaded machine.
        for list_id in shared:
            assert flush_until_saved(setup, list_id), f"{list_id} was never saved"
            for k in range(WRITERS):
                setup.share(list_id, cluster.key_of(f"w{k}"))
    for list_id in shared:
        ledger.track(list_id)
    stop = threading.Event()
    writers = [
        Writer(cluster, f"w{k}", shared if k else shared[:1], ledger, stop, seed=k)
        for k in range(WRITERS)
    ]
    for w in writers:
        w.start()
    _run_for(WRITE_BEFORE_S)
    report.fault_at = time.time()
    fault(report)
    _run_for(FAULT_S)
    if heal is not None:
        heal(report)
    report.healed_at = time.time()
    _run_for(WRITE_AFTER_S)
    stop.set()
    for w in writers:
        w.join(60)
        assert not w.is_alive(), f"{w.name} is stuck"
        assert w.error is None, f"{w.name} failed: {w.error!r}"

    stopped_at = time.time()
    outcome: dict[str, str] = {}

    def converged() -> bool:
        ok, why = check_converged(cluster, ledger)
        if ok and _hints_left(cluster):
            ok, why = False, "hints not handed off yet"
        outcome["last"] = why
        return ok

    try:
        wait_until(converged, CONVERGE_DEADLINE_S, "convergence", interval_s=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last check: {outcome.get('last')}") from None
    converged_at = time.time()
    report.converged_s = converged_at - report.healed_at
    lost, problems = lost_writes(cluster, ledger)
    if detect_event is not None:
        prefix, value = detect_event
        for target in [value] if value else report.victims:
            found = detected_after(cluster, (prefix, target), report.fault_at)
            if found is not None and (report.detected_s is None or found < report.detected_s):
                report.detected_s = found
    figures = {
        "scenario": name,
        "victims": report.victims,
        "ops_attempted": ledger.ops_attempted,
        "ops_acknowledged": ledger.ops_acked,
        "ops_failed": ledger.ops_failed,
        "acknowledged_lost": lost,
        "lists": len(ledger.lists()),
        "ephemeral_lists": len(ephemeral),
        "detect_s": None if report.detected_s is None else round(report.detected_s, 3),
        "converge_after_heal_s": round(report.converged_s, 3),
        "converge_after_writers_stopped_s": round(converged_at - stopped_at, 3),
        "hints_left": _hints_left(cluster),
        "fault_at": datetime.fromtimestamp(report.fault_at, UTC).isoformat(),
    }
    print("\nCHAOS " + json.dumps(figures))
    assert [] == problems
    assert 0 == lost
    assert ledger.ops_acked > 0
    return report


def _run_for(seconds: float) -> None:
    # The writers run on their own; the scenario only waits out its phases.
    threading.Event().wait(seconds)


def detected_after(cluster: ClusterHarness, event: tuple[str, str], since: float) -> float | None:
    """Seconds from the fault to the first log event after it whose name starts
    with ``event[0]`` and that mentions ``event[1]``."""
    prefix, value = event
    for e in sorted(cluster.log_events(), key=lambda e: e.get("timestamp", "")):
        if not str(e.get("event", "")).startswith(prefix) or value not in json.dumps(e):
            continue
        at = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        if at >= since:
            return at - since
    return None


def owners(cluster: ClusterHarness, list_id: str) -> list[str]:
    """The preference list of a list on the current ring."""
    status = cluster.status()
    ring = HashRing([m.node_id for m in status.members], vnodes=status.members[0].vnodes)
    return ring.get_replicas(list_id, status.n)


def _hints_left(cluster: ClusterHarness) -> int:
    total = 0
    for server in SERVERS:
        db = cluster.data_dir / server / "lists.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            total += conn.execute("SELECT count(*) FROM hints").fetchone()[0]
    return int(total)


def kill_child(cluster: ClusterHarness, name: str) -> int:
    pid = cluster.child_pids()[name]
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_restarted(cluster: ClusterHarness, name: str, old_pid: int) -> None:
    wait_until(
        lambda: cluster.child_pids().get(name, old_pid) != old_pid,
        30.0,
        f"{name} restarted",
    )


def ask_debug(cluster: ClusterHarness, msg: DebugCrash | DebugFaults) -> None:
    reply = ask_proxy(
        cluster.endpoints()["frontend"], msg, timeout_s=5.0, curve=cluster.operator_curve()
    )
    assert isinstance(reply, Done), reply
