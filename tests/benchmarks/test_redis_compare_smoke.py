"""A moment of replicated Redis on the bench's workload (benchmarks/redis_compare.py):
real redis-server processes on 127.0.0.1; skipped without redis-server; no
figures asserted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.redis_compare import RedisReplicaSet, _hset_all, measure_redis, redis_server
from benchmarks.resp import encode_command

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def _server() -> str:
    server = redis_server()
    if server is None:
        pytest.skip("redis-server is not installed")
    return server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_short_run_reports_every_figure_and_loses_nothing(tmp_path: Path) -> None:
    _server()
    figures = measure_redis(
        tmp_path,
        clients=2,
        window=8,
        seconds=0.5,
        lists=20,
        items=5,
        read_ratio=0.1,
        latency_requests=20,
        prebuild=100,
    )
    assert 0 == figures["redis_lost_writes"]
    assert figures["redis_writes_per_s"] > 0
    assert 20 == figures["redis_lists_verified"]
    for key in ("redis_reads_per_s", "redis_p50_ms", "redis_p99_ms", "redis_server_cpu_s"):
        assert isinstance(figures[key], float)
    assert "WAIT 2" in figures["redis_ack"]
    assert [] == list(tmp_path.iterdir())  # its files are removed


def _use_then_fail(redis: RedisReplicaSet, pids: list[int]) -> None:
    pids.extend(p.pid for p in redis.procs)
    conn = redis.connect(redis.ports[1])
    info = conn.call("INFO", "replication")
    conn.close()
    assert isinstance(info, bytes)
    assert b"role:slave" in info
    raise RuntimeError("failed on purpose")


def test_its_servers_are_stopped_when_the_block_fails(tmp_path: Path) -> None:
    pids: list[int] = []
    replica_set = RedisReplicaSet(_server(), tmp_path)
    with pytest.raises(RuntimeError, match="failed on purpose"), replica_set as redis:
        _use_then_fail(redis, pids)
    assert 3 == len(pids)
    assert not any(_alive(pid) for pid in pids)  # reaped by stop(): not even zombies


def test_the_preloads_templated_hsets_are_the_commands_encoded_one_by_one() -> None:
    ids, items = ["a-1", "b-22"], [f"item-{i:02d}" for i in range(12)]
    one_by_one = []
    for lid in ids:
        args: list[bytes | str | int] = []
        for item in items:
            args += [item, 1]
        one_by_one.append(encode_command("HSET", f"list:{lid}", *args))
    assert b"".join(one_by_one) == _hset_all(ids, items)
