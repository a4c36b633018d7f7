"""A tiny run of benchmarks/wakeup_cost.py, to keep it working (no figures asserted)."""

from __future__ import annotations

import os

import pytest

from benchmarks.wakeup_cost import main, round_trips

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "eventfd"), reason="eventfd is Linux only"),
]


def test_round_trips_are_timed_and_the_affinity_restored() -> None:
    before = os.sched_getaffinity(0)
    cpu = min(before)
    assert round_trips(20, 0.0, (cpu, cpu)) > 0
    assert before == os.sched_getaffinity(0)


def test_the_script_prints_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(["--rounds", "20", "--pause-s", "0"])
    printed = capsys.readouterr().out
    cases = ["one CPU", "unbound"] + (["two CPUs"] if len(os.sched_getaffinity(0)) > 1 else [])
    for case in cases:
        assert f"{case}: round trip p50" in printed
