"""A tiny run of benchmarks/store_scale.py, to keep it working (no figures asserted)."""

from __future__ import annotations

import gc

from benchmarks.store_scale import measure


def test_store_scale_times_writes_and_restores_the_collector() -> None:
    thresholds = gc.get_threshold()
    for tuned in (False, True):
        assert measure(lists=40, cache_lists=8, writes=64, tuned=tuned) > 0
        assert thresholds == gc.get_threshold()
        assert 0 == gc.get_freeze_count()
