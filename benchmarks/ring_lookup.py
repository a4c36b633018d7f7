"""Ring lookup cost against the number of servers.

Run: ``python benchmarks/ring_lookup.py [--servers 5 50 500] [--vnodes 1024]``

Prints, for each ring size, the time to build the ring and the median time
of ``lookup_node`` and ``get_replicas(key, 3)`` over random uuid4 keys.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid

from ring import DEFAULT_VNODES, HashRing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="*", default=[5, 50, 500])
    parser.add_argument("--vnodes", type=int, default=DEFAULT_VNODES)
    parser.add_argument("--keys", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(7)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.keys)]
    header = ("servers", "positions", "build s", "lookup_node us", "get_replicas(3) us")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (7, 9, 8, 14, 18), strict=True)))
    for count in args.servers:
        t0 = time.perf_counter()
        ring = HashRing([f"server-{i}" for i in range(count)], vnodes=args.vnodes)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        for key in keys:
            ring.lookup_node(key)
        one = (time.perf_counter() - t0) / len(keys) * 1e6
        t0 = time.perf_counter()
        for key in keys:
            ring.get_replicas(key, 3)
        three = (time.perf_counter() - t0) / len(keys) * 1e6
        print(f"{count:>7} {count * args.vnodes:>9} {build:>8.2f} {one:>14.2f} {three:>18.2f}")


if __name__ == "__main__":
    main()
