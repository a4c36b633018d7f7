"""A few seconds of `run.py bench` (a secured cluster, then a plaintext one), to keep
the benchmark working (no figures asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.runs import run_json
from tests.harness import RUN

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(400)]

KEYS = {
    "writes_per_s",
    "reads_per_s",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "baseline_pipelined_msgs_per_s",
    "baseline_p50_ms",
    "ratio_throughput",
    "ratio_p50",
    "lost_writes",
}


def test_bench_runs_and_reports_every_figure_with_no_write_lost(tmp_path: Path) -> None:
    result = run_json(
        [
            RUN,
            "bench",
            "--seconds",
            "2",
            "--clients",
            "2",
            "--window",
            "16",
            "--lists",
            "40",
            "--items",
            "10",
            "--latency-requests",
            "100",
            "--prebuild",
            "200",
            "--var",
            str(tmp_path / "bench"),
            "--json",
        ],
        timeout_s=360,
    )
    assert KEYS <= set(result)
    assert 0 == result["lost_writes"]
    assert 40 == result["lists_verified"]
    assert result["writes_per_s"] > 0  # writes happened; how fast is the bench's business
    # Secured by default, and the plaintext figures of the same run beside them.
    assert "curve" == result["security"]
    insecure = result["insecure"]
    assert KEYS <= set(insecure)
    assert "off" == insecure["security"]
    assert 0 == insecure["lost_writes"]
    assert 40 == insecure["lists_verified"]
    assert insecure["writes_per_s"] > 0
    for ratio in ("secured_over_insecure_writes", "secured_over_insecure_p50"):
        assert isinstance(result[ratio], float)  # its value is the bench's business
    assert [] == list((tmp_path / "bench").iterdir())  # both clusters' files are cleaned up
