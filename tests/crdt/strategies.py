"""Hypothesis strategies that build reachable shopping-list states.

A *history* is a list of steps run against a few replicas: local operations
(add, acquire, remove, rename) and merges of one replica's state or last
delta into another. Running it yields states that the real system could
reach, which is what the lattice laws are stated for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import strategies as st

from crdt import ShoppingList

LIST_ID = str(uuid.UUID(int=0x1234, version=4))
ITEMS = ("milk", "eggs", "bread", "tea")
NAMES = ("groceries", "party", "")


@dataclass
class Replicas:
    """A few replicas of one list plus every delta each one produced."""

    lists: list[ShoppingList]
    deltas: list[list[ShoppingList]] = field(default_factory=list)
    ops: int = 0

    @classmethod
    def new(cls, count: int) -> Replicas:
        lists = [ShoppingList(LIST_ID, f"r{i}") for i in range(count)]
        return cls(lists, [[] for _ in range(count)])

    def apply(self, step: tuple[str, int, int, str, int]) -> None:
        kind, i, j, item, qty = step
        i %= len(self.lists)
        j %= len(self.lists)
        replica = self.lists[i]
        delta: ShoppingList | None = None
        if kind == "add":
            delta = replica.add(item, qty)
        elif kind == "acquire" and replica.remaining(item) > 0:
            delta = replica.acquire(item, min(qty, replica.remaining(item)))
        elif kind == "remove" and replica.lookup(item):
            delta = replica.remove(item)
        elif kind == "rename":
            delta = replica.rename(NAMES[qty % len(NAMES)] or item)
        elif kind == "merge_state":
            replica.merge(self.lists[j])
        elif kind == "merge_delta" and self.deltas[j]:
            replica.merge(self.deltas[j][qty % len(self.deltas[j])])
        if delta is not None:
            self.deltas[i].append(delta)
            self.ops += 1


step = st.tuples(
    st.sampled_from(
        ["add", "add", "acquire", "remove", "rename", "merge_state", "merge_delta", "merge_delta"]
    ),
    st.integers(0, 4),
    st.integers(0, 4),
    st.sampled_from(ITEMS),
    st.integers(1, 5),
)


@st.composite
def replicas(draw: st.DrawFn, min_replicas: int = 2, max_replicas: int = 4) -> Replicas:
    """Replicas after a random history."""
    count = draw(st.integers(min_replicas, max_replicas))
    reps = Replicas.new(count)
    for s in draw(st.lists(step, max_size=40)):
        reps.apply(s)
    return reps


@st.composite
def three_states(draw: st.DrawFn) -> tuple[ShoppingList, ShoppingList, ShoppingList]:
    """Three reachable states (full states or deltas) of the same list."""
    reps = draw(replicas(min_replicas=3, max_replicas=4))
    pool = list(reps.lists) + [d for ds in reps.deltas for d in ds]
    picks = draw(st.lists(st.sampled_from(pool), min_size=3, max_size=3))
    a, b, c = (p.copy() for p in picks)
    return a, b, c
