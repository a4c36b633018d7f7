"""No tombstones: removed items cost nothing once their dots are in the vector."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import ShoppingList
from tests.crdt.strategies import LIST_ID


def churn(replica_ids: list[str], removed: int, kept: int) -> ShoppingList:
    """Each replica adds and removes items; all states are then merged."""
    states = [ShoppingList(LIST_ID, r) for r in replica_ids]
    for k in range(removed):
        s = states[k % len(states)]
        s.add(f"gone-{k}", 1 + k % 3)
        s.remove(f"gone-{k}")
    for k in range(kept):
        states[k % len(states)].add(f"kept-{k}")
    out = states[0]
    for s in states[1:]:
        out.merge(s)
    return out


@settings(max_examples=1000, deadline=None)
@given(st.integers(1, 300), st.integers(1, 4), st.integers(0, 5))
def test_state_size_does_not_grow_with_removed_items(
    removed: int, replicas: int, kept: int
) -> None:
    ids = [f"replica-{i}" for i in range(replicas)]
    small = churn(ids, removed=replicas, kept=kept)  # every replica removed one item
    large = churn(ids, removed=removed + replicas, kept=kept)
    assert small.dot_count() == large.dot_count() == kept
    assert [] == sorted(large.context.cloud)
    assert len(small.context.vv) == len(large.context.vv)
    # Only the counters grow: a vector entry or a kept item's dot counter
    # takes at most 2 more bytes of msgpack below 65,536.
    assert len(large.encode()) - len(small.encode()) <= 2 * (replicas + kept)


def test_ten_thousand_removed_items_leave_a_tiny_state() -> None:
    s = churn(["a", "b"], removed=10_000, kept=0)
    assert 0 == s.dot_count()
    assert len(s.encode()) < 80
