"""A few seconds of `run.py bench` (a secured cluster, then a plaintext one), to keep
the benchmark working (no figures asserted)."""

from __future__ import annotations

import shutil
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
    "baseline_quorum_writes_per_s",
    "baseline_quorum_p50_ms",
    "baseline_quorum_p99_ms",
    "ratio_vs_quorum_baseline",
    "p50_over_quorum_baseline",
    "preload_s",
    "server_rss_mb",
    "bytes_per_cached_list",
    "cached_lists_source",
    "verify_sample",
}
#: Of the top-level (secured) run only.
TOP_KEYS = {"ratio_vs_redis", "targets"}


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
    assert KEYS | TOP_KEYS <= set(result)
    assert 0 == result["lost_writes"]
    if shutil.which("redis-server") is None:
        assert result["redis"].startswith("not installed")
        assert result["ratio_vs_redis"] is None
    else:
        assert 0 == result["redis_lost_writes"]
        assert result["redis_writes_per_s"] > 0
    assert "all" == result["verify_sample"]
    assert 5 == len(result["server_rss_mb"])
    assert "ring" == result["cached_lists_source"]
    assert 40 * 3 == sum(result["lists_per_server"])  # each list on N = 3 servers
    for verdict in result["targets"].values():
        assert isinstance(verdict["met"], bool)  # met or not is the bench's business
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
