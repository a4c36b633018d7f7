"""Measure ring balance, key movement and lookup cost against the vnode count.

Run: ``python benchmarks/ring_balance.py [--trials 50] [--keys 100000]``

For each vnode count it builds rings of 5 servers with random ids and
prints, over the trials, the mean and worst ratio of the busiest server's
share of random keys to the mean share; the fraction of keys that move when
5 servers grow to 6 (ideal 1/6) and whether any moved between old servers;
the time to build the ring and to look up one preference list.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

from ring import HashRing


def busiest_ratio(ring: HashRing, keys: list[str]) -> float:
    counts: dict[str, int] = dict.fromkeys(ring.nodes, 0)
    for key in keys:
        counts[ring.lookup_node(key)] += 1
    return max(counts.values()) / (len(keys) / len(counts))


def moved_fraction(before: HashRing, after: HashRing, keys: list[str]) -> tuple[float, bool]:
    moved = 0
    only_to_new = True
    new_nodes = set(after.nodes) - set(before.nodes)
    for key in keys:
        a, b = before.lookup_node(key), after.lookup_node(key)
        if a != b:
            moved += 1
            only_to_new &= b in new_nodes
    return moved / len(keys), only_to_new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--vnodes", type=int, nargs="*", default=[16, 64, 128, 256, 512, 1024])
    args = parser.parse_args()
    rng = random.Random(1)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.keys)]
    print(f"{args.trials} trials of 5 random server ids, {args.keys} random uuid4 keys")
    header = (
        f"{'vnodes':>6} {'busiest/mean':>12} {'worst':>6} {'moved 5->6':>10} "
        f"{'ideal':>6} {'only new':>8} {'build ms':>8} {'lookup us':>9}"
    )
    print(header)
    for vnodes in args.vnodes:
        ratios, moves, only_new, builds = [], [], True, []
        for _ in range(args.trials):
            ids = [f"server-{rng.getrandbits(32):08x}" for _ in range(6)]
            t0 = time.perf_counter()
            ring5 = HashRing(ids[:5], vnodes=vnodes)
            builds.append(time.perf_counter() - t0)
            ratios.append(busiest_ratio(ring5, keys))
            ring6 = HashRing(ids, vnodes=vnodes)
            frac, ok = moved_fraction(ring5, ring6, keys[:20_000])
            moves.append(frac)
            only_new &= ok
        sample = keys[:20_000]
        t0 = time.perf_counter()
        for key in sample:
            ring5.get_replicas(key, 3)
        lookup_us = (time.perf_counter() - t0) / len(sample) * 1e6
        print(
            f"{vnodes:>6} {statistics.mean(ratios):>12.3f} {max(ratios):>6.3f} "
            f"{statistics.mean(moves):>10.3f} {1 / 6:>6.3f} {only_new!s:>8} "
            f"{statistics.mean(builds) * 1e3:>8.2f} {lookup_us:>9.2f}"
        )


if __name__ == "__main__":
    main()
