"""protocol.batching.split: a batch becomes runs that fit one frame each, in order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.batching import split


def test_a_small_batch_is_one_run() -> None:
    assert [[1, 2, 3]] == list(split([1, 2, 3], lambda _: 1))


def test_runs_hold_at_most_max_items() -> None:
    assert [[0, 1], [2, 3], [4]] == list(split(range(5), lambda _: 1, max_items=2))


def test_runs_hold_at_most_max_bytes() -> None:
    assert [[4, 4], [9], [1, 1]] == list(split([4, 4, 9, 1, 1], lambda x: x, max_bytes=9))


def test_an_item_over_max_bytes_is_a_run_of_its_own() -> None:
    assert [[1], [50], [2]] == list(split([1, 50, 2], lambda x: x, max_bytes=10))


def test_nothing_makes_no_run() -> None:
    assert [] == list(split([], lambda _: 1))


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        list(split([1], lambda _: 1, max_items=0))


@given(
    st.lists(st.integers(min_value=0, max_value=100)),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=300),
)
def test_runs_keep_every_item_in_order_within_the_limits(
    items: list[int], max_items: int, max_bytes: int
) -> None:
    runs = list(split(items, lambda x: x, max_items=max_items, max_bytes=max_bytes))
    assert items == [x for run in runs for x in run]
    assert all(1 <= len(run) <= max_items for run in runs)
    assert all(sum(run) <= max_bytes or len(run) == 1 for run in runs)
