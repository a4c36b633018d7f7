"""Tiny runs of benchmarks/cache_memory.py and cache_write_cost.py, to keep them working."""

from __future__ import annotations

from benchmarks import cache_memory, cache_write_cost


def test_cache_memory_measures_every_list_it_cached() -> None:
    """Every list fed is cached and holds some bytes, before and after the reads."""
    figures = cache_memory.measure(lists=6, deltas=4, writers=2, items=5)
    assert 6 == figures["cached"]
    assert figures["traced_written"] > 0
    assert figures["traced_read"] > 0
    assert sum(figures["parts"].values()) > 0


def test_cache_write_cost_times_each_step() -> None:
    """Each timed step of a write has a median (CPU time may round to 0)."""
    figures = cache_write_cost.measure(items=5, lists=3, deltas=4)
    assert {"merge_many", "join_pending", "get"} == set(figures)
    assert all(us >= 0 for us in figures.values())
