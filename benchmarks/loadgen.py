"""Load-generating clients for the cluster benchmark, one process each.

A client speaks the protocol on a plain DEALER socket (no actor, no local
store: it measures the cluster, not the client library), keeps ``window``
requests outstanding, and records a latency for each answer. Its writes are
real CRDT deltas made by its own replica of each list (90% deltas, 10% the
replica's whole state), so the servers do real merges. It keeps a ledger of
every write acknowledged with SAVED, for the final check that none was lost.

Any window may be asked for, also one above the proxy's per-client bound
(:mod:`actors.proxy.admission`): a request answered ``overloaded`` frees its
slot at once and the next is sent, so the client stays open-loop. Each
report counts its requests sent and, of its errors, those that were
``overloaded`` (``errors`` still counts every error answer).

Against a secured cluster the DEALER speaks CurveZMQ with the keys it is
given (:class:`~actors.kernel.CurveClient`); a process gets them in its
JSON arguments as ``"curve"``: :func:`curve_to_json`'s form, ``null`` for
plaintext. The bench gives every process the key that created its lists
(their owner: one person's devices), each connection with a routing id of
its own.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import zmq
from zmq.utils import z85

from actors.kernel import CurveClient, CurveKeys, apply_curve
from crdt import ShoppingList, replica_id_for
from protocol import ErrorReply, Get, ListReply, Put, Saved, decode, encode

__all__ = [
    "ClientReport",
    "client_main",
    "curve_from_json",
    "curve_to_json",
    "run_client",
    "spawn_client",
    "stop_clients",
]

#: zmq.NOBLOCK as a plain int: pyzmq converts enum flags in Python per call.
_NOBLOCK = int(zmq.NOBLOCK)


def curve_to_json(curve: CurveClient | None) -> list[str] | None:
    """``curve`` as JSON can carry it: [public, secret, server's public], each
    Z85 text; ``None`` (plaintext) stays ``None``. The secret goes to a
    child process's pipe only, never to a log."""
    if curve is None:
        return None
    return [curve.keys.public.decode(), curve.keys.secret.decode(), curve.server_public.decode()]


def writer_replica(curve: CurveClient | None, device: str) -> str:
    """The replica id a client with ``curve``'s key edits under: a secured
    cluster lets a key mint dots only under its own ids. Plaintext (no key
    to check against): ``device`` alone. ``device``: 1 to 32 of [0-9a-z]."""
    if curve is None:
        return device
    return replica_id_for(z85.decode(curve.keys.public), device)


def curve_from_json(value: list[str] | None) -> CurveClient | None:
    """The inverse of :func:`curve_to_json`.

    Raises:
        ValueError: ``value`` is not ``None`` nor three strings.
    """
    if value is None:
        return None
    if len(value) != 3 or not all(isinstance(v, str) for v in value):
        raise ValueError("curve keys must be [public, secret, server public] as Z85 text")
    public, secret, server_public = (v.encode() for v in value)
    return CurveClient(CurveKeys(public, secret), server_public, keyed=True)


@dataclass
class ClientReport:
    writes: int
    reads: int
    errors: int
    timeouts: int
    latencies_ms: list[float]
    acked: dict[str, dict[str, int]]  # list id -> item -> acknowledged quantity
    elapsed_s: float
    sent: int = 0  # requests sent (answered, timed out, or still in flight at the end)
    overloaded: int = 0  # of ``errors``, the answers with code "overloaded"


class Workload:
    """The requests of one client, made ahead of the clock when asked to.

    Each request is (msg_id, frame, list id, item, quantity); reads have an
    empty item. Writes are real deltas of this client's replicas (10% the
    replica's whole state instead), under ``replica_id`` (by default one
    made of ``name`` and ``seed``, of no key: for a plaintext cluster).
    """

    def __init__(
        self,
        name: str,
        lists: list[str],
        items: list[str],
        read_ratio: float,
        full_ratio: float,
        seed: int,
        replica_id: str = "",
    ) -> None:
        self.name = name
        self.lists = lists
        self.items = items
        self.read_ratio = read_ratio
        self.full_ratio = full_ratio
        self.rng = random.Random(seed)
        self.replica_id = replica_id or f"{name}-{seed}"
        self.replicas: dict[str, ShoppingList] = {}
        self.made = 0
        self.ready: list[tuple[str, bytes, str, str, int]] = []

    def prepare(self, count: int) -> None:
        self.ready.extend(self._make() for _ in range(count))
        self.ready.reverse()  # pop() from the end in order

    def next(self) -> tuple[str, bytes, str, str, int]:
        return self.ready.pop() if self.ready else self._make()

    def _make(self) -> tuple[str, bytes, str, str, int]:
        rng = self.rng
        self.made += 1
        msg_id = f"{self.name}.{self.made}"
        list_id = rng.choice(self.lists)
        if rng.random() < self.read_ratio:
            return (
                msg_id,
                encode(Get(msg_id=msg_id, sender=self.name, list_id=list_id)),
                list_id,
                "",
                0,
            )
        replica = self.replicas.get(list_id)
        if replica is None:
            replica = self.replicas[list_id] = ShoppingList(list_id, self.replica_id)
        item, qty = rng.choice(self.items), rng.randint(1, 3)
        delta = replica.add(item, qty)
        blob = replica.encode() if rng.random() < self.full_ratio else delta.encode()
        frame = encode(Put(msg_id=msg_id, sender=self.name, list_id=list_id, state=blob))
        return msg_id, frame, list_id, item, qty


def run_client(
    endpoint: str,
    name: str,
    lists: list[str],
    items: list[str],
    seconds: float | None,
    max_requests: int | None,
    window: int,
    read_ratio: float,
    full_ratio: float = 0.1,
    seed: int = 0,
    progress: Connection | None = None,
    timeout_s: float = 5.0,
    workload: Workload | None = None,
    *,
    curve: CurveClient | None,
) -> ClientReport:
    """Drive the cluster until ``seconds`` pass or ``max_requests`` are answered,
    over CurveZMQ with ``curve`` (``None``: plaintext; a secured cluster
    answers nothing then)."""
    replica_id = writer_replica(curve, f"d{seed}") if curve is not None else ""
    work = workload or Workload(name, lists, items, read_ratio, full_ratio, seed, replica_id)
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    apply_curve(sock, curve)
    sock.connect(endpoint)
    inflight: dict[str, tuple[float, str, str, int]] = {}  # msg_id -> (t0, list, item, qty)
    acked: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latencies: list[float] = []
    writes = reads = errors = overloaded = timeouts = answered = sent = 0
    start = time.perf_counter()
    end = start + seconds if seconds is not None else float("inf")
    next_progress = start + 0.25
    try:
        while True:
            now = time.perf_counter()
            done = now >= end or (max_requests is not None and sent >= max_requests)
            while not done and len(inflight) < window:
                sent += 1
                msg_id, frame, list_id, item, qty = work.next()
                inflight[msg_id] = (time.perf_counter(), list_id, item, qty)
                sock.send(frame)
                done = max_requests is not None and sent >= max_requests
            if not inflight and done:
                break
            if sock.poll(100):
                for _ in range(window):
                    try:
                        frame = sock.recv(_NOBLOCK)
                    except zmq.Again:
                        break
                    reply = decode(frame)
                    entry = inflight.pop(getattr(reply, "reply_to", ""), None)
                    if entry is None:
                        continue
                    t0, list_id, item, qty = entry
                    answered += 1
                    latencies.append((time.perf_counter() - t0) * 1e3)
                    if isinstance(reply, Saved):
                        writes += 1
                        acked[list_id][item] += qty
                    elif isinstance(reply, ListReply):
                        reads += 1
                    elif isinstance(reply, ErrorReply):
                        errors += 1
                        if reply.code == "overloaded":
                            overloaded += 1
            now = time.perf_counter()
            if done:
                stale = [m for m, e in inflight.items() if now - e[0] > timeout_s]
                for m in stale:
                    del inflight[m]
                    timeouts += 1
            if progress is not None and now >= next_progress:
                next_progress = now + 0.25
                progress.send_bytes(json.dumps({"answered": answered}).encode())
    finally:
        sock.close(0)
        ctx.term()
    return ClientReport(
        writes=writes,
        reads=reads,
        errors=errors,
        timeouts=timeouts,
        latencies_ms=latencies,
        acked={k: dict(v) for k, v in acked.items()},
        elapsed_s=time.perf_counter() - start,
        sent=sent,
        overloaded=overloaded,
    )


def client_main(conn: Connection, kwargs_json: bytes) -> None:
    """Process entry point: make the requests, say ready, wait for go, run,
    then send the report as JSON. Making requests ahead keeps the load
    generator's own CPU out of the measured seconds (as a load tool should).

    ``kwargs_json`` holds :func:`run_client`'s keyword arguments, plus
    ``prebuild`` (requests made ahead) and ``curve`` (required:
    :func:`curve_to_json`'s form, ``null`` for plaintext).
    """
    kwargs = json.loads(kwargs_json)
    prebuild = kwargs.pop("prebuild", 0)
    curve = curve_from_json(kwargs.pop("curve"))
    workload = Workload(
        kwargs["name"],
        kwargs["lists"],
        kwargs["items"],
        kwargs["read_ratio"],
        kwargs.get("full_ratio", 0.1),
        kwargs["seed"],
        writer_replica(curve, f"d{kwargs['seed']}") if curve is not None else "",
    )
    workload.prepare(prebuild)
    conn.send_bytes(json.dumps({"ready": True}).encode())
    conn.recv_bytes()  # go
    report = run_client(progress=conn, workload=workload, curve=curve, **kwargs)
    conn.send_bytes(json.dumps({"report": report.__dict__}).encode())
    conn.close()


def spawn_client(kwargs: dict[str, Any]) -> tuple[Connection, BaseProcess]:
    """Start one load process (spawned, so it makes its own zmq context) with
    :func:`client_main`'s arguments (``kwargs["curve"]`` included: JSON-safe,
    see :func:`curve_to_json`); returns its pipe and the process."""
    spawn = mp.get_context("spawn")
    parent, child = spawn.Pipe()
    proc = spawn.Process(target=client_main, args=(child, json.dumps(kwargs).encode()), daemon=True)
    proc.start()
    child.close()
    return parent, proc


def stop_clients(procs: Sequence[BaseProcess], conns: Sequence[Connection]) -> None:
    """End load processes that run until told otherwise: terminate, then
    kill what is still alive after 5 s, and close their pipes."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    for conn in conns:
        conn.close()
