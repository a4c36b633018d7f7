"""What operators rely on: updates, status, trace, clean stops, joins and restarts."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from supervisor.child import GUEST_NICE
from supervisor.topology import parse_topology
from tests.harness import RUN, ClusterHarness, LineReader, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def test_subscribers_receive_updates_within_a_fraction_of_a_second(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "shared").out["id"]
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    watcher = subprocess.Popen(
        [
            sys.executable,
            RUN,
            "client",
            "--id",
            "bob",
            "--topology",
            str(cluster.topology),
            "--store",
            str(cluster.base / "clients" / "bob"),
            "--json",
            "watch",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cluster.base,
    )
    try:
        lines = LineReader(watcher)
        first = lines.next_line(30.0)
        assert first is not None
        assert [list_id] == json.loads(first)["watching"]

        def next_update(deadline_s: float) -> dict[str, object] | None:
            """The next update line (a line about the link is passed over)."""
            end = time.monotonic() + deadline_s
            while (left_s := end - time.monotonic()) > 0:
                line = lines.next_line(left_s)
                if line is None:
                    return None
                doc: dict[str, object] = json.loads(line)
                if "update" in doc:
                    return doc
            return None

        # The watcher sends its Watch over the frontend once connected, without
        # waiting for the answer; keep writing until one update arrives, then time one.
        def updated() -> dict[str, object] | None:
            cluster.client("alice", "add", list_id, "bread", "1")
            return next_update(1.0)

        wait_until(updated, 30.0, "a first update")
        with cluster.session("alice") as alice:
            started = time.monotonic()
            _, pushed = alice.add(list_id, "jam", 2)
            assert pushed
            doc = next_update(5.0)
            latency_s = time.monotonic() - started
        assert doc is not None
        update: dict[str, Any] = doc["update"]  # type: ignore[assignment]
        assert 2 == {i["id"]: i["needed"] for i in update["list"]}["jam"]
        print(f"update delivered {latency_s * 1000:.1f} ms after the write was sent")
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_status_shows_members_ranges_joiners_and_probes(cluster: ClusterHarness) -> None:
    done = subprocess.run(
        [sys.executable, RUN, "status", "--topology", str(cluster.topology), "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cluster.base,
        timeout=30,
    )
    assert 0 == done.returncode, done.stderr
    status = json.loads(done.stdout)
    assert ["s1", "s2", "s3", "s4", "s5"] == [m["id"] for m in status["members"]]
    assert all(m["alive"] and not m["suspect"] for m in status["members"])
    assert all(1024 == m["vnodes"] == len(m["ranges"]) for m in status["members"])
    assert 1.0 == pytest.approx(sum(m["share"] for m in status["members"]))
    assert [] == status["queued"]
    assert (3, 2, 2) == (status["n"], status["r"], status["w"])
    assert 1 == status["ring_epoch"]  # the five servers joined as one batch: one rebuild

    table = subprocess.run(
        [sys.executable, RUN, "status", "--topology", str(cluster.topology)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cluster.base,
        timeout=30,
    )
    assert 0 == table.returncode
    assert "s5" in table.stdout
    assert "1022 more" in table.stdout


def test_trace_follows_one_request_through_every_process(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "traced").out["id"]
    result = cluster.client("alice", "--trace", "add", list_id, "milk", "1")
    assert 0 == result.code
    trace_id = result.out["trace_id"]
    assert f"trace id: {trace_id}" in result.stderr

    def hops() -> list[dict[str, object]] | None:
        done = subprocess.run(
            [sys.executable, RUN, "trace", trace_id, "--logs", str(cluster.log_dir), "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        events = json.loads(done.stdout)["events"]
        stored = [e for e in events if e["event"] == "server.stored"]
        return events if len(stored) == 3 else None  # all N replicas logged theirs

    events = wait_until(hops, 10.0, "the three replicas' hops in the logs")
    names = [e["event"] for e in events]
    assert "client.request" == names[0]
    assert "client.reply" in names
    assert 3 == names.count("proxy.attempt")
    assert "proxy.answered" in names
    assert {"client", "proxy", "server"} == {e["role"] for e in events}
    assert 3 == len({e["node"] for e in events if e["role"] == "server"})
    stamps = [str(e["timestamp"]) for e in events]
    assert sorted(stamps) == stamps

    table = subprocess.run(
        [sys.executable, RUN, "trace", trace_id, "--logs", str(cluster.log_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert "proxy.answered" in table.stdout


def test_sigterm_stops_every_process_within_seconds(tmp_path: Path) -> None:
    harness = ClusterHarness(tmp_path, ["s1", "s2", "s3", "s4", "s5"]).start()
    try:
        pids = [p.pid for p in harness.descendants()]
        assert 6 <= len(pids)  # proxy and five servers (plus spawn's resource tracker)
        elapsed = harness.stop(timeout_s=10.0)
        assert [] == [
            p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
        ]
        print(f"stopped in {elapsed:.2f}s")
    finally:
        harness.kill_everything()


def test_sigkill_of_the_supervisor_leaves_no_orphans(tmp_path: Path) -> None:
    harness = ClusterHarness(tmp_path, ["s1", "s2", "s3"], {"join_batch_size": 3}).start()
    kids = harness.descendants()
    try:
        assert harness.proc is not None
        os.kill(harness.proc.pid, signal.SIGKILL)
        harness.proc.wait(10)
        _, alive = psutil.wait_procs(kids, timeout=10)
        assert [] == alive
    finally:
        for p in kids:
            if p.is_running():
                p.kill()
        harness.proc = None


def test_a_restarted_server_keeps_its_ring_position_and_its_data(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "keep").out["id"]
    cluster.client("alice", "add", list_id, "salt", "1")
    cluster.share("alice", list_id, "bob")
    epoch = cluster.status().ring_epoch
    victim = next(s for s in cluster.servers if _holds(cluster, s, list_id))
    pid = cluster.child_pids()[victim]
    os.kill(pid, signal.SIGKILL)

    def back() -> bool:
        pids = cluster.child_pids()
        return victim in pids and pids[victim] != pid

    wait_until(back, 20.0, f"{victim} restarted by the supervisor")
    status = cluster.wait_ring(5)
    assert epoch == status.ring_epoch  # acked at once, no new batch, same ring
    assert _holds(cluster, victim, list_id)
    assert {"salt": 1} == {
        i["id"]: i["needed"] for i in cluster.client("bob", "pull", list_id).out["list"]["list"]
    }


def test_joiners_are_admitted_in_batches_with_a_timeout_for_stragglers(tmp_path: Path) -> None:
    servers = [f"s{i}" for i in range(1, 8)]
    harness = ClusterHarness(tmp_path, servers, {"join_batch_size": 5, "join_batch_timeout_s": 1.0})
    try:
        status = harness.start().wait_ring(7)
        assert 7 == len(status.members)
        assert 2 == status.ring_epoch  # a batch of five, then the two stragglers
        admitted = [
            e for e in harness.log_events("proxy-*.jsonl") if e["event"] == "proxy.batch_admitted"
        ]
        assert [5, 2] == [len(e["servers"]) for e in admitted]
    finally:
        try:
            harness.stop()
        finally:
            harness.kill_everything()


def _holds(cluster: ClusterHarness, server: str, list_id: str) -> bool:
    db = cluster.data_dir / server / "lists.db"
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT 1 FROM lists WHERE list_id = ?", (list_id,)).fetchone() is not None
        )


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_every_process_runs_its_zmq_io_thread_as_a_batch_thread(tmp_path: Path) -> None:
    servers = ["s1", "s2"]
    with ClusterHarness(tmp_path, servers).running() as harness:
        policies = {}
        for name, pid in harness.child_pids().items():
            for thread in psutil.Process(pid).threads():
                comm = Path(f"/proc/{pid}/task/{thread.id}/comm").read_text().strip()
                if comm.startswith("ZMQbg/IO"):
                    policies[name] = os.sched_getscheduler(thread.id)
        assert dict.fromkeys(["proxy", *servers], os.SCHED_BATCH) == policies


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="binding to one CPU needs Linux and two CPUs",
)
def test_spread_cpu_affinity_binds_each_process_and_its_threads_to_one_cpu(
    tmp_path: Path,
) -> None:
    servers = ["s1", "s2", "s3"]
    with ClusterHarness(tmp_path, servers, {"cpu_affinity": "spread"}).running() as harness:
        allowed = sorted(os.sched_getaffinity(0))
        pids = harness.child_pids()
        expected, bound = {}, {}
        topology = parse_topology(harness.topology.read_text())
        niceness, expected_niceness = {}, {}
        for name in ["proxy", *servers]:
            expected[name] = {allowed[topology.cpu_for(name, len(allowed))]}
            guest = topology.guest_of_proxy(name, len(allowed))
            expected_niceness[name] = os.getpriority(os.PRIO_PROCESS, 0) + (
                GUEST_NICE if guest else 0
            )
            niceness[name] = psutil.Process(pids[name]).nice()
            threads = psutil.Process(pids[name]).threads()
            assert len(threads) >= 3  # main, bridge, zmq I/O (at least)
            cpus = {frozenset(os.sched_getaffinity(t.id)) for t in threads}
            assert 1 == len(cpus), f"{name}'s threads are bound apart: {cpus}"
            bound[name] = set(cpus.pop())
        assert expected == bound
        assert expected_niceness == niceness
