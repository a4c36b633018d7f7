"""How long a fresh client process takes: ``python -m benchmarks.fresh_clients``.

What a person waits for when they type ``run.py client ... join INVITE`` on a
machine that has never run a client: a new Python process, its imports, a
new local store and key pair, a new DEALER connecting to the proxy, two
requests (redeem the invite, then pull the list), exit.
A first request sent before the DEALER's handshake was done used to wait
for the whole client time-out (2 s); this measures that it no longer does.

1. Starts its own cluster (:class:`benchmarks.cluster_bench.Cluster`: five
   servers, N=3, default client settings, CurveZMQ unless ``--security
   off``) on ephemeral ports, with its files under ``--var``, and creates
   one list with one item on it. A client finds the proxy's key from the
   topology (``--topology``) and makes its own pair, as a person's does; the
   load generators use :meth:`~benchmarks.cluster_bench.Cluster.curve`.
2. Phase "idle": runs ``--clients`` fresh client processes one after another,
   each ``python run.py client --id fresh-idle-<i> --topology T --store S
   --json --trace join INVITE`` with its own empty store (one invite, made
   by the list's owner, serves them all), and times each from
   spawn to exit (wall clock). From each client's own trace (its JSON log)
   it also takes the time from spawn to its first request (interpreter,
   imports, opening the session, waiting for the link) and from the first
   request to the reply, and how many attempts it sent.
3. Phase "busy": the same, while ``--busy-clients`` load generators
   (:mod:`benchmarks.loadgen`, as ``run.py bench`` uses them) write to the
   cluster in the background.
4. In each phase, as a baseline, it times ``--baseline-runs`` processes that
   only start Python and import the client (``python -c "import ui.cli"``)
   and as many ``run.py client --help``, spread among the phase's clients:
   how much of a client's wall time is Python start-up (and exit), under the
   same load.

Per phase it prints count, p50, p99 and max (ms; p99 is the inclusive
quantile, between the 99th and 100th of 100 samples) and how many clients
took over 1 s; each slow client's trace (every hop, proxy and servers
included) is printed too. With ``--json`` the last line printed is one JSON
object with the figures. Exit code 1 if a client failed (non-zero exit,
no list in its answer, or killed after ``--client-timeout``).

Run it from the checkout: ``python -m benchmarks.fresh_clients [--clients 100]
[--busy-clients 4] [--json] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from actors.kernel import CurveClient
from benchmarks.cluster_bench import ROOT, Cluster, add_cluster_arguments
from benchmarks.loadgen import curve_to_json, spawn_client, stop_clients
from ui.cli import read_trace

RUN = str(ROOT / "run.py")
SLOW_MS = 1000.0
LOAD_ITEMS = [f"item-{i:02d}" for i in range(30)]


@dataclass
class FreshClient:
    """One fresh client process, timed."""

    client_id: str
    wall_ms: float  # spawn to exit, measured by the bench
    exit_code: int | None  # None: killed after the time-out
    ok: bool  # exit 0 and the list in its JSON answer
    first_request_ms: float | None  # spawn to its first request, from its trace
    request_ms: float | None  # its first request to the reply, from its trace
    attempts: int  # requests it sent (attempts that found no link send none)
    trace_id: str
    spawned_at: float  # epoch seconds, to place its trace's events
    output: str  # its stdout and stderr, kept for a failed or slow client

    @property
    def exit_ms(self) -> float | None:
        """From the reply (in its trace) to the process's exit: closing, shutdown."""
        if self.first_request_ms is None or self.request_ms is None:
            return None
        return self.wall_ms - self.first_request_ms - self.request_ms


def _iso_to_epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _client_trace(log_file: Path, spawned: float) -> tuple[float | None, float | None, int]:
    """(spawn to first request, first request to reply, attempts) from a client's log."""
    requests: list[float] = []
    replies: list[float] = []
    if log_file.exists():
        for line in log_file.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "client.request":
                requests.append(_iso_to_epoch(event["timestamp"]))
            elif event.get("event") == "client.reply":
                replies.append(_iso_to_epoch(event["timestamp"]))
    first = (requests[0] - spawned) * 1e3 if requests else None
    answered = (replies[-1] - requests[0]) * 1e3 if requests and replies else None
    return first, answered, len(requests)


def _run_fresh(
    client_id: str, base: Path, topology: Path, list_id: str, invite: str, timeout_s: float
) -> FreshClient:
    cmd = [
        sys.executable,
        RUN,
        "client",
        "--id",
        client_id,
        "--topology",
        str(topology),
        "--store",
        str(base / "clients" / client_id),
        "--json",
        "--trace",
        "join",
        invite,
    ]
    spawned = time.time()
    t0 = time.perf_counter()
    try:
        # run() kills the process if it outlives the time-out (or we are interrupted).
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        wall_ms = (time.perf_counter() - t0) * 1e3
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return FreshClient(client_id, wall_ms, None, False, None, None, 0, "", spawned, out)
    wall_ms = (time.perf_counter() - t0) * 1e3
    lines = done.stdout.strip().splitlines()
    answer: dict[str, Any] = {}
    if lines:
        try:
            answer = json.loads(lines[-1])
        except json.JSONDecodeError:
            answer = {}
    ok = done.returncode == 0 and answer.get("list", {}).get("id") == list_id
    first, request, attempts = _client_trace(base / "log" / f"client-{client_id}.jsonl", spawned)
    return FreshClient(
        client_id,
        wall_ms,
        done.returncode,
        ok,
        first,
        request,
        attempts,
        str(answer.get("trace_id", "")),
        spawned,
        done.stdout + done.stderr,
    )


def _time_process(cmd: list[str], timeout_s: float) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=timeout_s, check=True)
    return (time.perf_counter() - t0) * 1e3


#: The start-up baselines: a process that only imports the client, and ``client --help``.
STARTUP = {
    "import_client": [sys.executable, "-c", "import ui.cli"],
    "client_help": [sys.executable, RUN, "client", "--help"],
}


def _startup_summary(samples: dict[str, list[float]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, values in samples.items():
        figures[f"{name}_p50_ms"] = round(_quantile(values, 50), 1)
        figures[f"{name}_max_ms"] = round(max(values, default=0.0), 1)
    return figures


class BackgroundLoad:
    """``clients`` load generators (:func:`benchmarks.loadgen.client_main`) writing until stopped.

    The load generators run for a fixed time and have no stop message, so
    each is given more time than any phase takes and is terminated at
    :meth:`stop`; the answers counted by their progress reports say how
    busy the cluster was. Their sockets speak CurveZMQ, each with a key
    pair of its own, trusting ``curve``'s server (``None``: plaintext).
    """

    def __init__(
        self,
        endpoint: str,
        clients: int,
        window: int,
        ready_timeout_s: float,
        *,
        curve: CurveClient | None,
    ) -> None:
        self.ready_timeout_s = ready_timeout_s
        self.lists = [str(uuid.uuid4()) for _ in range(200)]
        self.conns: list[Connection] = []
        self.procs: list[BaseProcess] = []
        self.answered = [0] * clients
        self._stop = threading.Event()
        self._drain: threading.Thread | None = None
        self._started = 0.0
        self._stopped = 0.0
        for c in range(clients):
            kwargs = {
                "endpoint": endpoint,
                "name": f"busy{c}",
                "lists": self.lists,
                "items": LOAD_ITEMS,
                "seconds": 24 * 3600.0,  # terminated at stop()
                "max_requests": None,
                "window": window,
                "read_ratio": 0.1,
                "seed": c + 1,
                "prebuild": 2000,
                "curve": curve_to_json(curve),
            }
            conn, proc = spawn_client(kwargs)
            self.conns.append(conn)
            self.procs.append(proc)

    def start(self) -> None:
        """Wait until every load generator is ready, then let them all go."""
        for conn in self.conns:
            if not conn.poll(self.ready_timeout_s) or "ready" not in json.loads(conn.recv_bytes()):
                raise RuntimeError("a load generator did not get ready")
        for conn in self.conns:
            conn.send_bytes(b"go")
        self._started = time.monotonic()
        self._drain = threading.Thread(target=self._read_progress, daemon=True)
        self._drain.start()

    def _read_progress(self) -> None:
        index = {id(c): i for i, c in enumerate(self.conns)}
        live = list(self.conns)
        while live and not self._stop.is_set():
            for conn in wait(live, timeout=0.25):
                assert isinstance(conn, Connection)
                try:
                    data = json.loads(conn.recv_bytes())
                except (EOFError, OSError):
                    live.remove(conn)
                    continue
                if "answered" in data:
                    self.answered[index[id(conn)]] = data["answered"]

    def alive(self) -> int:
        return sum(p.is_alive() for p in self.procs)

    def stop(self) -> dict[str, float]:
        """Terminate the load generators; the load's answers per second while it ran."""
        self._stopped = time.monotonic()
        self._stop.set()
        if self._drain is not None:
            self._drain.join(5)
        stop_clients(self.procs, self.conns)
        elapsed = max(1e-9, self._stopped - self._started) if self._started else 0.0
        total = sum(self.answered)
        return {
            "load_answers": total,
            "load_answers_per_s": round(total / elapsed, 1) if elapsed else 0.0,
        }


def _create_list(base: Path, topology: Path, timeout_s: float) -> tuple[str, str]:
    """A list with one item, saved to the cluster by a client of its own,
    and an invite to it (editor, no expiry)."""
    common = [sys.executable, RUN, "client", "--id", "creator", "--topology", str(topology)]
    common += ["--store", str(base / "clients" / "creator"), "--json"]
    made = subprocess.run(
        [*common, "create", "fresh-clients"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    doc = json.loads(made.stdout.strip().splitlines()[-1])
    if not doc.get("pushed"):
        raise RuntimeError(f"the list was not saved to the cluster: {made.stdout}")
    added = subprocess.run(
        [*common, "add", doc["id"], "milk", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    if not json.loads(added.stdout.strip().splitlines()[-1]).get("pushed"):
        raise RuntimeError(f"the item was not saved to the cluster: {added.stdout}")
    invited = subprocess.run(
        [*common, "invite", doc["id"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return str(doc["id"]), str(json.loads(invited.stdout.strip().splitlines()[-1])["invite"])


def _quantile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method); the only value if there is one."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _summary(runs: list[FreshClient]) -> dict[str, Any]:
    wall = [r.wall_ms for r in runs]
    first = [r.first_request_ms for r in runs if r.first_request_ms is not None]
    request = [r.request_ms for r in runs if r.request_ms is not None]
    after = [r.exit_ms for r in runs if r.exit_ms is not None]
    return {
        "count": len(runs),
        "failed": sum(not r.ok for r in runs),
        "p50_ms": round(_quantile(wall, 50), 1),
        "p99_ms": round(_quantile(wall, 99), 1),
        "max_ms": round(max(wall, default=0.0), 1),
        "over_1s": sum(w > SLOW_MS for w in wall),
        "first_request_p50_ms": round(_quantile(first, 50), 1),
        "first_request_max_ms": round(max(first, default=0.0), 1),
        "request_p50_ms": round(_quantile(request, 50), 1),
        "request_max_ms": round(max(request, default=0.0), 1),
        "exit_p50_ms": round(_quantile(after, 50), 1),
        "exit_max_ms": round(max(after, default=0.0), 1),
        "retried": sum(r.attempts > 1 for r in runs),
    }


def _phase(
    name: str,
    args: argparse.Namespace,
    base: Path,
    topology: Path,
    list_id: str,
    invite: str,
) -> tuple[dict[str, Any], list[FreshClient]]:
    """The fresh clients of one phase, with the start-up baselines spread among them."""
    every = max(1, args.clients // max(1, args.baseline_runs))
    startup: dict[str, list[float]] = {key: [] for key in STARTUP}
    runs: list[FreshClient] = []
    for i in range(args.clients):
        if i % every == 0 and len(startup["import_client"]) < args.baseline_runs:
            for key, cmd in STARTUP.items():
                startup[key].append(_time_process(cmd, args.client_timeout))
        run = _run_fresh(f"fresh-{name}-{i}", base, topology, list_id, invite, args.client_timeout)
        runs.append(run)
        if not args.json:
            flag = "" if run.ok else "  FAILED"
            print(f"  {name} {i:3d}: {run.wall_ms:7.1f} ms{flag}", flush=True)
    return {**_summary(runs), **_startup_summary(startup)}, runs


def _explain(run: FreshClient, log_dir: Path) -> dict[str, Any]:
    """What a slow or failed client's trace and own log say, each event at
    its time since the client was spawned."""
    own = log_dir / f"client-{run.client_id}.jsonl"
    events = read_trace(run.trace_id, log_dir) if run.trace_id else []
    if own.exists():  # the client's own events that are not hops (warnings, errors)
        for line in own.read_text().splitlines():
            event = json.loads(line)
            if not event.get("hop"):
                events.append(event)
    lines = [
        f"+{(_iso_to_epoch(e['timestamp']) - run.spawned_at) * 1e3:8.1f} ms "
        f"{e.get('node', '?'):>14} {e.get('event', '?')}"
        for e in sorted(events, key=lambda e: str(e.get("timestamp", "")))
    ]
    return {**asdict(run), "exit_ms": run.exit_ms, "events": lines}


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = sys.stderr if args.json else sys.stdout
    base = Path(args.var).resolve() / f"fresh-{uuid.uuid4().hex[:8]}"
    cluster = Cluster(base, "normal", 65_536, args.cpu_affinity, args.security)
    phases: dict[str, dict[str, Any]] = {}
    bad: list[FreshClient] = []
    load_figures: dict[str, float] = {}
    try:
        try:
            endpoint = cluster.wait()
            list_id, invite = _create_list(base, cluster.topology, args.client_timeout)
            print(f"cluster up, list {list_id}; {args.clients} fresh clients idle...", file=out)
            phases["idle"], runs = _phase("idle", args, base, cluster.topology, list_id, invite)
            bad += [r for r in runs if not r.ok or r.wall_ms > SLOW_MS]
            print(f"{args.busy_clients} load generators; {args.clients} clients busy...", file=out)
            load = BackgroundLoad(
                endpoint, args.busy_clients, args.window, 120.0, curve=cluster.curve()
            )
            try:
                load.start()
                phases["busy"], runs = _phase("busy", args, base, cluster.topology, list_id, invite)
                bad += [r for r in runs if not r.ok or r.wall_ms > SLOW_MS]
                if load.alive() != args.busy_clients:
                    raise RuntimeError("a load generator died during the busy phase")
            finally:
                load_figures = load.stop()
            phases["busy"].update(load_figures)
        finally:
            cluster.stop()
        # After the stop, so that every process's log is complete.
        explained = [_explain(r, base / "log") for r in bad]
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    for detail in explained[: args.explain]:
        print(
            f"\nslow or failed: {detail['client_id']}, exit {detail['exit_code']}: "
            f"wall {detail['wall_ms']:.1f} ms = spawn to first request "
            f"{detail['first_request_ms']} + request {detail['request_ms']} + reply to exit "
            f"{detail['exit_ms']}; {detail['attempts']} attempts",
            file=out,
        )
        if not detail["ok"]:
            print(f"  output: {detail['output'].strip()[-2000:]}", file=out)
        for line in detail["events"]:
            print(f"  {line}", file=out)
    if len(explained) > args.explain:
        print(f"\n({len(explained) - args.explain} more slow or failed not shown)", file=out)
    print(f"\nfresh client processes (wall ms, spawn to exit), files in {base}:", file=out)
    for name, figures in phases.items():
        print(
            f"  {name}: count {figures['count']}, failed {figures['failed']}, "
            f"p50 {figures['p50_ms']}, p99 {figures['p99_ms']}, max {figures['max_ms']}, "
            f"over 1 s {figures['over_1s']}, retried {figures['retried']}",
            file=out,
        )
        print(
            f"    from the clients' traces: spawn to first request p50 "
            f"{figures['first_request_p50_ms']} max {figures['first_request_max_ms']}; "
            f"request p50 {figures['request_p50_ms']} max {figures['request_max_ms']}; "
            f"reply to exit p50 {figures['exit_p50_ms']} max {figures['exit_max_ms']}",
            file=out,
        )
        print(
            f"    start-up baseline: import ui.cli p50 {figures['import_client_p50_ms']}, "
            f"run.py client --help p50 {figures['client_help_p50_ms']}",
            file=out,
        )
    if load_figures:
        print(f"  busy load: {load_figures['load_answers_per_s']:,} answers/s", file=out)
    return {
        "clients": args.clients,
        "busy_clients": args.busy_clients,
        "cpu_affinity": args.cpu_affinity,
        "security": args.security,
        **phases,
        "slow_or_failed": [
            {
                k: round(d[k], 1) if isinstance(d[k], float) else d[k]
                for k in (
                    "client_id",
                    "wall_ms",
                    "exit_code",
                    "ok",
                    "first_request_ms",
                    "request_ms",
                    "exit_ms",
                    "attempts",
                    "trace_id",
                )
            }
            for d in explained
        ],
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fresh_clients", description=__doc__.splitlines()[0]
    )
    p.add_argument("--clients", type=int, default=100, help="fresh client processes per phase")
    p.add_argument("--busy-clients", type=int, default=4, help="load generators in the busy phase")
    p.add_argument("--window", type=int, default=64, help="requests each load generator keeps out")
    p.add_argument("--baseline-runs", type=int, default=10, help="start-up baseline runs per phase")
    p.add_argument(
        "--client-timeout", type=float, default=30.0, help="seconds before a client is killed"
    )
    p.add_argument(
        "--explain", type=int, default=10, help="slow or failed clients whose trace is printed"
    )
    add_cluster_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result), flush=True)
    failed = sum(result[p]["failed"] for p in ("idle", "busy"))
    if failed:
        print(f"FAILED: {failed} fresh clients failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
