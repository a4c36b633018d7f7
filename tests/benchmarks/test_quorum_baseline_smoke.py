"""A moment of the quorum baseline (benchmarks/quorum_baseline.py): real
processes on 127.0.0.1; no figures asserted."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from benchmarks.quorum_baseline import FRAME_BYTES, make_frames, measure_quorum_baseline

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def test_frames_are_a_delta_writes_size_each_with_its_list_id() -> None:
    frames = make_frames(3)
    assert {FRAME_BYTES} == {len(f) for f in frames}
    assert 3 == len({f[8:44] for f in frames})


def test_the_quorum_baseline_answers_and_leaves_no_process() -> None:
    figures = measure_quorum_baseline(clients=2, window=8, seconds=0.3, one_at_a_time=50)
    assert {
        "baseline_quorum_writes_per_s",
        "baseline_quorum_p50_ms",
        "baseline_quorum_p99_ms",
    } == set(figures)
    assert figures["baseline_quorum_writes_per_s"] > 0
    assert 0 < figures["baseline_quorum_p50_ms"] <= figures["baseline_quorum_p99_ms"]
    assert [] == mp.active_children()
