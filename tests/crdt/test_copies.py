"""Copies compared by their heads: a copy that covers the others is their
join, byte for byte; copies that are concurrent, or whose access lists
differ, are left to a decode; a blob that is no state is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from crdt import AccessList, ShoppingList
from crdt.copies import dominant, head_of
from protocol import ProtocolError
from tests.crdt.strategies import LIST_ID, Replicas, joined, replicas


@settings(deadline=None, max_examples=200)
@given(reps=replicas(min_replicas=2, max_replicas=3))
def test_a_dominant_copy_is_the_join_of_all(reps: Replicas) -> None:
    """Whatever copies a history leaves, a copy found dominant encodes as their join."""
    states = reps.lists
    top = dominant([s.encode() for s in states])
    if top is not None:
        assert joined(states).encode() == top


@settings(deadline=None, max_examples=200)
@given(reps=replicas(min_replicas=2, max_replicas=3))
def test_a_copy_that_took_the_others_in_is_found(reps: Replicas) -> None:
    """A copy with every other merged into it dominates, wherever it stands."""
    full = joined(reps.lists)
    blobs = [s.encode() for s in reps.lists]
    for position in range(len(blobs) + 1):
        candidates = [*blobs[:position], full.encode(), *blobs[position:]]
        assert full.encode() == dominant(candidates)


def test_concurrent_copies_have_no_dominant() -> None:
    """Two copies that each saw an operation the other did not: none covers."""
    alice = ShoppingList(LIST_ID, "alice", "groceries")
    bob = alice.copy("bob")
    alice.add("milk")
    bob.add("eggs")
    assert dominant([alice.encode(), bob.encode()]) is None


def test_an_access_list_that_differs_is_left_to_a_decode() -> None:
    """Access changes mint no dot: equal contexts, different access lists, no dominant."""
    alice = ShoppingList(LIST_ID, "alice", "groceries")
    other = alice.copy()
    other.access = AccessList("a" * 40)
    assert dominant([alice.encode(), other.encode()]) is None
    assert head_of(alice.encode()).context == head_of(other.encode()).context


def test_equal_copies_cover_each_other() -> None:
    """An identical copy covers, both ways."""
    state = ShoppingList(LIST_ID, "alice", "groceries")
    state.add("milk", 2)
    a, b = head_of(state.encode()), head_of(state.copy().encode())
    assert (True, True) == (a.covers(b), b.covers(a))


def test_a_blob_that_is_no_state_is_refused() -> None:
    """Bytes that are not shaped like a state raise ProtocolError."""
    with pytest.raises(ProtocolError):
        head_of(b"\x93\x01\x02")
    with pytest.raises(ProtocolError):
        dominant([b"not msgpack at all"])
