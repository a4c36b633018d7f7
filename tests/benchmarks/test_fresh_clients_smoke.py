"""A tiny run of benchmarks/fresh_clients.py, to keep it working (no figures asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.runs import run_json

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

PHASE_KEYS = {
    "count",
    "failed",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "over_1s",
    "first_request_p50_ms",
    "request_p50_ms",
    "import_client_p50_ms",
    "client_help_p50_ms",
}


def test_fresh_clients_run_in_both_phases_and_none_fails(tmp_path: Path) -> None:
    result = run_json(
        [
            "-m",
            "benchmarks.fresh_clients",
            "--clients",
            "3",
            "--busy-clients",
            "1",
            "--baseline-runs",
            "2",
            "--var",
            str(tmp_path / "bench"),
            "--json",
        ],
        timeout_s=200,
    )
    assert "curve" == result["security"]  # secured by default, clients and load alike
    for phase in ("idle", "busy"):
        assert PHASE_KEYS <= set(result[phase])
        assert 3 == result[phase]["count"]
        assert 0 == result[phase]["failed"]
    assert result["busy"]["load_answers"] > 0  # the busy phase was busy
    assert [] == list((tmp_path / "bench").iterdir())  # its cluster's files are cleaned up
