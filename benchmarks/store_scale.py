"""One server's store against the number of lists it holds.

Run: ``python benchmarks/store_scale.py [--lists 1000 60000] [--cache-lists 4096]
[--writes 20000] [--gc default clock]``

Fills a :class:`~actors.server.store.ListStore` in a temporary folder with lists
of 30 items, then times one-item deltas to random lists, merged in batches
of 8 as a loaded server does (decode the delta, merge, store, commit). With
more lists than ``--cache-lists``, most writes load a list from SQLite:
this is the cost that separates ``run.py bench --lists 100000`` from the
default 1,000. ``--gc`` compares CPython's automatic collection with the
clock a cluster process runs it on (:mod:`actors.kernel.collector`), and reports
the longest collection pause of each.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
import uuid
from pathlib import Path

from actors.kernel.collector import CollectorClock, take_over
from actors.server import ListStore, Update
from crdt import ShoppingList

ITEMS = 30
BATCH = 8


def measure(lists: int, cache_lists: int, writes: int, clock: bool) -> tuple[float, float]:
    """(µs per write, longest collection pause in ms); the collector is restored after."""
    pauses: list[float] = []
    started: list[float] = []

    def timing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            pauses.append(time.perf_counter() - started[0])

    if clock:
        take_over()  # as a cluster process does at start, before it loads any list
    collector = CollectorClock()
    gc.callbacks.append(timing)
    rng = random.Random(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = ListStore(Path(tmp) / "lists.db", cache_lists=cache_lists)
            try:
                return _run(store, rng, lists, writes, collector if clock else None, pauses)
            finally:
                store.close()
    finally:
        gc.callbacks.remove(timing)
        gc.unfreeze()
        gc.enable()


def _run(
    store: ListStore,
    rng: random.Random,
    lists: int,
    writes: int,
    collector: CollectorClock | None,
    pauses: list[float],
) -> tuple[float, float]:
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(lists)]
    for start in range(0, lists, 500):
        batch: list[Update] = []
        for list_id in ids[start : start + 500]:
            s = ShoppingList(list_id, "filler")
            for i in range(ITEMS):
                s.add(f"item-{i:02d}", 2)
            batch.append((list_id, s))
        store.merge_many(batch)
    # Deltas from one client replica per list, made before the clock.
    clients: dict[str, ShoppingList] = {}
    deltas = []
    for _ in range(writes):
        list_id = rng.choice(ids)
        client = clients.setdefault(list_id, ShoppingList(list_id, "client"))
        deltas.append((list_id, client.add(f"item-{rng.randrange(ITEMS):02d}").encode()))
    gc.collect()  # start both modes from a collected heap: the fill is not timed
    pauses.clear()
    t0 = time.perf_counter()
    due = t0 + (collector.interval_s if collector is not None else 0.0)
    for start in range(0, writes, BATCH):
        # As a server: the bytes a delta came in are what its delta row keeps.
        store.merge_many(
            (list_id, ShoppingList.decode(blob), blob)
            for list_id, blob in deltas[start : start + BATCH]
        )
        if collector is not None and time.perf_counter() >= due:
            collector.collect()  # a process's main thread does this on a timer
            due += collector.interval_s
    elapsed_s = time.perf_counter() - t0
    return elapsed_s / writes * 1e6, max(pauses, default=0.0) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, nargs="*", default=[1_000, 60_000])
    parser.add_argument("--cache-lists", type=int, default=4096)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument(
        "--gc", nargs="*", choices=["default", "clock"], default=["default", "clock"]
    )
    args = parser.parse_args()
    print(f"{'lists':>7} {'cache':>6} {'gc':>8} {'us/write':>9} {'max pause ms':>13}")
    for lists in args.lists:
        for mode in args.gc:
            us, pause_ms = measure(lists, args.cache_lists, args.writes, mode == "clock")
            print(
                f"{lists:>7,} {args.cache_lists:>6} {mode:>8} {us:>9.1f} {pause_ms:>13.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
