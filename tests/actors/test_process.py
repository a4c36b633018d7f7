"""The process entry points' own settings (the processes themselves are
tested in tests/cluster)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from actors.process import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_sets_the_thresholds_and_freezes_the_startup_heap() -> None:
    tune_gc()
    assert GC_THRESHOLDS == gc.get_threshold()
    assert gc.get_freeze_count() > 0
