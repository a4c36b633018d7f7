"""A list's digest covers its causal context only: equal contexts, equal states."""

from __future__ import annotations

from hypothesis import given, settings

from crdt import ShoppingList
from tests.crdt.test_late_deltas import states_from_one_history

LIST = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@settings(max_examples=500, deadline=None)
@given(states_from_one_history())
def test_states_with_equal_digests_are_equal(states: list[ShoppingList]) -> None:
    by_digest: dict[bytes, ShoppingList] = {}
    for state in states:
        first = by_digest.setdefault(state.digest(), state)
        assert first == state
        assert first.encode() == state.encode()


@settings(max_examples=200, deadline=None)
@given(states_from_one_history())
def test_a_state_that_saw_more_has_another_digest(states: list[ShoppingList]) -> None:
    for a in states:
        for b in states:
            if a.compare(b) and not b.compare(a):
                assert a.digest() != b.digest()


def test_the_digest_survives_encoding_and_ignores_the_replica_id() -> None:
    alice = ShoppingList(LIST, "alice", "groceries")
    alice.add("milk", 2)
    back = ShoppingList.decode(alice.encode(), "bob")
    assert alice.digest() == back.digest()


def test_lists_with_equal_contexts_but_other_ids_differ() -> None:
    other = "9b2c7a10-1d3e-4f56-8a9b-0c1d2e3f4a5b"
    assert ShoppingList(LIST, "a", "x").digest() != ShoppingList(other, "a", "x").digest()


def test_an_edit_changes_the_digest() -> None:
    alice = ShoppingList(LIST, "alice")
    before = alice.digest()
    alice.add("milk")
    assert before != alice.digest()
