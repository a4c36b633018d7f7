"""The raw baseline: what ZeroMQ and Python cost on this machine, measured now.

A client -> forwarding process -> echo process chain, built from the same
parts as the cluster (pyzmq, a Python poll loop, ROUTER/DEALER), carrying
frames the size of a shoplist write. Measured one request at a time (the
floor of any request latency) and pipelined (the ceiling of messages per
second through one Python forwarder).
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import zmq

__all__ = ["echo_main", "measure_baseline"]


def echo_main(conn: Connection, frames: int | None = None) -> None:
    """An echo process: a ROUTER on an ephemeral port (its endpoint sent on
    ``conn``) that answers each message with the message itself, or with
    its first ``frames`` frames, until ``conn`` has a message."""
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:0")
    conn.send_bytes(sock.getsockopt_string(zmq.LAST_ENDPOINT).encode())
    while not conn.poll(0):
        if sock.poll(100):
            for _ in range(1024):
                try:
                    parts = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                sock.send_multipart(parts if frames is None else parts[:frames])
    sock.close(0)
    ctx.term()


def _forwarder_main(conn: Connection, backend: str) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    back = ctx.socket(zmq.DEALER)
    for s in (front, back):
        s.setsockopt(zmq.LINGER, 0)
    front.bind("tcp://127.0.0.1:0")
    back.connect(backend)
    conn.send_bytes(front.getsockopt_string(zmq.LAST_ENDPOINT).encode())
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
    while not conn.poll(0):
        for sock, _ in poller.poll(100):
            other = back if sock is front else front
            for _ in range(1024):
                try:
                    other.send_multipart(sock.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
    front.close(0)
    back.close(0)
    ctx.term()


def measure_baseline(
    payload_bytes: int = 160, one_at_a_time: int = 3000, pipelined_s: float = 2.0, window: int = 256
) -> dict[str, float]:
    """Round-trip latency one at a time, and pipelined messages per second."""
    spawn = mp.get_context("spawn")
    echo_conn, echo_child = spawn.Pipe()
    echo = spawn.Process(target=echo_main, args=(echo_child,), daemon=True)
    echo.start()
    echo_ep = echo_conn.recv_bytes().decode()
    fwd_conn, fwd_child = spawn.Pipe()
    fwd = spawn.Process(target=_forwarder_main, args=(fwd_child, echo_ep), daemon=True)
    fwd.start()
    fwd_ep = fwd_conn.recv_bytes().decode()
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(fwd_ep)
    payload = b"x" * payload_bytes
    try:
        for _ in range(200):  # warm up the connections
            sock.send(payload)
            sock.recv()
        samples = []
        for _ in range(one_at_a_time):
            t0 = time.perf_counter()
            sock.send(payload)
            sock.recv()
            samples.append(time.perf_counter() - t0)
        done = 0
        outstanding = 0
        end = time.perf_counter() + pipelined_s
        start = time.perf_counter()
        while time.perf_counter() < end:
            while outstanding < window:
                sock.send(payload)
                outstanding += 1
            sock.poll(100)
            for _ in range(window):
                try:
                    sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                outstanding -= 1
                done += 1
        elapsed = time.perf_counter() - start
        while outstanding:
            if not sock.poll(1000):
                break
            sock.recv()
            outstanding -= 1
    finally:
        sock.close(0)
        ctx.term()
        for conn, proc in ((fwd_conn, fwd), (echo_conn, echo)):
            conn.send_bytes(b"stop")
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    samples.sort()
    return {
        "baseline_p50_ms": statistics.median(samples) * 1e3,
        "baseline_p99_ms": samples[int(len(samples) * 0.99)] * 1e3,
        "baseline_pipelined_msgs_per_s": done / elapsed,
    }


if __name__ == "__main__":
    print(measure_baseline())
