"""Merge and encoding cost of large shopping lists.

Run: ``python benchmarks/crdt_merge.py [--items 1000] [--replicas 5]``

Builds two copies of a list of ``--items`` items, each edited by
``--replicas`` replicas (adds, acquires and removes spread over all of them,
then synced among each half so the two copies have diverged), and prints the
median time of a full-state merge, a delta merge into the big list, encode
and decode, with the encoded sizes. Medians of ``--repeat`` timed runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

from crdt import ShoppingList
from crdt.shopping_list import RAWS_AFTER_ENCODES


def build(items: int, replicas: int) -> tuple[ShoppingList, ShoppingList, ShoppingList]:
    list_id = str(uuid.uuid4())
    reps = [ShoppingList(list_id, f"phone-{i}") for i in range(replicas)]
    for k in range(items):
        r = reps[k % replicas]
        r.add(f"item-{k:05d}", 1 + k % 4)
    for r in reps:
        for other in reps:
            r.merge(other)
    # diverge: every replica edits its own share of the items again
    for k in range(items):
        r = reps[k % replicas]
        name = f"item-{k:05d}"
        if k % 10 == 0:
            r.remove(name)
        elif k % 3 == 0:
            r.acquire(name, 1)
        else:
            r.add(name, 1)
    left, right = reps[0].copy(), reps[-1].copy()
    for r in reps[1 : replicas // 2 + 1]:
        left.merge(r)
    for r in reps[replicas // 2 + 1 : -1]:
        right.merge(r)
    delta = reps[0].add("item-00001", 2)
    return left, right, delta


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    left, right, delta = build(args.items, args.replicas)
    blob = left.encode()

    targets = iter([left.copy() for _ in range(args.repeat)])
    merge_s = timed(lambda: next(targets).merge(right), args.repeat)
    target = left.copy()
    delta_s = timed(lambda: target.merge(delta), args.repeat)
    fresh = iter([ShoppingList.decode(blob) for _ in range(args.repeat)])
    cold_s = timed(lambda: next(fresh).encode(), args.repeat)
    warm = ShoppingList.decode(blob, "bench")
    for _ in range(RAWS_AFTER_ENCODES + 1):  # until it keeps per-item bytes
        warm.encode()

    def edit_and_encode() -> None:
        warm.add("item-00002", 1)
        warm.encode()

    warm_s = timed(edit_and_encode, args.repeat)
    decode_s = timed(lambda: ShoppingList.decode(blob), args.repeat)
    dots = left.dot_count()
    print(f"{args.items} items edited by {args.replicas} replicas; {dots} live dots per copy")
    print(f"full-state merge                {merge_s * 1e3:8.3f} ms")
    print(f"delta merge (1 dot)             {delta_s * 1e3:8.3f} ms")
    print(f"encode, cold                    {cold_s * 1e3:8.3f} ms   {len(blob):,} bytes")
    print(f"one add, then encode (cached)   {warm_s * 1e3:8.3f} ms")
    print(f"decode + validate               {decode_s * 1e3:8.3f} ms")
    print(f"delta encoded size              {len(delta.encode()):8d} bytes")


if __name__ == "__main__":
    main()
