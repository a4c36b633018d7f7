"""A tiny run of benchmarks/store_scale.py, to keep it working (no figures asserted)."""

from __future__ import annotations

import gc

from benchmarks.store_scale import measure


def test_store_scale_times_writes_and_restores_the_collector() -> None:
    for clock in (False, True):
        us_per_write, pause_ms = measure(lists=40, cache_lists=8, writes=64, clock=clock)
        assert us_per_write > 0
        assert pause_ms >= 0
        assert gc.isenabled()
        assert 0 == gc.get_freeze_count()
