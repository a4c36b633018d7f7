"""A tiny run of benchmarks/store_growth.py, to keep it working (no figures asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.store_growth import main


def test_store_growth_fills_a_store_then_reuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first run fills the file and times deltas; a second reuses the file."""
    args = ["--lists", "60", "--step", "30", "--cache-lists", "16"]
    args += ["--writes", "40", "--warmup", "16", "--db", str(tmp_path / "lists.db")]
    assert 0 == main(args)
    assert 0 == main(args)
    out = capsys.readouterr().out
    assert "reusing" in out
    assert 2 == out.count("us/write cpu")
