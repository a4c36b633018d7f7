"""Replicated Redis on the cluster benchmark's workload shape, for comparison.

A primary and two replicas (``redis-server --replicaof``) on free loopback
ports, each with its own dir under the bench's var folder, ``appendonly
yes``, ``appendfsync everysec``, no RDB snapshots; stopped however the run
ends (SIGTERM, then SIGKILL; and the kernel sends SIGTERM should this
process die first). Lists are hashes: ``--lists`` of ``--items`` fields.

The load: ``clients`` processes, each with ``window`` requests outstanding
on its own connection (raw RESP, :mod:`benchmarks.resp`); writes are
``HINCRBY list:<id> <item> <qty>`` each followed by ``WAIT 2 1000``, and
count as acknowledged only when the WAIT answers >= 2; reads are
``HGETALL``. Redis runs one client's commands in order, so a connection's
commands queue behind each WAIT: that is the price of its acknowledgement
on this workload. Then one client one write+WAIT at a time, and a check
that the primary holds every acknowledged increment.

Redis's acknowledgement is weaker than ours: a write is in two replicas'
memory, and on disk within a second; ours is on two replicas' disks.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import time
import uuid
from collections import defaultdict, deque
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

from benchmarks.resp import RespConnection, RespError, encode_command

__all__ = ["REDIS_ACK", "RedisReplicaSet", "free_port", "measure_redis", "redis_server"]

HOST: Final = "127.0.0.1"
#: What a Redis write acknowledged here means, beside ours.
REDIS_ACK: Final = "in 2 replicas' memory (WAIT 2); AOF fsynced every second"
OUR_ACK: Final = "on 2 replicas' disks (SQLite WAL commit)"
_PR_SET_PDEATHSIG: Final = 1


def redis_server() -> str | None:
    """The path of ``redis-server``, if it is on PATH."""
    return shutil.which("redis-server")


def free_port() -> int:
    """A loopback port free now: bound to port 0, then closed (it may be
    taken again before it is used; the caller's start then fails)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the bench dies (no orphans)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RedisReplicaSet:
    """A primary and ``replicas`` replicas under ``base``; a context manager
    that stops them all on exit, however the block ends."""

    def __init__(self, server: str, base: Path, replicas: int = 2) -> None:
        self.server = server
        self.base = base.resolve()  # redis-server chdirs to --dir before opening its log
        self.replicas = replicas
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> RedisReplicaSet:
        try:
            self.start()
            self.wait_replicas()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def primary_port(self) -> int:
        return self.ports[0]

    def start(self) -> None:
        """Start the primary, then its replicas (each ``--replicaof`` it)."""
        for k in range(1 + self.replicas):
            port = free_port()
            home = self.base / f"redis-{k}"
            home.mkdir(parents=True, exist_ok=True)
            args = [self.server, "--port", str(port), "--bind", HOST, "--dir", str(home)]
            args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
            args += ["--daemonize", "no", "--logfile", str(home / "redis.log")]
            # Replicas load the primary's data at once, not 5 s later (the default).
            args += ["--repl-diskless-sync-delay", "0"]
            if k:
                args += ["--replicaof", HOST, str(self.ports[0])]
            self.ports.append(port)
            self.procs.append(
                subprocess.Popen(
                    args,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509  # only prctl: no locks taken
                )
            )

    def connect(self, port: int, timeout_s: float = 10.0) -> RespConnection:
        """A connection to ``port``, retried until the server listens.

        Raises:
            RuntimeError: not listening within ``timeout_s``, or it exited.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return RespConnection(HOST, port)
            except OSError:
                if any(p.poll() is not None for p in self.procs):
                    raise RuntimeError(f"a redis-server exited; see {self.base}") from None
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"redis on port {port} is not listening") from None
                time.sleep(0.05)  # polling a condition, with a deadline

    def wait_replicas(self, timeout_s: float = 30.0) -> None:
        """Wait until the primary's INFO replication shows every replica online.

        Raises:
            RuntimeError: not within ``timeout_s``.
        """
        conn = self.connect(self.primary_port)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                info = conn.call("INFO", "replication")
                text = info.decode() if isinstance(info, bytes) else ""
                online = sum(
                    1 for line in text.splitlines() if line.startswith("slave") and "online" in line
                )
                if online >= self.replicas:
                    return
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"only {online} redis replicas online after {timeout_s}s")
                time.sleep(0.05)  # polling a condition, with a deadline
        finally:
            conn.close()

    def stop(self) -> None:
        """SIGTERM each, wait up to 10 s, SIGKILL what is left."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _hset_all(list_ids: list[str], items: list[str]) -> bytes:
    """``HSET list:<id> item 1 ...`` for each of ``list_ids``: the items' part
    is encoded once (at a million lists, encoding every argument each time
    made the preload Python-bound: 135 s)."""
    args: list[bytes | str | int] = []
    for item in items:
        args += [item, 1]
    tail = encode_command(*args).split(b"\r\n", 1)[1]  # without its "*<count>" header
    head = b"*%d\r\n" % (2 + len(args))
    return b"".join(head + encode_command("HSET", f"list:{lid}")[4:] + tail for lid in list_ids)


def preload(conn: RespConnection, list_ids: list[str], items: list[str], chunk: int = 1000) -> None:
    """Every list a hash with each of ``items`` at 1, pipelined ``chunk`` at a
    time; returns once both replicas hold it all (WAIT).

    Raises:
        RuntimeError: an error reply, or the replicas did not catch up in 120 s.
    """
    for k in range(0, len(list_ids), chunk):
        part = list_ids[k : k + chunk]
        conn.send(_hset_all(part, items))
        for _ in part:
            if isinstance(conn.read(), RespError):
                raise RuntimeError("redis refused a preload HSET")
    if conn.call("WAIT", 2, 120_000) != 2:
        raise RuntimeError("the redis replicas did not catch up with the preload")


def _write(list_id: str, item: str, qty: int) -> bytes:
    return encode_command("HINCRBY", f"list:{list_id}", item, qty) + encode_command("WAIT", 2, 1000)


def _load_main(conn: Connection, kwargs_json: bytes) -> None:
    """A load process (see the module docstring); its report as JSON on ``conn``."""
    kw = json.loads(kwargs_json)
    lists, items, window = kw["lists"], kw["items"], kw["window"]
    rng = random.Random(kw["seed"])

    def make() -> tuple[bytes, str, str, int]:
        list_id = rng.choice(lists)
        if rng.random() < kw["read_ratio"]:
            return encode_command("HGETALL", f"list:{list_id}"), list_id, "", 0
        item, qty = rng.choice(items), rng.randint(1, 3)
        return _write(list_id, item, qty), list_id, item, qty

    ready = [make() for _ in range(kw["prebuild"])]
    ready.reverse()
    redis = RespConnection(HOST, kw["port"])
    conn.send_bytes(b"ready")
    conn.recv_bytes()  # go
    acked: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    writes = reads = weak = errors = 0
    pending: deque[tuple[str, str, int]] = deque()  # in send order: (list, item, qty)
    start = time.perf_counter()
    end = start + kw["seconds"]
    while True:
        if time.perf_counter() < end and len(pending) < window:
            batch = []
            while len(pending) < window:
                frame, list_id, item, qty = ready.pop() if ready else make()
                batch.append(frame)
                pending.append((list_id, item, qty))
            redis.send(b"".join(batch))
        if not pending:
            break
        list_id, item, qty = pending.popleft()
        first = redis.read()
        if not item:  # a read: one reply
            reads += not isinstance(first, RespError)
            errors += isinstance(first, RespError)
            continue
        replicas = redis.read()  # the WAIT's: how many replicas have the write
        if isinstance(first, RespError) or isinstance(replicas, RespError):
            errors += 1
        elif isinstance(replicas, int) and replicas >= 2:
            writes += 1
            acked[list_id][item] += qty
        else:
            weak += 1
    elapsed = time.perf_counter() - start
    redis.close()
    report: dict[str, Any] = {"writes": writes, "reads": reads, "weak": weak, "errors": errors}
    report |= {"elapsed_s": elapsed, "acked": acked}
    conn.send_bytes(json.dumps(report).encode())


def _latency(
    conn: RespConnection, lists: list[str], items: list[str], requests: int
) -> list[float]:
    """One write+WAIT at a time: each round trip in ms, sorted."""
    rng = random.Random(99)
    samples = []
    for _ in range(requests):
        frame = _write(rng.choice(lists), rng.choice(items), 1)
        t0 = time.perf_counter()
        conn.send(frame)
        conn.read()
        conn.read()
        samples.append((time.perf_counter() - t0) * 1e3)
    return sorted(samples)


def verify(conn: RespConnection, expected: dict[str, dict[str, int]]) -> int:
    """The acknowledged quantity the primary lacks: per field, ``expected``
    (preload's 1 plus every acknowledged increment) above what HGETALL shows."""
    lost = 0
    ids = list(expected)
    for k in range(0, len(ids), 1000):
        part = ids[k : k + 1000]
        conn.send(b"".join(encode_command("HGETALL", f"list:{lid}") for lid in part))
        for lid in part:
            flat = conn.read()
            fields = flat if isinstance(flat, list) else []
            have = {fields[i]: int(fields[i + 1]) for i in range(0, len(fields) - 1, 2)}  # type: ignore[arg-type]
            for item, qty in expected[lid].items():
                lost += max(0, qty - have.get(item.encode(), 0))
    return lost


def measure_redis(
    var: Path,
    *,
    clients: int,
    window: int,
    seconds: float,
    lists: int,
    items: int,
    read_ratio: float,
    latency_requests: int,
    prebuild: int,
) -> dict[str, Any]:
    """The Redis figures (``redis_*`` keys; ``redis`` alone, saying why, if
    ``redis-server`` is not installed). Its files under ``var`` are removed.

    Raises:
        RuntimeError: Redis did not start, or a load process gave no report.
    """
    server = redis_server()
    if server is None:
        return {"redis": "not installed: apt-get install redis-server"}
    base = var / f"redis-{os.getpid()}"
    item_names = [f"item-{i:02d}" for i in range(items)]
    list_ids = [str(uuid.uuid4()) for _ in range(lists)]
    spawn = mp.get_context("spawn")
    procs: list[BaseProcess] = []
    try:
        with RedisReplicaSet(server, base) as redis:
            main = redis.connect(redis.primary_port)
            t0 = time.monotonic()
            preload(main, list_ids, item_names)
            preload_s = time.monotonic() - t0
            lat = _latency(main, list_ids, item_names, latency_requests)
            conns = []
            for c in range(clients):
                kw = {"port": redis.primary_port, "lists": list_ids, "items": item_names}
                kw |= {"window": window, "seconds": seconds, "read_ratio": read_ratio}
                kw |= {"seed": c + 1, "prebuild": prebuild}
                parent, child = spawn.Pipe()
                proc = spawn.Process(target=_load_main, args=(child, json.dumps(kw).encode()))
                proc.daemon = True
                proc.start()
                child.close()
                procs.append(proc)
                conns.append(parent)
            for conn in conns:
                if not conn.poll(120):
                    raise RuntimeError("a redis load process did not get ready")
                conn.recv_bytes()
            cpu0 = cpu_seconds(redis.procs[0].pid)
            for conn in conns:
                conn.send_bytes(b"go")
            reports = []
            for conn in conns:
                if not wait([conn], timeout=seconds + 60):
                    raise RuntimeError("a redis load process gave no report")
                reports.append(json.loads(conn.recv_bytes()))
            cpu_s = cpu_seconds(redis.procs[0].pid) - cpu0
            expected: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(item_names, 1))
            for r in reports:
                for lid, per_item in r["acked"].items():
                    for item, qty in per_item.items():
                        expected[lid][item] += qty
            lost = verify(main, expected)
            main.close()
    finally:
        for load in procs:
            load.join(5)
            if load.is_alive():
                load.kill()
        shutil.rmtree(base, ignore_errors=True)
    elapsed = max(r["elapsed_s"] for r in reports)
    return {
        "redis_writes_per_s": round(sum(r["writes"] for r in reports) / elapsed, 1),
        "redis_reads_per_s": round(sum(r["reads"] for r in reports) / elapsed, 1),
        "redis_p50_ms": round(statistics.median(lat), 3),
        "redis_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
        "redis_lost_writes": lost,
        "redis_unreplicated_writes": sum(r["weak"] + r["errors"] for r in reports),
        "redis_server_cpu_s": round(cpu_s, 2),
        "redis_preload_s": round(preload_s, 2),
        "redis_lists_verified": len(expected),
        "redis_ack": f"{REDIS_ACK}; ours: {OUR_ACK}",
    }


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        print(
            measure_redis(
                Path("var/bench"),
                clients=4,
                window=64,
                seconds=5,
                lists=1000,
                items=30,
                read_ratio=0.1,
                latency_requests=2000,
                prebuild=30_000,
            )
        )
