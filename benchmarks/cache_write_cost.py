"""CPU a server's store spends on a write to a cached list, and on the read after it.

Run: ``python -m benchmarks.cache_write_cost [--items 30 300] [--lists 100]
[--deltas 60]``

A :class:`~actors.server.store.ListStore` in a temporary folder holds
``--lists`` lists of ``--items`` items, each stored whole by a preload
replica and read once, all cached. Then ``--deltas`` deltas per list from
four writers (as :mod:`benchmarks.cache_memory` makes them), to random
lists; per write: ``merge_many`` of the decoded delta (as a server: with
the bytes it came in), its join (``join_pending``), and a ``get`` (which
encodes the list again). It prints the median CPU µs (``time.thread_time``) of each step (the
decode is not timed); ``--repeat`` runs, the best median of each.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from actors.server import ListStore
from benchmarks.cache_memory import replica_ids
from crdt import ShoppingList


def measure(items: int, lists: int, deltas: int, seed: int = 1) -> dict[str, float]:
    """Median µs of ``merge_many``, ``join_pending`` and ``get`` per write."""
    rng = random.Random(seed)
    preload_id, writer_ids = replica_ids(rng, 4)
    names = [f"item-{i:03d}" for i in range(items)]
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(lists)]
    states = []
    for list_id in ids:
        state = ShoppingList(list_id, preload_id, "list")
        for name in names:
            state.add(name, 1)
        states.append((list_id, state.encode()))
    copies = {(w, i): ShoppingList(i, writer_ids[w]) for w in range(4) for i in ids}
    sent = []
    for _ in range(lists * deltas):
        list_id, w = rng.choice(ids), rng.randrange(4)
        blob = copies[(w, list_id)].add(rng.choice(names), rng.randint(1, 3)).encode()
        sent.append((list_id, blob))
    steps: dict[str, list[float]] = {"merge_many": [], "join_pending": [], "get": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = ListStore(Path(tmp) / "lists.db", "normal")
        try:
            for list_id, blob in states:
                store.merge_many([(list_id, ShoppingList.decode(blob), blob)])
                store.get(list_id)
            for list_id, blob in sent:
                update = (list_id, ShoppingList.decode(blob), blob)
                t0 = time.thread_time()
                store.merge_many([update])
                t1 = time.thread_time()
                store.join_pending()
                t2 = time.thread_time()
                store.get(list_id)
                t3 = time.thread_time()
                steps["merge_many"].append(t1 - t0)
                steps["join_pending"].append(t2 - t1)
                steps["get"].append(t3 - t2)
        finally:
            store.close()
    return {step: statistics.median(times) * 1e6 for step, times in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="*", default=[30, 300])
    parser.add_argument("--lists", type=int, default=100)
    parser.add_argument("--deltas", type=int, default=60, help="deltas per list")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for items in args.items:
        runs = [measure(items, args.lists, args.deltas, seed) for seed in range(1, args.repeat + 1)]
        best = {step: min(run[step] for run in runs) for step in runs[0]}
        figures = "  ".join(f"{step} {us:6.1f} µs" for step, us in best.items())
        print(f"{items:>4} items: {figures}", flush=True)


if __name__ == "__main__":
    main()
