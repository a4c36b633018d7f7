"""The least CPU a replicated, durable write can cost here: ``python -m benchmarks.floor``.

Measures, in one run on this machine:

* the quorum baseline (:mod:`benchmarks.quorum_baseline`: a forward-only
  Python proxy, N=3, answer at the second ack, five echo processes), and
  the CPU per write it implies when its load saturates the machine's cores;
* what each replica of any design like ours must add to that, whatever its
  CRDT and caching: decode the frame into a typed message and its delta
  (:func:`protocol.decode`, :meth:`crdt.ShoppingList.decode`), and append
  the delta to SQLite in WAL mode (``synchronous=NORMAL``, as
  ``durability = "normal"``) in transactions of ``--batch`` rows, as a
  loaded server's group commit does;
* the write path of this code's server without sockets (decode, write gate,
  merge, commit and join of a client's one-item add to a cached list,
  ``--batch`` per transaction), for comparison.

It prints the floor per write (the baseline's CPU plus three replicas'
decode and append) and the writes/s that floor allows on these cores, over
the baseline's: the highest ``ratio_vs_quorum_baseline`` a design that
validates, merges and caches nothing could reach; and the same with this
code's server path in place of decode and append. CPU is thread CPU time
(``time.thread_time``), medians of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from actors.server import ListStore, Update, WriteGate
from benchmarks.gate_cost import fill
from benchmarks.quorum_baseline import measure_quorum_baseline
from crdt import ShoppingList
from protocol import Store, decode, encode

__all__ = ["decode_us", "main", "server_path_us", "sqlite_append_us"]

_APPEND = "INSERT INTO deltas (seq, list_id, state) VALUES (?, ?, ?)"


def _delta_frame(list_id: str) -> bytes:
    """A Store frame holding a one-item add, as the proxy sends one to a replica."""
    delta = ShoppingList(list_id, "r-floor").add("item-07", 2)
    return encode(Store(msg_id="p.1", sender="proxy", list_id=list_id, state=delta.encode()))


def decode_us(frames: int = 20_000) -> float:
    """CPU µs to decode one Store frame and the delta it carries."""
    frame = _delta_frame(str(uuid.uuid4()))
    t0 = time.thread_time()
    for _ in range(frames):
        msg = decode(frame)
        if not isinstance(msg, Store):
            raise RuntimeError("the Store frame made above decoded as another message")
        ShoppingList.decode(msg.state)
    return (time.thread_time() - t0) / frames * 1e6


def sqlite_append_us(rows: int = 20_000, batch: int = 8) -> float:
    """CPU µs to append one delta row in WAL mode, ``batch`` rows per transaction."""
    blob = ShoppingList(str(uuid.uuid4()), "r-floor").add("item-07", 2).encode()
    ids = [str(uuid.uuid4()) for _ in range(1000)]
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE deltas (seq INTEGER PRIMARY KEY, list_id TEXT NOT NULL, state BLOB)"
            )
            t0 = time.thread_time()
            for start in range(0, rows, batch):
                params = [(n, ids[n % len(ids)], blob) for n in range(start, start + batch)]
                if batch == 1:
                    db.execute(_APPEND, params[0])
                    continue
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_APPEND, params)
                db.execute("COMMIT")
            return (time.thread_time() - t0) / rows * 1e6
        finally:
            db.close()


def server_path_us(writes: int = 8000, batch: int = 8, lists: int = 200) -> float:
    """CPU µs per write of this code's server write path without sockets:
    a client's one-item adds to cached 30-item lists, ``batch`` per poll,
    through decode, the write gate, ``merge_many`` (one transaction) and the
    join of the deltas into the cache (``join_pending``)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = ListStore(Path(tmp) / "lists.db")
        try:
            gate = WriteGate(store, "s1")
            public, states = fill(store, lists, 30)
            rng = random.Random(1)
            frames = []
            for _ in range(writes):
                state = rng.choice(states)
                delta = state.add(f"item {rng.randrange(30)}")
                frames.append(
                    Store(list_id=state.list_id, state=delta.encode(), writer=public.decode())
                )
            t0 = time.thread_time()
            for start in range(0, writes, batch):
                gate.begin()
                updates: list[Update] = []
                for msg in frames[start : start + batch]:
                    decoded = ShoppingList.decode(msg.state)
                    if gate.admit(msg, decoded) is not None:
                        raise RuntimeError("an honest add was not admitted")
                    updates.append((msg.list_id, decoded, msg.state))
                store.merge_many(updates)
                store.join_pending()
            return (time.thread_time() - t0) / writes * 1e6
        finally:
            store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="the quorum baseline's load")
    p.add_argument("--batch", type=int, default=8, help="delta rows per transaction")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    dec = statistics.median(decode_us() for _ in range(args.repeat))
    app = statistics.median(sqlite_append_us(batch=args.batch) for _ in range(args.repeat))
    ours = statistics.median(server_path_us(batch=args.batch) for _ in range(args.repeat))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    quorum = measure_quorum_baseline(seconds=args.seconds)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    quorum_wps = quorum["baseline_quorum_writes_per_s"]
    quorum_us = cores * 1e6 / quorum_wps
    # Every CPU second of its processes, start-up and latency phase included:
    # an upper bound, next to the one saturated cores give.
    spent_s = sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
    spent_us = spent_s * 1e6 / (quorum_wps * args.seconds)
    floor_us = quorum_us + 3 * (dec + app)
    ceiling = cores * 1e6 / floor_us
    figures = {
        "cores": cores,
        "baseline_quorum_writes_per_s": round(quorum_wps, 1),
        "baseline_quorum_cpu_us_per_write": round(quorum_us, 1),
        "baseline_quorum_process_cpu_us_per_write": round(spent_us, 1),
        "replica_decode_us": round(dec, 2),
        "replica_sqlite_append_us": round(app, 2),
        "batch": args.batch,
        "floor_cpu_us_per_write": round(floor_us, 1),
        "floor_writes_per_s": round(ceiling, 1),
        "floor_over_quorum_baseline": round(ceiling / quorum_wps, 3),
        "server_path_us_per_replica_write": round(ours, 1),
        # The baseline's forwarding plus this server path at three replicas:
        # what this code could reach if its proxy and sockets cost no more
        # than the baseline's.
        "server_path_over_quorum_baseline": round(quorum_us / (quorum_us + 3 * ours), 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:34s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
