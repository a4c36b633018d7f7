"""The quorum baseline: a forward-only, batched N=3 / W=2 proxy, no logic.

What the cluster's request path costs at the least with the same parts
(pyzmq, one Python poll loop, ROUTER/DEALER), measured on this machine now:

``clients`` load processes (``window`` requests outstanding each, frames
the size of a shoplist delta write, plaintext) -> one proxy process (a
ROUTER frontend, one DEALER per server) -> five echo "server" processes.

For each request the proxy picks 3 consecutive servers of 5 by the md5 of
the list id the frame carries, as a ring would. What one poll pass read
from the clients goes out as ONE batch message per server (multipart: the
packed request ids, then the frames); a server answers a batch with one
ack (the ids). The proxy answers a client at a request's second ack (W=2)
and forgets it at the third. No CRDT, no storage, no security: any cost
above this is ours.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import statistics
import time
from array import array
from multiprocessing.connection import Connection, wait
from typing import Any, Final

import zmq

from benchmarks.baseline import echo_main

__all__ = ["make_frames", "measure_quorum_baseline"]

SERVERS: Final = 5
N: Final = 3
W: Final = 2
#: The size of a shoplist delta write on the wire (a Put of one item's delta).
FRAME_BYTES: Final = 180
_NOBLOCK: Final = int(zmq.NOBLOCK)


def make_frames(count: int, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """``count`` request frames of ``frame_bytes``: an 8-byte request number,
    a 36-character list id (md5-placed by the proxy), then padding."""
    frames = []
    for k in range(count):
        head = k.to_bytes(8, "little") + f"{k:08d}-0000-4000-8000-000000000000".encode()
        frames.append(head + b"x" * max(0, frame_bytes - len(head)))
    return frames


def _echo_main(conn: Connection) -> None:
    """A server: answers each batch [ids, frame...] with one ack [ids]
    (the routing id and the packed ids: the batch's first two frames)."""
    echo_main(conn, frames=2)


def _proxy_main(conn: Connection, backends: list[str]) -> None:
    """The proxy: see the module docstring. Runs until ``conn`` has a message."""
    ctx: zmq.Context[Any] = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    front.setsockopt(zmq.LINGER, 0)
    front.bind("tcp://127.0.0.1:0")
    backs = []
    for ep in backends:
        back = ctx.socket(zmq.DEALER)
        back.setsockopt(zmq.LINGER, 0)
        back.connect(ep)
        backs.append(back)
    conn.send_bytes(front.getsockopt_string(zmq.LAST_ENDPOINT).encode())
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    for back in backs:
        poller.register(back, zmq.POLLIN)
    # request number -> [acks so far, client routing id, client's 8-byte tag]
    inflight: dict[int, list[Any]] = {}
    next_id = 0
    while not conn.poll(0):
        events = dict(poller.poll(100))
        if front in events:
            batches: list[list[bytes]] = [[] for _ in backs]
            ids: list[array[int]] = [array("Q") for _ in backs]
            for _ in range(4096):
                try:
                    ident, frame = front.recv_multipart(_NOBLOCK)
                except zmq.Again:
                    break
                next_id += 1
                inflight[next_id] = [0, ident, frame[:8]]
                first = hashlib.md5(frame[8:44]).digest()[0] % SERVERS
                for s in range(first, first + N):
                    ids[s % SERVERS].append(next_id)
                    batches[s % SERVERS].append(frame)
            for back, batch, packed in zip(backs, batches, ids, strict=True):
                if batch:
                    back.send_multipart([packed.tobytes(), *batch])
        for back in backs:
            if back not in events:
                continue
            for _ in range(1024):
                try:
                    packed_ack = back.recv(_NOBLOCK)
                except zmq.Again:
                    break
                for req in array("Q", packed_ack):
                    entry = inflight[req]
                    entry[0] += 1
                    if entry[0] == W:
                        front.send_multipart([entry[1], entry[2]])
                    elif entry[0] == N:
                        del inflight[req]
    front.close(0)
    for back in backs:
        back.close(0)
    ctx.term()


def _client_main(conn: Connection, endpoint: str, window: int, seconds: float, seed: int) -> None:
    """A load process: prebuilt frames, ``window`` outstanding, for ``seconds``
    after "go"; reports its answer count and elapsed time as JSON."""
    frames = make_frames(4096)
    frames = frames[seed % 7 :] + frames[: seed % 7]  # clients start on different lists
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    conn.send_bytes(b"ready")
    conn.recv_bytes()  # go
    answered = outstanding = k = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        while outstanding < window:
            sock.send(frames[k & 4095])
            k += 1
            outstanding += 1
        if sock.poll(100):
            for _ in range(window):
                try:
                    sock.recv(_NOBLOCK)
                except zmq.Again:
                    break
                outstanding -= 1
                answered += 1
    elapsed = time.perf_counter() - start
    sock.close(0)
    ctx.term()
    conn.send_bytes(json.dumps({"answered": answered, "elapsed_s": elapsed}).encode())


def _one_at_a_time(endpoint: str, requests: int) -> list[float]:
    """One client, one request at a time: each round trip in ms, sorted."""
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    frames = make_frames(1024)
    samples = []
    try:
        for k in range(200 + requests):  # the first 200 warm the connections up
            t0 = time.perf_counter()
            sock.send(frames[k & 1023])
            if not sock.poll(5000):
                raise RuntimeError("the quorum baseline's proxy stopped answering")
            sock.recv()
            if k >= 200:
                samples.append((time.perf_counter() - t0) * 1e3)
    finally:
        sock.close(0)
        ctx.term()
    return sorted(samples)


def measure_quorum_baseline(
    clients: int = 4, window: int = 64, seconds: float = 5.0, one_at_a_time: int = 3000
) -> dict[str, float]:
    """One client's round trip (p50, p99) and ``clients`` x ``window``
    pipelined writes/s through the quorum proxy; every process it starts is
    stopped however it ends.

    Raises:
        RuntimeError: a process did not start, or a load client gave no report.
    """
    spawn = mp.get_context("spawn")
    procs: list[tuple[Connection, mp.process.BaseProcess]] = []

    def start(target: Any, *args: Any) -> tuple[Connection, str]:
        parent, child = spawn.Pipe()
        proc = spawn.Process(target=target, args=(child, *args), daemon=True)
        proc.start()
        child.close()
        procs.append((parent, proc))
        if not parent.poll(30):
            raise RuntimeError(f"{target.__name__} did not start")
        return parent, parent.recv_bytes().decode()

    try:
        echoes = [start(_echo_main)[1] for _ in range(SERVERS)]
        _, endpoint = start(_proxy_main, echoes)
        lat = _one_at_a_time(endpoint, one_at_a_time)
        loads = [start(_client_main, endpoint, window, seconds, c)[0] for c in range(clients)]
        for conn in loads:
            conn.send_bytes(b"go")
        reports = []
        for conn in loads:
            if not wait([conn], timeout=seconds + 30):
                raise RuntimeError("a quorum baseline load client gave no report")
            reports.append(json.loads(conn.recv_bytes()))
    finally:
        for conn, proc in procs:
            if proc.is_alive():
                with contextlib.suppress(OSError):  # it closed its end: it is exiting anyway
                    conn.send_bytes(b"stop")
        for _, proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    elapsed = max(r["elapsed_s"] for r in reports)
    return {
        "baseline_quorum_writes_per_s": round(sum(r["answered"] for r in reports) / elapsed, 1),
        "baseline_quorum_p50_ms": round(statistics.median(lat), 3),
        "baseline_quorum_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
    }


if __name__ == "__main__":
    print(measure_quorum_baseline())
