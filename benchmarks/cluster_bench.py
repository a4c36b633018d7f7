"""The cluster benchmark: ``python run.py bench`` (or ``python -m benchmarks.cluster_bench``).

1. Measures the baselines on this machine, now: the raw one (client ->
   Python forwarder -> echo, :mod:`benchmarks.baseline`) and the quorum
   one (the bench's clients and window -> a batching N=3/W=2 proxy with no
   logic -> five echo servers, :mod:`benchmarks.quorum_baseline`).
2. Unless ``--no-redis``: replicated Redis (a primary and two replicas,
   HINCRBY + WAIT 2) on the same workload shape (:mod:`benchmarks.redis_compare`).
3. Starts its own cluster (:mod:`benchmarks.bench_cluster`: five servers,
   N=3, R=2, W=2, the chosen durability, logging and tracing at their
   defaults, CurveZMQ on every socket) on ephemeral ports, with its files
   under ``var/bench/``, and samples its servers' RSS (:mod:`benchmarks.bench_memory`).
4. Stores ``--lists`` lists of ``--items`` items each (timed: ``preload_s``).
5. Measures latency: one client, one request at a time (deltas).
6. Measures throughput: ``--clients`` processes, each with ``--window``
   requests outstanding, 90% of writes as deltas, reads at ``--read-ratio``.
7. Reads back every list (or, when that would take over two minutes, every
   list written to and a random sample of the others: ``verify_sample``)
   and checks that every acknowledged write is in it: a run that loses
   writes reports failure, not a number.
8. With ``--security both`` (the default), does 3-7 again on a plaintext
   cluster (``security = "off"``) with the same settings, and reports how
   the secured figures compare: ``secured_over_insecure_writes`` (writes/s)
   and ``secured_over_insecure_p50`` (one client's p50). ``--security
   curve`` or ``off`` runs one cluster only.
9. Prints the issue's targets as met or TARGET MISSED
   (:mod:`benchmarks.bench_targets`; never asserted).

With ``--json`` the last line printed is one JSON object with the figures:
those of the first cluster run (the secured one, unless ``--security off``)
at its top level with Redis's (``redis_*``), ``ratio_vs_redis`` and
``targets``, the plaintext run's under ``insecure`` (with ``both``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from actors.kernel import CurveClient
from benchmarks.baseline import measure_baseline
from benchmarks.bench_cluster import (
    ROOT,
    SECURITY_CHOICES,
    SERVERS,
    Cluster,
    Security,
    add_cluster_arguments,
    preload,
    verify,
)
from benchmarks.bench_memory import bytes_per_cached_list, lists_per_server, rss_snapshot
from benchmarks.bench_targets import (
    P50_RATIO_TARGET,
    WRITES_RATIO_TARGET,
    compare,
    evaluate,
    percentile,
    print_figures,
    print_targets,
    ratio,
)
from benchmarks.loadgen import client_main, curve_to_json, run_client
from benchmarks.quorum_baseline import measure_quorum_baseline
from benchmarks.redis_compare import measure_redis

__all__ = [
    "P50_RATIO_TARGET",
    "ROOT",
    "SECURITY_CHOICES",
    "SERVERS",
    "WRITES_RATIO_TARGET",
    "Cluster",
    "Security",
    "add_cluster_arguments",
    "build_parser",
    "finish",
    "main",
    "preload",
    "run",
    "verify",
]

#: Verifying takes longer than this (estimated from the load's answers/s):
#: read back the lists the load touched and a random sample of the others.
VERIFY_ALL_BUDGET_S: Final = 120.0
#: The least sample of preloaded-only lists read back then.
VERIFY_SAMPLE_MIN: Final = 20_000
#: MB, for RSS figures.
_MB: Final = 1024 * 1024


def _throughput(
    endpoint: str,
    curve: CurveClient | None,
    args: argparse.Namespace,
    lists: list[str],
    items: list[str],
    console: Console,
) -> list[dict[str, Any]]:
    """``args.clients`` load processes for ``args.seconds``, their sockets
    over CurveZMQ with ``curve``'s key pair (``None``: plaintext): the key
    that created the lists, so their owner, as one person's devices are;
    their reports.

    Raises:
        RuntimeError: a process did not get ready or died without a report.
    """
    spawn = mp.get_context("spawn")
    conns, procs = [], []
    for c in range(args.clients):
        parent, child = spawn.Pipe()
        kwargs = {
            "endpoint": endpoint,
            "name": f"bench{c}",
            "lists": lists,
            "items": items,
            "seconds": args.seconds,
            "max_requests": None,
            "window": args.window,
            "read_ratio": args.read_ratio,
            "seed": c + 1,
            "prebuild": args.prebuild,
            "curve": curve_to_json(curve),
        }
        proc = spawn.Process(target=client_main, args=(child, json.dumps(kwargs).encode()))
        proc.start()
        child.close()
        conns.append(parent)
        procs.append(proc)
    for conn in conns:  # every client has made its requests: start them together
        if "ready" not in json.loads(conn.recv_bytes()):
            raise RuntimeError("a load client did not get ready")
    for conn in conns:
        conn.send_bytes(b"go")
    answered = [0] * args.clients
    reports: list[dict[str, Any] | None] = [None] * args.clients
    with Progress(
        TextColumn("[bold]load[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[ops]:>9,} answers"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("load", total=args.seconds, ops=0)
        start = time.monotonic()
        open_conns = {id(c): i for i, c in enumerate(conns)}
        while open_conns:
            live = [conns[i] for i in open_conns.values()]
            for ready in wait(live, timeout=0.25):
                i = open_conns[id(ready)]
                try:
                    data = json.loads(conns[i].recv_bytes())
                except EOFError:
                    # Exited without a report: counted as a failed client below.
                    del open_conns[id(ready)]
                    continue
                if "report" in data:
                    reports[i] = data["report"]
                    del open_conns[id(ready)]
                else:
                    answered[i] = data["answered"]
            progress.update(
                task, completed=min(args.seconds, time.monotonic() - start), ops=sum(answered)
            )
    for proc in procs:
        proc.join(10)
    missing = [i for i, r in enumerate(reports) if r is None]
    if missing:
        raise RuntimeError(f"load clients {missing} died without a report")
    return [r for r in reports if r is not None]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The baselines (raw, then the quorum proxy's), Redis (unless
    ``--no-redis``), then one cluster per kind ``args.security`` asks for
    (``both``: a secured one, then a plaintext one with the same settings);
    the figures (see the module docstring), with the targets' verdicts
    (:mod:`benchmarks.bench_targets`) on the first cluster's."""
    console = Console(stderr=args.json, highlight=False)
    console.print("measuring the baseline (client -> Python forwarder -> echo)...")
    baseline: dict[str, float] = dict(measure_baseline())
    console.print(
        f"measuring the quorum baseline ({args.clients} clients, window {args.window} -> "
        "batching N=3/W=2 proxy -> 5 echo servers)..."
    )
    baseline |= measure_quorum_baseline(args.clients, args.window, args.seconds)
    redis: dict[str, Any] = {"redis": "skipped (--no-redis)"}
    if args.redis:
        console.print("replicated Redis (a primary, 2 replicas, HINCRBY + WAIT 2)...")
        redis = measure_redis(
            Path(args.var),
            clients=args.clients,
            window=args.window,
            seconds=args.seconds,
            lists=args.lists,
            items=args.items,
            read_ratio=args.read_ratio,
            latency_requests=args.latency_requests,
            prebuild=args.prebuild,
        )
        print_figures(console, "replicated Redis", redis)
    kinds: list[Security] = ["curve", "off"] if args.security == "both" else [args.security]
    runs = [_run_cluster(args, kind, baseline, console) for kind in kinds]
    result = runs[0]
    if len(runs) == 2:
        insecure = runs[1]
        result["insecure"] = insecure
        result["secured_over_insecure_writes"] = ratio(
            result["writes_per_s"], insecure["writes_per_s"], 3
        )
        result["secured_over_insecure_p50"] = ratio(result["p50_ms"], insecure["p50_ms"], 3)
        compare(console, result, insecure)
    result |= redis
    result["ratio_vs_redis"] = ratio(result["writes_per_s"], redis.get("redis_writes_per_s"), 3)
    result["targets"] = evaluate(result)
    console.print(f"[bold]targets (security = {result['security']!r})[/bold]")
    print_targets(console, result["targets"])
    return result


def _verify_set(
    ledger: dict[str, dict[str, int]],
    touched: list[dict[str, dict[str, int]]],
    answers_per_s: float,
    rng: random.Random,
) -> tuple[dict[str, dict[str, int]], str]:
    """What to read back: ``ledger`` (every list preloaded) with the quantities
    of ``touched`` added, all of it if reading it at ``answers_per_s`` fits
    :data:`VERIFY_ALL_BUDGET_S`, else every touched list and a random sample
    of the others; with a phrase saying which."""
    merged: dict[str, dict[str, int]] = {}
    for source in touched:
        for list_id, per_item in source.items():
            entry = merged.get(list_id)
            if entry is None:
                entry = merged[list_id] = dict(ledger.get(list_id, {}))
            for item, qty in per_item.items():
                entry[item] = entry.get(item, 0) + qty
    if len(ledger) <= answers_per_s * VERIFY_ALL_BUDGET_S:
        return {**ledger, **merged}, "all"
    others = [lid for lid in ledger if lid not in merged]
    budget = int(answers_per_s * VERIFY_ALL_BUDGET_S) - len(merged)
    sample = rng.sample(others, min(len(others), max(VERIFY_SAMPLE_MIN, budget)))
    chosen = {lid: ledger[lid] for lid in sample} | merged
    return chosen, (
        f"the {len(merged):,} lists written to, and a random {len(sample):,} of the "
        f"{len(others):,} only preloaded"
    )


def _run_cluster(
    args: argparse.Namespace, security: Security, baseline: dict[str, float], console: Console
) -> dict[str, Any]:
    """Steps 2-6 on a cluster of its own with ``security``; its figures.

    The cluster is stopped, and its files removed unless ``args.keep``,
    however the run ends.
    """
    base = Path(args.var) / f"run-{os.getpid()}-{security}"
    items = [f"item-{i:02d}" for i in range(args.items)]
    console.print(f"[bold]cluster with security = {security!r}[/bold]")
    cluster = Cluster(base, args.durability, args.cache_lists, args.cpu_affinity, security)
    try:
        endpoint = cluster.wait()
        curve = cluster.curve()
        pids = cluster.server_pids()
        rss_up = rss_snapshot(pids)
        console.print(f"cluster up; storing {args.lists:,} lists of {args.items} items...")
        t0 = time.monotonic()
        ledger = preload(endpoint, args.lists, items, curve=curve, window=args.preload_window)
        preload_s = time.monotonic() - t0
        rss_preloaded = rss_snapshot(pids)
        lists = list(ledger)
        console.print(f"stored in {preload_s:.1f}s; latency: one client, one write at a time...")
        single = run_client(
            endpoint,
            "latency",
            lists,
            items,
            None,
            args.latency_requests,
            1,
            0.0,
            seed=99,
            curve=curve,
        )
        lat = sorted(single.latencies_ms)
        console.print(
            f"throughput: {args.clients} clients, window {args.window}, {args.seconds}s..."
        )
        reports = _throughput(endpoint, curve, args, lists, items, console)
        rss_end = rss_snapshot(pids)
        elapsed = max((r["elapsed_s"] for r in reports), default=args.seconds)
        answers_per_s = sum(r["writes"] + r["reads"] for r in reports) / elapsed
        chosen, sample = _verify_set(
            ledger, [single.acked, *[r["acked"] for r in reports]], answers_per_s, random.Random(7)
        )
        console.print(f"verifying {len(chosen):,} lists ({sample})...")
        t0 = time.monotonic()
        lost, checked, stale, unreadable = verify(endpoint, chosen, curve=curve)
        verify_s = time.monotonic() - t0
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if cluster.status is not None:
        stored, source = lists_per_server(cluster.status, lists), "ring"
    else:  # not reached: wait() returned, so the probe answered
        stored, source = dict.fromkeys(SERVERS, args.lists * 3 // 5), "estimate: lists*3/5"
    writes = sum(r["writes"] for r in reports)
    reads = sum(r["reads"] for r in reports)
    load_lat = sorted(x for r in reports for x in r["latencies_ms"])
    result = {
        "writes_per_s": round(writes / elapsed, 1),
        "reads_per_s": round(reads / elapsed, 1),
        "p50_ms": round(statistics.median(lat), 3),
        "p99_ms": round(percentile(lat, 0.99), 3),
        "p999_ms": round(percentile(lat, 0.999), 3),
        "baseline_pipelined_msgs_per_s": round(baseline["baseline_pipelined_msgs_per_s"], 1),
        "baseline_p50_ms": round(baseline["baseline_p50_ms"], 3),
        "ratio_throughput": round(writes / elapsed / baseline["baseline_pipelined_msgs_per_s"], 4),
        "ratio_p50": round(statistics.median(lat) / baseline["baseline_p50_ms"], 3),
        "baseline_quorum_writes_per_s": baseline["baseline_quorum_writes_per_s"],
        "baseline_quorum_p50_ms": baseline["baseline_quorum_p50_ms"],
        "baseline_quorum_p99_ms": baseline["baseline_quorum_p99_ms"],
        "ratio_vs_quorum_baseline": ratio(
            writes / elapsed, baseline["baseline_quorum_writes_per_s"], 4
        ),
        "p50_over_quorum_baseline": ratio(
            statistics.median(lat), baseline["baseline_quorum_p50_ms"], 3
        ),
        "lost_writes": lost,
        "errors": sum(r["errors"] for r in reports),
        "overloaded": sum(r["overloaded"] for r in reports),  # of errors: refused at admission
        "timeouts": sum(r["timeouts"] for r in reports),
        "load_p50_ms": round(percentile(load_lat, 0.5), 3),
        "load_p99_ms": round(percentile(load_lat, 0.99), 3),
        "clients": args.clients,
        "window": args.window,
        "seconds": round(elapsed, 2),
        "read_ratio": args.read_ratio,
        "lists": args.lists,
        "items_per_list": args.items,
        "durability": args.durability,
        "cache_lists": args.cache_lists,
        "cpu_affinity": args.cpu_affinity,
        "security": security,
        "preload_s": round(preload_s, 2),
        "lists_verified": checked,
        "verify_sample": sample,
        "verify_s": round(verify_s, 2),
        "lists_read_stale_at_first": stale,
        "lists_unreadable": unreadable,
        "latency_samples": len(lat),
        "server_rss_mb_up": _mb(rss_up),
        "server_rss_mb_preloaded": _mb(rss_preloaded),
        "server_rss_mb": _mb(rss_end),
        "lists_per_server": [stored.get(s, 0) for s in SERVERS],
        "cached_lists_source": source,
        "bytes_per_cached_list": bytes_per_cached_list(rss_up, rss_end, stored, args.cache_lists),
    }
    print_figures(console, f"shoplist benchmark, security = {security!r}", result)
    return result


def _mb(rss: dict[str, int]) -> list[float | None]:
    """RSS in MB per server, in :data:`SERVERS` order (``None``: not sampled)."""
    return [round(rss[s] / _MB, 1) if s in rss else None for s in SERVERS]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py bench", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--read-ratio", type=float, default=0.1)
    p.add_argument("--window", type=int, default=64, help="requests outstanding per client")
    p.add_argument("--lists", type=int, default=1000)
    p.add_argument("--items", type=int, default=30, help="items per list")
    p.add_argument("--latency-requests", type=int, default=5000)
    p.add_argument(
        "--prebuild",
        type=int,
        default=30_000,
        help="requests each load client makes before the clock starts (more are made on the fly)",
    )
    p.add_argument("--durability", choices=["normal", "full"], default="normal")
    p.add_argument(
        "--cache-lists", type=int, default=65_536, help="the servers' cache_lists setting"
    )
    p.add_argument(
        "--preload-window", type=int, default=256, help="preload Puts outstanding at once"
    )
    p.add_argument(
        "--redis",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure replicated Redis on the same workload (if redis-server is installed)",
    )
    p.add_argument("--topology", help="ignored beyond validation: the bench runs its own cluster")
    add_cluster_arguments(p, security_both=True)
    return p


def finish(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """Print ``result`` as JSON if asked; exit status 1 if acknowledged
    writes were lost or lists could not be read back, in ``result`` or in
    the plaintext run it may hold (``result["insecure"]``)."""
    if args.json:
        print(json.dumps(result), flush=True)
    status = 0
    for figures in (result, result.get("insecure")):
        if figures and (figures["lost_writes"] or figures["lists_unreadable"]):
            where = f" (security {figures['security']!r})" if "security" in figures else ""
            print(
                f"FAILED{where}: {figures['lost_writes']} acknowledged writes lost, "
                f"{figures['lists_unreadable']} lists unreadable",
                file=sys.stderr,
            )
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return finish(args, run(args))


if __name__ == "__main__":
    sys.exit(main())
