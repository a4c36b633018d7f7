"""One server's store as it grows to a large cluster's share of lists: CPU per write.

Run: ``python -m benchmarks.store_growth [--lists 600000] [--step 50000]
[--cache-lists 65536] [--writes 20000] [--db PATH]``

What ``run.py bench --lists 1000000`` asks of each of its 5 servers (N=3:
~600,000 lists each), in process, no sockets, timed in CPU seconds
(``time.process_time``, so other work on the machine counts less):

(a) *preload*: whole new 30-item lists, as the bench's Puts bring them
    (decode, write gate with a writer, ``merge_many`` in batches of
    ``--batch``), per ``--step`` lists as the store grows;
(b) *deltas*: one-item adds to random lists among all of them, through
    the gate too, with the server's default cache (``--cache-lists``),
    after a warm-up that fills the cache as a running server's would be.

``--db`` keeps the filled file: a later run with the same path and
``--lists`` skips (a) and times (b) on it (``--fresh`` refills it).
``--profile FILE`` writes a cProfile of the phase named by ``--phase``.
``--gc clock`` (the default) runs the cyclic collector as a cluster
process does (:mod:`actors.kernel.collector`: automatic collection off,
one round of the clock every interval, between polls); ``--gc default``
leaves CPython's thresholds on, which collect far more often here (more
than half of a delta's CPU at 600,000 lists).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import zmq
from zmq.utils import z85

from actors.kernel.collector import CollectorClock, take_over
from actors.server import ListStore, WriteGate
from crdt import ShoppingList, replica_id_for
from protocol import Store

ITEMS = 30


def _ids(count: int) -> list[str]:
    rng = random.Random(7)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def _put(store_gate: WriteGate, store: ListStore, writer: str, frames: list[Store]) -> None:
    """What a server does with one poll of Puts: decode, admit, merge, commit."""
    store_gate.begin()
    updates = []
    for msg in frames:
        state = ShoppingList.decode(msg.state)
        if store_gate.admit(msg, state) is not None:
            raise RuntimeError("an honest write was not admitted")
        updates.append((msg.list_id, state, msg.state))
    store.merge_many(updates)


class _Clock:
    """The collector as a cluster process runs it (``--gc clock``): a round
    whenever its interval passed, after a poll; nothing with ``--gc default``."""

    def __init__(self) -> None:
        self.clock: CollectorClock | None = None
        self.due = 0.0

    def start(self, clock: CollectorClock | None) -> None:
        self.clock = clock
        self.due = time.monotonic() + (clock.interval_s if clock is not None else 0.0)

    def tick(self) -> None:
        if self.clock is not None and time.monotonic() >= self.due:
            self.clock.collect()
            self.due = time.monotonic() + self.clock.interval_s


#: the collector of this run (started by :func:`main`)
_clock = _Clock()


def _timed_poll(
    store_gate: WriteGate,
    store: ListStore,
    writer: str,
    frames: list[Store],
    prof: cProfile.Profile | None,
) -> float:
    """CPU seconds of one poll (:func:`_put`), the tick after it and any
    collection due, profiled into ``prof``."""
    t0 = time.process_time()
    if prof is not None:
        prof.enable()
    _put(store_gate, store, writer, frames)
    store.maintain()  # the server's tick
    _clock.tick()
    if prof is not None:
        prof.disable()
    return time.process_time() - t0


def preload(
    store: ListStore,
    gate: WriteGate,
    writer: str,
    replica: str,
    ids: list[str],
    step: int,
    batch: int,
    prof: cProfile.Profile | None,
) -> None:
    """Phase (a): store ``ids`` as new lists; print CPU µs per list per ``step``."""
    print(f"{'lists':>9} {'us/list (cpu)':>14} {'lists/s (cpu)':>14}", flush=True)
    for start in range(0, len(ids), step):
        cpu = 0.0
        chunk = ids[start : start + step]
        for b in range(0, len(chunk), batch):
            frames = []
            for list_id in chunk[b : b + batch]:
                s = ShoppingList(list_id, replica)
                for i in range(ITEMS):
                    s.add(f"item-{i:02d}", 2)
                frames.append(Store(list_id=list_id, state=s.encode(), writer=writer))
            cpu += _timed_poll(gate, store, writer, frames, prof)
        us = cpu / len(chunk) * 1e6
        print(f"{start + len(chunk):>9,} {us:>14.1f} {1e6 / us:>14,.0f}", flush=True)


def deltas(
    store: ListStore,
    gate: WriteGate,
    writer: str,
    replica: str,
    ids: list[str],
    writes: int,
    warmup: int,
    batch: int,
    prof: cProfile.Profile | None,
) -> float:
    """Phase (b): CPU µs per one-item delta to a random list (after ``warmup`` untimed)."""
    rng = random.Random(3)
    device = replica_id_for(z85.decode(writer), "phone")  # not the preload's counter
    clients: dict[str, ShoppingList] = {}

    def frames(n: int) -> list[Store]:
        out = []
        for _ in range(n):
            list_id = rng.choice(ids)
            client = clients.get(list_id)
            if client is None:
                client = clients[list_id] = ShoppingList(list_id, device)
            out.append(
                Store(
                    list_id=list_id,
                    state=client.add(f"x-{rng.randrange(99)}").encode(),
                    writer=writer,
                )
            )
        return out

    for _ in range(0, warmup, batch):
        _put(gate, store, writer, frames(batch))
        store.maintain()
        _clock.tick()
    cpu = 0.0
    for _ in range(0, writes, batch):
        cpu += _timed_poll(gate, store, writer, frames(batch), prof)
    return cpu / writes * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lists", type=int, default=600_000)
    p.add_argument("--step", type=int, default=50_000)
    p.add_argument("--cache-lists", type=int, default=65_536)
    p.add_argument("--writes", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=8, help="writes per poll")
    p.add_argument("--db", type=Path, help="keep the filled store here")
    p.add_argument("--fresh", action="store_true", help="refill --db")
    p.add_argument("--profile", type=Path)
    p.add_argument("--phase", choices=["preload", "deltas"], default="deltas")
    p.add_argument("--gc", choices=["clock", "default"], default="clock")
    args = p.parse_args(argv)
    if args.gc == "clock":
        take_over()  # as a cluster process does at start, before it loads any list
        _clock.start(CollectorClock())
    try:
        return _main(args)
    finally:
        _clock.start(None)
        gc.unfreeze()
        gc.enable()


def _main(args: argparse.Namespace) -> int:
    tmp = tempfile.mkdtemp()
    path = args.db or Path(tmp) / "lists.db"
    if args.fresh and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    filled = path.exists()
    public, _ = zmq.curve_keypair()
    writer = public.decode()
    replica = replica_id_for(z85.decode(public), "bench")
    ids = _ids(args.lists)
    prof = cProfile.Profile() if args.profile else None
    try:
        store = ListStore(path, cache_lists=args.cache_lists)
        gate = WriteGate(store, "s1")
        if not filled:
            preload(
                store,
                gate,
                writer,
                replica,
                ids,
                args.step,
                args.batch,
                prof if args.phase == "preload" else None,
            )
        else:
            print(f"reusing {path} ({store.count():,} lists)")
        us = deltas(
            store,
            gate,
            writer,
            replica,
            ids,
            args.writes,
            args.warmup,
            args.batch,
            prof if args.phase == "deltas" else None,
        )
        print(
            f"deltas to random lists of {args.lists:,} (cache {args.cache_lists:,}, "
            f"collector {args.gc}): "
            f"{us:.1f} us/write cpu ({1e6 / us:,.0f}/s)",
            flush=True,
        )
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if prof is not None:
        prof.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
