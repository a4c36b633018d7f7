"""Load balance: with 5 servers, no server coordinates much more than its share."""

from __future__ import annotations

import math

from hypothesis import given, settings

from ring import DEFAULT_VNODES, HashRing
from tests.ring.helpers import BALANCE_KEYS, distinct_node_ids, load, uuid4_keys

MAX_BUSIEST_OVER_MEAN = 1.15


@settings(derandomize=True, max_examples=6, deadline=None)
@given(names=distinct_node_ids(5, 5))
def test_busiest_of_five_servers_holds_at_most_115_percent_of_the_mean(names: list[str]) -> None:
    ring = HashRing(names)
    assert DEFAULT_VNODES == ring.vnodes
    counts = load(ring, uuid4_keys(BALANCE_KEYS))
    mean = BALANCE_KEYS / len(names)
    busiest = max(counts.values())
    assert busiest / mean <= MAX_BUSIEST_OVER_MEAN, counts


@settings(derandomize=True, max_examples=10, deadline=None)
@given(names=distinct_node_ids(1, 8))
def test_shares_sum_to_one_and_match_the_spread_of_keys(names: list[str]) -> None:
    ring = HashRing(names)
    shares = ring.shares()
    assert set(names) == set(shares)
    assert math.isclose(1.0, sum(shares.values()), abs_tol=1e-9)
    assert all(0.0 < share <= 1.0 for share in shares.values())
    # The arc lengths predict where random keys land (10,000 keys: ~0.5% noise).
    keys = uuid4_keys(10_000)
    counts = load(ring, keys)
    for node, share in shares.items():
        assert math.isclose(share, counts[node] / len(keys), abs_tol=0.025), (node, share)


def test_a_single_server_owns_everything() -> None:
    ring = HashRing(["only"], vnodes=1)
    assert {"only": 1.0} == ring.shares()
    assert ["only"] * 100 == [ring.lookup_node(key) for key in uuid4_keys(100)]
