"""Deterministic inputs shared by the ring tests."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable
from functools import cache

from hypothesis import strategies as st

from ring import HashRing

#: Keys of the balance test: the size the 1.15x bound is stated for.
BALANCE_KEYS = 100_000
#: Keys of the movement tests: enough that sampling noise (~0.3%) is far below the margin.
MOVEMENT_KEYS = 20_000


@cache
def uuid4_keys(count: int, seed: int = 1) -> tuple[str, ...]:
    """``count`` random uuid4 strings, the same ones on every run."""
    rng = random.Random(seed)
    return tuple(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count))


def coordinators(ring: HashRing, keys: Iterable[str]) -> list[str]:
    lookup = ring.lookup_node
    return [lookup(key) for key in keys]


def load(ring: HashRing, keys: Iterable[str]) -> Counter[str]:
    """How many of ``keys`` each member coordinates (members with no key included)."""
    counts: Counter[str] = Counter(dict.fromkeys(ring.nodes, 0))
    counts.update(coordinators(ring, keys))
    return counts


#: Server ids: arbitrary UTF-8 text (including ids that look like "<node>-<i>")
#: and the "server-<hex>" form the supervisor hands out.
node_ids = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=16),
    st.integers(0, 2**32 - 1).map(lambda n: f"server-{n:08x}"),
    st.tuples(st.sampled_from(["a", "a-1", "n-1-2"]), st.integers(0, 20)).map(
        lambda t: f"{t[0]}-{t[1]}"
    ),
)


def distinct_node_ids(min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(node_ids, min_size=min_size, max_size=max_size, unique=True)
