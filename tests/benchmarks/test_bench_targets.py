"""The bench's targets evaluation and helpers (benchmarks/bench_targets.py,
benchmarks/bench_memory.py): pure."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_memory import bytes_per_cached_list, rss_bytes
from benchmarks.bench_targets import TARGETS, Target, evaluate, percentile, ratio


def test_each_target_is_met_or_missed_by_its_bound() -> None:
    figures = {
        "ratio_vs_quorum_baseline": 0.5,
        "ratio_throughput": 0.2,
        "p50_over_quorum_baseline": 2.0,
        "p99_ms": 3.5,
        "ratio_vs_redis": 0.9,
        "bytes_per_cached_list": 3072,
        "lost_writes": 1,
    }
    verdicts = evaluate(figures)
    assert list(TARGETS) == list(verdicts)
    assert {
        "ratio_vs_quorum_baseline": True,
        "ratio_throughput": False,
        "p50_over_quorum_baseline": True,
        "p99_ms": False,
        "ratio_vs_redis": True,
        "bytes_per_cached_list": True,
        "lost_writes": False,
    } == {name: v["met"] for name, v in verdicts.items()}
    assert {"value": 0.5, "target": ">= 0.5", "met": True} == verdicts["ratio_vs_quorum_baseline"]


def test_a_missing_figure_is_not_met() -> None:
    verdicts = evaluate({"ratio_vs_redis": None}, {"r": Target("ratio_vs_redis", ">=", 0.5)})
    assert {"r": {"value": None, "target": ">= 0.5", "met": False}} == verdicts
    assert not evaluate({}, {"x": Target("absent", "==", 0)})["x"]["met"]


def test_ratio_and_percentile() -> None:
    assert 0.333 == ratio(1, 3, 3)
    assert ratio(1, 0, 3) is None
    assert ratio(None, 2, 3) is None
    assert 0.0 == percentile([], 0.5)
    assert 99.0 == percentile([float(x) for x in range(100)], 0.99)


def test_bytes_per_cached_list_averages_servers_over_what_they_cache() -> None:
    before = {"s1": 1000, "s2": 2000}
    end = {"s1": 1000 + 30 * 100, "s2": 2000 + 10 * 200, "s3": 9999}
    stored = {"s1": 30, "s2": 200, "s3": 0}
    # s1 caches all its 30 lists: 100 B each; s2 only cache_lists = 50 of its
    # 200: 40 B each; s3 has no sample before preload and is left out
    assert 70.0 == bytes_per_cached_list(before, end, stored, cache_lists=50)
    assert bytes_per_cached_list({}, end, stored, 10) is None


def test_rss_is_read_from_proc_status(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "status").write_text("Name:\tx\nVmRSS:\t  2048 kB\n")
    assert 2048 * 1024 == rss_bytes(7, tmp_path)
    assert rss_bytes(8, tmp_path) is None
