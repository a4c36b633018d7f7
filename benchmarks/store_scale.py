"""One server's store against the number of lists it holds.

Run: ``python benchmarks/store_scale.py [--lists 1000 60000] [--cache-lists 4096]
[--writes 20000] [--gc default tuned]``

Fills a :class:`~actors.storage.ListStore` in a temporary folder with lists
of 30 items, then times one-item deltas to random lists, merged in batches
of 8 as a loaded server does (decode the delta, merge, encode, commit). With
more lists than ``--cache-lists``, most writes load a list from SQLite:
this is the cost that separates ``run.py bench --lists 100000`` from the
default 1,000. ``--gc`` compares CPython's collector thresholds with the
ones a cluster process uses (:func:`actors.process.tune_gc`).
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
import uuid
from pathlib import Path

from actors.process import tune_gc
from actors.storage import ListStore
from crdt import ShoppingList

ITEMS = 30
BATCH = 8


def measure(lists: int, cache_lists: int, writes: int, tuned: bool) -> float:
    """Microseconds per write; the collector is restored afterwards."""
    thresholds = gc.get_threshold()
    if tuned:
        tune_gc()  # as a cluster process does at start, before it loads any list
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = ListStore(Path(tmp) / "lists.db", cache_lists=cache_lists)
        try:
            ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(lists)]
            for start in range(0, lists, 500):
                batch = []
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
            t0 = time.perf_counter()
            for start in range(0, writes, BATCH):
                store.merge_many(
                    (list_id, ShoppingList.decode(blob))
                    for list_id, blob in deltas[start : start + BATCH]
                )
            return (time.perf_counter() - t0) / writes * 1e6
        finally:
            store.close()
            gc.unfreeze()
            gc.set_threshold(*thresholds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, nargs="*", default=[1_000, 60_000])
    parser.add_argument("--cache-lists", type=int, default=4096)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument(
        "--gc", nargs="*", choices=["default", "tuned"], default=["default", "tuned"]
    )
    args = parser.parse_args()
    print(f"{'lists':>7} {'cache':>6} {'gc':>8} {'us/write':>9}")
    for lists in args.lists:
        for mode in args.gc:
            us = measure(lists, args.cache_lists, args.writes, mode == "tuned")
            print(f"{lists:>7,} {args.cache_lists:>6} {mode:>8} {us:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
