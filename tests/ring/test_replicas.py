"""Preference lists: get_replicas and walk."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ring import RING_SIZE, HashRing, key_position
from tests.ring.helpers import distinct_node_ids, uuid4_keys

keys = st.one_of(st.sampled_from(uuid4_keys(1000)), st.text(st.characters(codec="utf-8")))


@settings(deadline=None)
@given(names=distinct_node_ids(1, 7), key=keys, n=st.integers(1, 9))
def test_get_replicas_is_n_distinct_members_coordinator_first(
    names: list[str], key: str, n: int
) -> None:
    ring = HashRing(names, vnodes=16)
    replicas = ring.get_replicas(key, n)
    assert min(n, len(names)) == len(replicas)
    assert len(replicas) == len(set(replicas))
    assert set(replicas) <= set(names)
    assert ring.lookup_node(key) == replicas[0]


@settings(deadline=None)
@given(names=distinct_node_ids(1, 7), key=keys, n=st.integers(1, 8))
def test_a_longer_preference_list_extends_the_shorter_one(
    names: list[str], key: str, n: int
) -> None:
    ring = HashRing(names, vnodes=16)
    assert ring.get_replicas(key, n) == ring.get_replicas(key, n + 1)[:n]


def test_fewer_members_than_n_returns_all_members() -> None:
    ring = HashRing(["a", "b", "c"])
    for key in uuid4_keys(50):
        assert ["a", "b", "c"] == sorted(ring.get_replicas(key, 5))


@pytest.mark.parametrize("n", [0, -1])
def test_non_positive_n_returns_nothing(n: int) -> None:
    assert [] == HashRing(["a", "b"]).get_replicas("key", n)


def test_empty_ring_has_no_replicas_and_no_coordinator() -> None:
    ring = HashRing()
    assert [] == ring.get_replicas("key", 3)
    with pytest.raises(LookupError, match="no nodes"):
        ring.lookup_node("key")


def test_a_key_on_a_vnode_position_belongs_to_that_vnode() -> None:
    ring = HashRing(["a", "b", "c"], vnodes=8)
    for node in ring.nodes:
        for position in ring.positions_of(node):
            # Arcs are (start, end]: the end itself and the point just before it.
            assert [node] == ring.walk(position, 1)
            assert [node] == ring.walk(position - 1, 1)


def test_walk_wraps_around_zero() -> None:
    ring = HashRing(["a", "b", "c"], vnodes=8)
    first = min(p for node in ring.nodes for p in ring.positions_of(node))
    owner = next(node for node in ring.nodes if first in ring.positions_of(node))
    assert [owner] == ring.walk(RING_SIZE - 1, 1)
    assert [owner] == ring.walk(0, 1)


def test_get_replicas_walks_from_the_key_position() -> None:
    ring = HashRing(["a", "b", "c", "d"], vnodes=8)
    for key in uuid4_keys(200):
        assert ring.walk(key_position(key), 3) == ring.get_replicas(key, 3)


@settings(deadline=None)
@given(names=distinct_node_ids(2, 7), keys=st.lists(keys, min_size=1, max_size=20))
def test_walks_remembered_by_the_ring_follow_its_changes(names: list[str], keys: list[str]) -> None:
    """A walk made again, and a walk after a server joins or leaves, equals
    that of a ring built afresh with the same members (the memo is not stale)."""
    ring = HashRing(names[1:], vnodes=16)
    for key in keys:
        ring.get_replicas(key, 3)
    assert [HashRing(names[1:], vnodes=16).get_replicas(k, 3) for k in keys] == [
        ring.get_replicas(k, 3) for k in keys
    ]
    ring.add_node(names[0])
    assert [HashRing(names, vnodes=16).get_replicas(k, 3) for k in keys] == [
        ring.get_replicas(k, 3) for k in keys
    ]
    ring.remove_node(names[-1])
    assert [HashRing(names[:-1], vnodes=16).get_replicas(k, 3) for k in keys] == [
        ring.get_replicas(k, 3) for k in keys
    ]
