"""The collector clock of cluster processes (actors.kernel.collector)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from actors.kernel.collector import SETTLE, THAW, YOUNG, CollectorClock, take_over


class Node:
    """A container that keeps itself alive: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _nodes() -> int:
    return sum(isinstance(o, Node) for o in gc.get_objects())


@pytest.fixture
def own_gc() -> Iterator[None]:
    """Collection off and nothing frozen during the test; restored after."""
    gc.disable()
    gc.collect()
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("own_gc")
def test_take_over_stops_automatic_collection_and_freezes_the_startup_heap() -> None:
    take_over()
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("own_gc")
def test_rounds_collect_young_then_settle_then_thaw() -> None:
    clock = CollectorClock(interval_s=0.2, settle_every=3, thaw_every=6)
    generations = [clock.collect()[0] for _ in range(12)]
    expected = [YOUNG, YOUNG, SETTLE, YOUNG, YOUNG, THAW] * 2
    assert expected == generations
    assert 12 == clock.rounds


def test_a_round_reports_its_pause() -> None:
    generation, pause_s = CollectorClock().collect()
    assert YOUNG == generation
    assert pause_s >= 0.0


@pytest.mark.usefixtures("own_gc")
def test_a_young_round_frees_a_cycle() -> None:
    Node()  # unreachable at once, but kept alive by its own reference
    assert 1 == _nodes()
    CollectorClock().collect()
    assert 0 == _nodes()


@pytest.mark.usefixtures("own_gc")
def test_a_settle_round_freezes_what_survives_so_later_rounds_skip_it() -> None:
    clock = CollectorClock(settle_every=1)
    frozen_before = gc.get_freeze_count()
    kept = Node()
    assert SETTLE == clock.collect()[0]
    assert gc.get_freeze_count() > frozen_before
    assert not any(o is kept for o in gc.get_objects())  # no generation holds it


@pytest.mark.usefixtures("own_gc")
def test_a_settled_cycle_that_dies_is_freed_by_the_next_thaw_only() -> None:
    clock = CollectorClock(settle_every=1, thaw_every=3)
    kept: list[Node] = [Node()]
    node = weakref.ref(kept[0])
    clock.collect()  # settle: the node is frozen
    kept.clear()  # now garbage, but frozen
    clock.collect()  # settle again: frozen objects are not walked
    assert node() is not None
    assert THAW == clock.collect()[0]
    assert node() is None


@pytest.mark.usefixtures("own_gc")
def test_a_settled_object_without_a_cycle_is_freed_at_once_by_its_last_reference() -> None:
    class Plain:
        pass

    clock = CollectorClock(settle_every=1)
    kept = [Plain()]
    plain = weakref.ref(kept[0])
    clock.collect()
    kept.clear()  # reference counting frees it; no collection needed
    assert plain() is None


@pytest.mark.parametrize(
    ("interval_s", "settle_every", "thaw_every"), [(0.0, 1, 1), (0.1, 0, 1), (0.1, 1, 0)]
)
def test_a_clock_without_a_positive_period_is_refused(
    interval_s: float, settle_every: int, thaw_every: int
) -> None:
    with pytest.raises(ValueError, match="positive"):
        CollectorClock(interval_s, settle_every, thaw_every)
