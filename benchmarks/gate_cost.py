"""What the write gate costs a server per write: ``python -m benchmarks.gate_cost``.

One server's store (SQLite in a temp dir, as a server opens it) and its
write gate (:class:`actors.server.gate.WriteGate`), no sockets: ``--lists``
lists of ``--items`` items are stored, then ``--writes`` adds, each one item
of a random list, go through what a server does with a Store: decode,
admit, merge and commit. Three kinds, alternated in rounds so that the
machine's drift hits each alike: without a writer (the baseline: repairs
and plaintext clusters are not checked), with a writer (the gate checks
the frame), and with a writer and what it was shown (``Store.observed``).
Prints per kind the mean microseconds of the admit alone and of the whole.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

import zmq
from zmq.utils import z85

from actors.server import ListStore, WriteGate
from crdt import ShoppingList, observed_blob, replica_id_for
from protocol import Store

KINDS = (
    ("baseline (no writer)", False, False),
    ("writer", True, False),
    ("writer + observed", True, True),
)


def fill(store: ListStore, lists: int, items: int) -> tuple[bytes, list[ShoppingList]]:
    """Store ``lists`` lists of ``items`` items, each whole, by one writer
    with a key; returns the key (Z85) and the writer's replicas of them."""
    public, _ = zmq.curve_keypair()
    replica = replica_id_for(z85.decode(public), "bench")
    states = []
    for k in range(lists):
        state = ShoppingList(str(uuid.uuid4()), replica, f"list {k}")
        for i in range(items):
            state.add(f"item {i}")
        store.merge_many([(state.list_id, state, state.encode())])
        states.append(state)
    return public, states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--writes", type=int, default=10_000, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = ListStore(Path(tmp) / "lists.db")
        gate = WriteGate(store, "s1")
        public, lists = fill(store, args.lists, args.items)
        rng = random.Random(1)
        totals = {name: [0.0, 0.0, 0] for name, _, _ in KINDS}
        for _ in range(args.rounds):
            for name, with_writer, with_observed in KINDS:
                for _ in range(args.writes):
                    state = rng.choice(lists)
                    delta = state.add(f"item {rng.randrange(args.items)}")
                    msg = Store(
                        list_id=state.list_id,
                        state=delta.encode(),
                        writer=public.decode() if with_writer else "",
                        observed=observed_blob(state.list_id, state.context)
                        if with_observed
                        else None,
                    )
                    t0 = time.perf_counter()
                    decoded = ShoppingList.decode(msg.state)
                    gate.begin()
                    t1 = time.perf_counter()
                    if gate.admit(msg, decoded) is not None:
                        raise RuntimeError("an honest add was not admitted")
                    t2 = time.perf_counter()
                    store.merge_many([(state.list_id, decoded, msg.state)])
                    t3 = time.perf_counter()
                    total = totals[name]
                    total[0] += t2 - t1
                    total[1] += t3 - t0
                    total[2] += 1
        store.close()
    for name, (admit_s, all_s, n) in totals.items():
        admit_us, all_us = admit_s / n * 1e6, all_s / n * 1e6
        print(f"{name:<22} admit {admit_us:6.1f} us   decode+admit+merge {all_us:6.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
