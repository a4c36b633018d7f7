"""Memory a server's store holds per cached list, as the cluster bench fills it.

Run: ``python -m benchmarks.cache_memory [--lists 1000 10000] [--deltas 60]
[--writers 4] [--items 30]``

Reproduces what a bench server holds: ``--lists`` lists, each stored whole
by a *preload* replica that added ``--items`` items (as
``benchmarks.cluster_bench.preload`` does), then ``--deltas`` deltas per
list from ``--writers`` writer replicas, each adding a random item (1 to 3)
on its own copy of the list (as ``benchmarks.loadgen.Workload`` does).
Replica ids have the shape of a keyed bench's
(:func:`crdt.replica_ids.replica_id_for`: 32 hex of a key, a dot, a device).
Every frame is encoded ahead, then fed to a
:class:`~actors.server.store.ListStore` in a temporary folder as a server
does (``ShoppingList.decode`` of the bytes, ``merge_many`` in batches, the
deltas joined on the tick); the write gate is left out. At the end every
list is read once (``get``, which caches its encoding).

It prints, per list count, the bytes held per cached list (tracemalloc's
traced growth, and the process's RSS growth from ``/proc/self/status``),
before and after the reads, and where one list's bytes go (a walk of the
objects its cache entry holds, each shared object counted once).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from actors.server import ListStore, Update
from crdt import ShoppingList
from crdt.access import AccessList
from crdt.context import CausalContext
from crdt.encoding import EncodingCache
from crdt.replica_ids import replica_id_for

#: Writes per merge_many (a loaded server commits a poll's writes together).
BATCH = 8


def replica_ids(rng: random.Random, writers: int) -> tuple[str, list[str]]:
    """The preload replica's id and the writers', of a keyed bench's shape."""

    def key() -> bytes:
        return rng.getrandbits(256).to_bytes(32, "big")

    return replica_id_for(key(), "preload"), [
        replica_id_for(key(), f"d{seed}") for seed in range(writers)
    ]


def frames(
    lists: int, deltas: int, writers: int, items: int, seed: int = 1
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(the preload states, the writers' deltas in the order sent), encoded."""
    rng = random.Random(seed)
    preload_id, writer_ids = replica_ids(rng, writers)
    names = [f"item-{i:02d}" for i in range(items)]
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(lists)]
    states = []
    for k, list_id in enumerate(ids):
        state = ShoppingList(list_id, preload_id, f"list {k}")
        for name in names:
            state.add(name, 1)
        states.append((list_id, state.encode()))
    copies: dict[tuple[int, str], ShoppingList] = {}
    sent = []
    for _ in range(lists * deltas):
        list_id, writer = rng.choice(ids), rng.randrange(writers)
        copy = copies.get((writer, list_id))
        if copy is None:
            copy = copies[(writer, list_id)] = ShoppingList(list_id, writer_ids[writer])
        sent.append((list_id, copy.add(rng.choice(names), rng.randint(1, 3)).encode()))
    return states, sent


def feed(store: ListStore, blobs: list[tuple[str, bytes]]) -> None:
    """Merge encoded frames as a server does: decoded, in batches, joined on the tick."""
    for start in range(0, len(blobs), BATCH):
        batch: list[Update] = [
            (list_id, ShoppingList.decode(blob), blob)
            for list_id, blob in blobs[start : start + BATCH]
        ]
        store.merge_many(batch)
        store.join_pending()


def rss_bytes() -> int:
    """The process's resident set size (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _children(obj: object) -> Iterator[tuple[str, object]]:
    """(role, object) of what ``obj`` holds, for the objects a cache entry reaches."""
    if isinstance(obj, ShoppingList):
        for slot in ("_ctx", "_items", "_names", "_cache", "_groups", "access"):
            value = getattr(obj, slot, None)
            if value is not None:
                yield slot, value
    elif isinstance(obj, CausalContext):
        yield "ctx", obj.vv
        yield "ctx", obj.cloud
    elif isinstance(obj, EncodingCache):
        for slot in EncodingCache.__slots__:
            yield "encoding cache", getattr(obj, slot)
    elif isinstance(obj, AccessList):
        yield "access", vars(obj) if hasattr(obj, "__dict__") else ()
    elif isinstance(obj, msgspec.Struct):
        for field in obj.__struct_fields__:
            yield "", getattr(obj, field)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield "key", k
            yield "value", v
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            yield "", v
    elif hasattr(obj, "__slots__"):  # the cache entry itself (its slots: state, blob, bound)
        for slot in type(obj).__slots__:
            value = getattr(obj, slot, None)
            if value is not None:
                yield slot, value


def _category(obj: object, parent: str) -> str:
    """What an object is, for the breakdown: its type, refined by where it sits."""
    if isinstance(obj, str):
        return "str: replica id" if "." in obj and len(obj) > 32 else "str: other"
    if isinstance(obj, int) and -5 <= obj <= 256:
        return "shared"  # CPython's small ints cost nothing per list
    return f"{parent}: {type(obj).__name__}"


def breakdown(entries: list[object]) -> Counter[str]:
    """Bytes (``sys.getsizeof``) the entries reach, by category; shared objects once."""
    seen: set[int] = set()
    sizes: Counter[str] = Counter()
    stack: list[tuple[object, str]] = [(e, "Entry") for e in entries]
    while stack:
        obj, area = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        category = _category(obj, area)
        size = sys.getsizeof(obj)
        if isinstance(obj, msgspec.Raw):
            size += sys.getsizeof(b"") + len(obj)  # the bytes object it holds
        sizes[category] += size
        for role, child in _children(obj):
            child_area = area
            if area == "Entry" or isinstance(obj, ShoppingList) or role == "encoding cache":
                child_area = role
            stack.append((child, child_area))
    return sizes


def measure(lists: int, deltas: int, writers: int, items: int) -> dict[str, Any]:
    """Bytes per cached list after the writes and after one read of each list."""
    states, sent = frames(lists, deltas, writers, items)
    gc.collect()
    with tempfile.TemporaryDirectory() as tmp:
        store = ListStore(Path(tmp) / "lists.db", "normal", cache_lists=max(65_536, lists))
        try:
            tracemalloc.start()
            rss0, (traced0, _) = rss_bytes(), tracemalloc.get_traced_memory()
            feed(store, states)
            feed(store, sent)
            store.join_pending()
            gc.collect()
            rss1, (traced1, _) = rss_bytes(), tracemalloc.get_traced_memory()
            for list_id, _ in states:
                store.get(list_id)
            gc.collect()
            rss2, (traced2, _) = rss_bytes(), tracemalloc.get_traced_memory()
            tracemalloc.stop()
            entries: list[object] = list(store._cache.values())
            cached = len(entries)
            parts = breakdown(entries)
        finally:
            store.close()
    return {
        "lists": lists,
        "cached": cached,
        "traced_written": (traced1 - traced0) / cached,
        "traced_read": (traced2 - traced0) / cached,
        "rss_written": (rss1 - rss0) / cached,
        "rss_read": (rss2 - rss0) / cached,
        "parts": {k: v / cached for k, v in parts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--deltas", type=int, default=60, help="deltas per list")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--items", type=int, default=30)
    args = parser.parse_args()
    for lists in args.lists:
        m = measure(lists, args.deltas, args.writers, args.items)
        print(
            f"{lists:,} lists ({m['cached']:,} cached): bytes per cached list "
            f"after writes {m['traced_written']:,.0f} traced / {m['rss_written']:,.0f} RSS; "
            f"after a read of each {m['traced_read']:,.0f} traced / {m['rss_read']:,.0f} RSS",
            flush=True,
        )
        total = sum(m["parts"].values())
        print(f"  one entry's objects (sys.getsizeof, after the reads): {total:,.0f} B")
        for category, size in sorted(m["parts"].items(), key=lambda kv: -kv[1]):
            if size >= 1:
                print(f"    {category:<40} {size:>8,.0f}")


if __name__ == "__main__":
    main()
