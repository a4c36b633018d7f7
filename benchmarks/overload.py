"""The cluster under an open-loop burst: ``python -m benchmarks.overload``.

What an outside tester did to an earlier version: many client processes
pipelining writes as fast as they can, far more than the proxy's admission
bounds (:mod:`actors.proxy.admission`) take on. This measures whether the
cluster stays up and answers through it, and how soon it serves normally
after it.

1. Starts its own cluster (:class:`benchmarks.cluster_bench.Cluster`: five
   servers, N=3, R=2, W=2, CurveZMQ unless ``--security off``) on ephemeral
   ports, with its files under ``--var``, and stores ``--lists`` lists of
   ``--items`` items each. Every socket of its own to the proxy (load,
   status probes, the fresh Put and Get, the read-back) uses the cluster's
   security: :meth:`~benchmarks.cluster_bench.Cluster.curve`.
2. Starts ``--clients`` load processes (:mod:`benchmarks.loadgen`), each
   keeping ``--window`` writes outstanding for ``--seconds`` (open-loop: a
   request answered ``overloaded`` is replaced at once by the next one);
   a request with no answer ``--answer-timeout`` seconds after the burst is
   counted as a time-out.
3. During the burst and until every load process has reported, every 0.5 s:
   asks the proxy for ``status`` and records how long the answer took
   (target < 1 s), and samples the RSS of every cluster process (proxy,
   s1..s5; their pids from the supervisor's ``supervisor.spawned`` events,
   so a restarted process is followed, and counted).
4. From the end of the burst, tries a fresh ``Put`` and ``Get`` of a new list
   through the proxy until both succeed: the time to serve normally again
   (target < 2 s).
5. Reads back every list and checks that every write acknowledged with
   ``Saved`` (preload and load) is in it (target: 0 lost).

It reports requests sent, answered ``Saved``, answered ``overloaded``,
answered with other errors, and unanswered (time-outs; target: every
request answered), the status time p50/max, each process's peak RSS, the
recovery time and the lost writes. Targets missed are printed. With
``--json`` the last line printed is one JSON object with the figures. Exit
code 1 if an acknowledged write was lost or a list could not be read.

Run it from the checkout (it needs psutil, a test dependency: ``pip install
-e '.[test]'``): ``python -m benchmarks.overload [--clients 20] [--seconds 30]
[--window 1024] [--json] [--keep]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TextIO

import psutil  # type: ignore[import-untyped]  # no stubs; a test dependency

from actors.kernel import CurveClient
from benchmarks.cluster_bench import (
    SERVERS,
    Cluster,
    add_cluster_arguments,
    finish,
    preload,
    verify,
)
from benchmarks.loadgen import (
    curve_to_json,
    spawn_client,
    stop_clients,
    writer_replica,
)
from crdt import ShoppingList
from protocol import ErrorReply, Get, ListReply, Put, Saved
from supervisor.probe import ProxyUnreachable, ask_proxy, fetch_status

PROCESSES = ("proxy", *SERVERS)
SAMPLE_INTERVAL_S = 0.5
#: The targets this benchmark checks (see the module docstring).
STATUS_TARGET_S = 1.0
RECOVERY_TARGET_S = 2.0
MB = 1024 * 1024


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank, 0 <= q <= 1); 0 with no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class ClusterPids:
    """The cluster's process name -> pid, from the supervisor's log (restarts followed)."""

    def __init__(self, log_dir: Path) -> None:
        self.log = log_dir / "supervisor-all.jsonl"
        self._offset = 0
        self.pids: dict[str, int] = {}
        self.spawns: dict[str, int] = defaultdict(int)

    def refresh(self) -> dict[str, int]:
        if not self.log.exists():
            return self.pids
        with self.log.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line being written is read next time
        self._offset += end
        for line in chunk[:end].splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if event.get("event") == "supervisor.spawned" and event.get("pid"):
                    self.pids[str(event["child"])] = int(event["pid"])
                    self.spawns[str(event["child"])] += 1
        return self.pids

    def restarts(self) -> dict[str, int]:
        return {name: max(0, self.spawns.get(name, 0) - 1) for name in PROCESSES}


@dataclass
class Samples:
    """What the sampling threads recorded, in seconds since the burst began."""

    status_s: list[tuple[float, float]] = field(default_factory=list)  # (at, took)
    status_failures: list[tuple[float, str]] = field(default_factory=list)
    rss: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))


class Sampler:
    """Two threads, each every 0.5 s: the proxy's status time (asked over
    CurveZMQ with ``curve``; ``None``: plaintext), every process's RSS."""

    def __init__(
        self,
        endpoint: str,
        pids: ClusterPids,
        status_timeout_s: float,
        *,
        curve: CurveClient | None,
    ) -> None:
        self.endpoint = endpoint
        self.curve = curve
        self.pids = pids
        self.status_timeout_s = status_timeout_s
        self.samples = Samples()
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._threads = [
            threading.Thread(target=self._status_loop, daemon=True),
            threading.Thread(target=self._rss_loop, daemon=True),
        ]

    def start(self) -> None:
        self.started = time.monotonic()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(self.status_timeout_s + 5)

    def _status_loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                fetch_status(self.endpoint, timeout_s=self.status_timeout_s, curve=self.curve)
                self.samples.status_s.append((t0 - self.started, time.monotonic() - t0))
            except ProxyUnreachable as exc:
                self.samples.status_failures.append((t0 - self.started, str(exc)))
            self._stop.wait(max(0.0, SAMPLE_INTERVAL_S - (time.monotonic() - t0)))

    def rss_now(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for name, pid in self.pids.refresh().items():
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                found[name] = int(proc.memory_info().rss)
            except psutil.Error:
                continue  # exited (a restart is seen in the log)
        return found

    def _rss_loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            for name, rss in self.rss_now().items():
                self.samples.rss[name].append((t0 - self.started, rss))
            self._stop.wait(max(0.0, SAMPLE_INTERVAL_S - (time.monotonic() - t0)))


class Load:
    """``clients`` load processes (:func:`benchmarks.loadgen.client_main`) and their reports.

    Each process's socket speaks CurveZMQ, with a key pair of its own,
    trusting ``curve``'s server (``None``: plaintext).
    """

    def __init__(
        self,
        endpoint: str,
        clients: int,
        seconds: float,
        window: int,
        lists: list[str],
        items: list[str],
        prebuild: int,
        answer_timeout_s: float,
        *,
        curve: CurveClient | None,
    ) -> None:
        self.conns: list[Connection] = []
        self.procs: list[BaseProcess] = []
        self.reports: list[dict[str, Any] | None] = [None] * clients
        self.answered = [0] * clients
        for c in range(clients):
            kwargs = {
                "endpoint": endpoint,
                "name": f"burst{c}",
                "lists": lists,
                "items": items,
                "seconds": seconds,
                "max_requests": None,
                "window": window,
                "read_ratio": 0.0,
                "seed": c + 1,
                "prebuild": prebuild,
                "timeout_s": answer_timeout_s,
                "curve": curve_to_json(curve),
            }
            conn, proc = spawn_client(kwargs)
            self.conns.append(conn)
            self.procs.append(proc)

    def go(self, ready_timeout_s: float) -> float:
        """Wait until every process has made its requests, start them together; when."""
        end = time.monotonic() + ready_timeout_s
        for conn in self.conns:
            if not conn.poll(max(0.0, end - time.monotonic())):
                raise RuntimeError(f"a load process was not ready in {ready_timeout_s}s")
            if "ready" not in json.loads(conn.recv_bytes()):
                raise RuntimeError("a load process did not get ready")
        for conn in self.conns:
            conn.send_bytes(b"go")
        return time.monotonic()

    def collect(self, until: float, deadline: float) -> None:
        """Read progress until ``until`` or every report is in, but not past ``deadline``."""
        index = {id(c): i for i, c in enumerate(self.conns)}
        live = [c for i, c in enumerate(self.conns) if self.reports[i] is None]
        while live and time.monotonic() < min(until, deadline):
            for conn in wait(live, timeout=min(0.25, max(0.0, until - time.monotonic()))):
                assert isinstance(conn, Connection)
                i = index[id(conn)]
                try:
                    data = json.loads(conn.recv_bytes())
                except (EOFError, OSError):
                    live.remove(conn)  # died without a report: found by the caller
                    continue
                if "report" in data:
                    self.reports[i] = data["report"]
                    live.remove(conn)
                elif "answered" in data:
                    self.answered[i] = data["answered"]

    def done(self) -> bool:
        return all(r is not None for r in self.reports) or not any(
            p.is_alive() for p, r in zip(self.procs, self.reports, strict=True) if r is None
        )

    def stop(self) -> None:
        stop_clients(self.procs, self.conns)


def serves_normally(
    endpoint: str, timeout_s: float, *, curve: CurveClient | None
) -> tuple[bool, str]:
    """One fresh Put of a new list, then a Get that returns it, over CurveZMQ
    with ``curve`` (``None``: plaintext); (ok, what failed)."""
    state = ShoppingList(str(uuid.uuid4()), writer_replica(curve, "probe"), "probe")
    state.add("probe", 1)
    tag = f"{time.monotonic_ns()}"
    put = Put(msg_id=f"op{tag}", sender="overload", list_id=state.list_id, state=state.encode())
    try:
        saved = ask_proxy(endpoint, put, timeout_s, curve)
        if not isinstance(saved, Saved):
            code = saved.code if isinstance(saved, ErrorReply) else type(saved).__name__
            return False, f"put: {code}"
        get = Get(msg_id=f"og{tag}", sender="overload", list_id=state.list_id)
        got = ask_proxy(endpoint, get, timeout_s, curve)
    except ProxyUnreachable:
        return False, "no answer"
    if not isinstance(got, ListReply) or got.state is None:
        code = got.code if isinstance(got, ErrorReply) else type(got).__name__
        return False, f"get: {code}"
    if ShoppingList.decode(got.state).needed("probe") != 1:
        return False, "get: write missing"
    return True, ""


def recovery(
    endpoint: str, since: float, deadline_s: float, *, curve: CurveClient | None
) -> tuple[float | None, int]:
    """Seconds from ``since`` until a fresh Put and Get (:func:`serves_normally`,
    with ``curve``) succeed (None: not by the deadline), and how many tries failed."""
    failed = 0
    while time.monotonic() - since < deadline_s:
        ok, _ = serves_normally(endpoint, timeout_s=1.0, curve=curve)
        if ok:
            return time.monotonic() - since, failed
        failed += 1
        time.sleep(0.05)  # the cluster is busy: nothing to wait on but time
    return None, failed


def merge(sources: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = defaultdict(dict)
    for source in sources:
        for list_id, per_item in source.items():
            for item, qty in per_item.items():
                merged[list_id][item] = merged[list_id].get(item, 0) + qty
    return merged


def _print(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = sys.stderr if args.json else sys.stdout
    base = Path(args.var).resolve() / f"overload-{uuid.uuid4().hex[:8]}"
    items = [f"item-{i:02d}" for i in range(args.items)]
    cluster = Cluster(base, "normal", 65_536, args.cpu_affinity, args.security)
    load: Load | None = None
    sampler: Sampler | None = None
    recovery_s: float | None = None
    recovery_failed = 0
    idle_rss: dict[str, int] = {}
    end_rss: dict[str, int] = {}
    pids = ClusterPids(base / "log")
    try:
        endpoint = cluster.wait()
        curve = cluster.curve()
        _print(out, f"cluster up; storing {args.lists:,} lists of {args.items} items...")
        ledger = preload(endpoint, args.lists, items, curve=curve)
        _print(out, f"{args.clients} load processes, window {args.window}, {args.seconds}s...")
        load = Load(
            endpoint,
            args.clients,
            args.seconds,
            args.window,
            list(ledger),
            items,
            args.prebuild,
            args.answer_timeout,
            curve=curve,
        )
        sampler = Sampler(endpoint, pids, args.status_timeout, curve=cluster.operator())
        idle_rss = sampler.rss_now()
        started = load.go(ready_timeout_s=300.0)
        sampler.start()
        burst_end = started + args.seconds
        # Every load process stops sending at its own start + seconds, then
        # waits up to answer_timeout for its last answers.
        deadline = burst_end + args.answer_timeout + 60.0
        next_note = started + 5.0
        while time.monotonic() < burst_end:
            load.collect(min(burst_end, next_note), deadline)
            if time.monotonic() >= next_note:
                next_note += 5.0
                took = [s for _, s in sampler.samples.status_s[-10:]]
                _print(
                    out,
                    f"  +{time.monotonic() - started:5.1f}s: {sum(load.answered):,} answers; "
                    f"status max of last 10: {max(took, default=0.0) * 1e3:.0f} ms, "
                    f"{len(sampler.samples.status_failures)} status time-outs",
                )
        _print(out, "burst over: waiting for a fresh Put and Get to succeed...")
        # The load processes' reports are read meanwhile (a large report
        # blocks its process until it is read).
        reader = threading.Thread(target=load.collect, args=(deadline, deadline), daemon=True)
        reader.start()
        recovery_s, recovery_failed = recovery(
            endpoint, burst_end, args.recovery_timeout, curve=curve
        )
        reader.join(max(0.0, deadline - time.monotonic()))
        while not load.done() and time.monotonic() < deadline:
            load.collect(deadline, deadline)
        sampler.stop()
        dead = [(i, load.procs[i].exitcode) for i, r in enumerate(load.reports) if r is None]
        if dead:
            raise RuntimeError(f"load processes (index, exit code) {dead} gave no report")
        reports = [r for r in load.reports if r is not None]
        _print(out, "reading back every list...")
        lost, checked, stale, unreadable = verify(
            endpoint, merge([ledger, *[r["acked"] for r in reports]]), curve=curve
        )
        end_rss = sampler.rss_now()
    finally:
        if sampler is not None:
            sampler.stop()
        if load is not None:
            load.stop()
        cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    assert sampler is not None
    samples = sampler.samples
    status = [took * 1e3 for _, took in samples.status_s]
    sent = sum(r["sent"] for r in reports)
    saved = sum(r["writes"] for r in reports)
    overloaded = sum(r["overloaded"] for r in reports)
    other_errors = sum(r["errors"] - r["overloaded"] for r in reports)
    timeouts = sum(r["timeouts"] for r in reports)
    elapsed = max((r["elapsed_s"] for r in reports), default=args.seconds)
    saved_lat = [x for r in reports for x in r["latencies_ms"]]
    result: dict[str, Any] = {
        "clients": args.clients,
        "seconds": args.seconds,
        "window": args.window,
        "lists": args.lists,
        "items_per_list": args.items,
        "cpu_affinity": args.cpu_affinity,
        "security": args.security,
        "sent": sent,
        "saved": saved,
        "overloaded": overloaded,
        "other_errors": other_errors,
        "timeouts": timeouts,
        "unaccounted": sent - saved - overloaded - other_errors - timeouts,
        "every_request_answered": timeouts == 0 and sent == saved + overloaded + other_errors,
        "saved_per_s": round(saved / max(elapsed, 1e-9), 1),
        "answer_p50_ms": round(_quantile(saved_lat, 0.5), 3),
        "answer_p99_ms": round(_quantile(saved_lat, 0.99), 3),
        "load_elapsed_s": round(elapsed, 2),
        "status_samples": len(status),
        "status_p50_ms": round(_quantile(status, 0.5), 1),
        "status_max_ms": round(max(status, default=0.0), 1),
        "status_over_1s": sum(s > STATUS_TARGET_S * 1e3 for s in status),
        "status_timeouts": len(samples.status_failures),
        "peak_rss_mb": {
            name: round(max((r for _, r in samples.rss.get(name, [])), default=0) / MB, 1)
            for name in PROCESSES
        },
        "idle_rss_mb": {name: round(idle_rss.get(name, 0) / MB, 1) for name in PROCESSES},
        "end_rss_mb": {name: round(end_rss.get(name, 0) / MB, 1) for name in PROCESSES},
        "restarts": pids.restarts(),
        "recovery_s": None if recovery_s is None else round(recovery_s, 3),
        "recovery_failed_tries": recovery_failed,
        "lost_writes": lost,
        "lists_verified": checked,
        "lists_read_stale_at_first": stale,
        "lists_unreadable": unreadable,
    }
    _report(out, result, base if args.keep else None)
    return result


def _report(out: TextIO, r: dict[str, Any], kept: Path | None) -> None:
    _print(
        out,
        f"\nopen-loop burst: {r['clients']} clients, window {r['window']}, {r['seconds']}s, "
        f"security {r['security']!r}",
    )
    _print(
        out,
        f"  requests sent {r['sent']:,}: saved {r['saved']:,}, overloaded {r['overloaded']:,}, "
        f"other errors {r['other_errors']:,}, unanswered (time-outs) {r['timeouts']:,}",
    )
    _print(
        out,
        f"  saved/s {r['saved_per_s']:,}; every answer's latency p50 {r['answer_p50_ms']} ms, "
        f"p99 {r['answer_p99_ms']} ms",
    )
    _print(
        out,
        f"  status: {r['status_samples']} samples, p50 {r['status_p50_ms']} ms, "
        f"max {r['status_max_ms']} ms, over 1 s {r['status_over_1s']}, "
        f"time-outs {r['status_timeouts']}",
    )
    for name in PROCESSES:
        _print(
            out,
            f"  {name:>5} RSS MB: idle {r['idle_rss_mb'][name]}, peak {r['peak_rss_mb'][name]}, "
            f"end {r['end_rss_mb'][name]}; restarts {r['restarts'][name]}",
        )
    _print(
        out,
        f"  serves normally {r['recovery_s']} s after the burst "
        f"({r['recovery_failed_tries']} failed tries)",
    )
    _print(
        out,
        f"  lost acknowledged writes {r['lost_writes']} ({r['lists_verified']} lists, "
        f"{r['lists_read_stale_at_first']} stale at first, {r['lists_unreadable']} unreadable)",
    )
    missed = []
    if not r["every_request_answered"]:
        missed.append("not every request was answered")
    if r["status_timeouts"] or r["status_max_ms"] >= STATUS_TARGET_S * 1e3:
        missed.append(f"status took {r['status_max_ms']} ms (target < {STATUS_TARGET_S} s)")
    if r["recovery_s"] is None or r["recovery_s"] >= RECOVERY_TARGET_S:
        missed.append(f"recovery {r['recovery_s']} s (target < {RECOVERY_TARGET_S} s)")
    if r["lost_writes"] or r["lists_unreadable"]:
        missed.append("acknowledged writes lost or lists unreadable")
    for line in missed:
        _print(out, f"  TARGET MISSED: {line}")
    if kept is not None:
        _print(out, f"  the cluster's files (logs in log/): {kept}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.overload", description=__doc__.splitlines()[0]
    )
    p.add_argument("--clients", type=int, default=20, help="load processes")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the burst")
    p.add_argument("--window", type=int, default=1024, help="writes each process keeps out")
    p.add_argument("--lists", type=int, default=1000)
    p.add_argument("--items", type=int, default=30, help="items per list")
    p.add_argument(
        "--prebuild", type=int, default=5000, help="requests each load process makes ahead"
    )
    p.add_argument(
        "--answer-timeout",
        type=float,
        default=5.0,
        help="seconds after which a load process gives up on an answer (after the burst)",
    )
    p.add_argument(
        "--status-timeout", type=float, default=10.0, help="seconds a status probe waits"
    )
    p.add_argument(
        "--recovery-timeout",
        type=float,
        default=120.0,
        help="seconds after the burst to keep trying a fresh Put and Get",
    )
    add_cluster_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return finish(args, run(args))


if __name__ == "__main__":
    sys.exit(main())
