"""The collector clock of cluster processes (actors.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from actors.collector import CollectorClock, take_over


@pytest.fixture
def restore_gc() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("restore_gc")
def test_take_over_stops_automatic_collection_and_freezes_the_startup_heap() -> None:
    take_over()
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_rounds_collect_young_then_middle_then_everything() -> None:
    clock = CollectorClock(interval_s=0.2, middle_every=3, full_every=6)
    generations = [clock.collect()[0] for _ in range(12)]
    assert [0, 0, 1, 0, 0, 2, 0, 0, 1, 0, 0, 2] == generations
    assert 12 == clock.rounds


def test_a_round_reports_its_pause() -> None:
    generation, pause_s = CollectorClock().collect()
    assert 0 == generation
    assert pause_s >= 0.0


def test_a_young_round_frees_a_cycle() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.disable()
    try:
        gc.collect()
        Node()  # unreachable at once, but kept alive by its own reference
        assert any(isinstance(o, Node) for o in gc.get_objects())
        CollectorClock().collect()
        assert not any(isinstance(o, Node) for o in gc.get_objects())
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("interval_s", "middle_every", "full_every"), [(0.0, 1, 1), (0.1, 0, 1), (0.1, 1, 0)]
)
def test_a_clock_without_a_positive_period_is_refused(
    interval_s: float, middle_every: int, full_every: int
) -> None:
    with pytest.raises(ValueError, match="positive"):
        CollectorClock(interval_s, middle_every, full_every)
