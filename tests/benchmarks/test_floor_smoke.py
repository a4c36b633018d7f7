"""Tiny runs of benchmarks/floor.py's parts, to keep them working (no figures asserted)."""

from __future__ import annotations

from benchmarks.floor import decode_us, server_path_us, sqlite_append_us


def test_each_part_measures_a_positive_cost() -> None:
    """The decode, the append (alone and batched) and the server path each
    run their real code and report CPU time per write."""
    figures = [
        decode_us(frames=200),
        sqlite_append_us(rows=64, batch=1),
        sqlite_append_us(rows=64, batch=8),
        server_path_us(writes=64, batch=8, lists=4),
    ]
    assert all(f >= 0 for f in figures)
    assert any(f > 0 for f in figures)
