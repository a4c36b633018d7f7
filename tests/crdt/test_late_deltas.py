"""Deltas that arrive late, out of order or only in part still join correctly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import ShoppingList
from tests.crdt.strategies import Replicas, step


@st.composite
def states_from_one_history(draw: st.DrawFn) -> list[ShoppingList]:
    """Random operations on 2 to 4 replicas, then joins of random subsets of
    their deltas and states: many different states of one list, some of
    which saw the same operations by different routes (a remove's delta
    alone, or the add it removed and then the remove)."""
    reps = Replicas.new(draw(st.integers(2, 4)))
    for _ in range(draw(st.integers(1, 25))):
        reps.apply(draw(step))
        if draw(st.booleans()):
            i, j = (
                draw(st.integers(0, len(reps.lists) - 1)),
                draw(st.integers(0, len(reps.lists) - 1)),
            )
            reps.lists[j].merge(reps.lists[i].copy())
    pool = [d for ds in reps.deltas for d in ds] + [s.copy() for s in reps.lists]
    states = [s.copy() for s in reps.lists]
    for _ in range(draw(st.integers(1, 12))):
        picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool)))
        joined = picked[0].copy()
        for other in picked[1:]:
            joined.merge(other)
        states.append(joined)
    return states


@settings(max_examples=300, deadline=None)
@given(states_from_one_history())
def test_a_state_that_saw_everything_another_saw_is_unchanged_by_it(
    states: list[ShoppingList],
) -> None:
    """What lets a server skip a duplicate or late delta (``compare``) without merging."""
    for a in states:
        for b in states:
            if a.compare(b):
                joined = b.copy()
                joined.merge(a)
                assert b == joined
