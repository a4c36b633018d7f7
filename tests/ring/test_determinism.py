"""Positions and lookups are the same in every process, whatever its hash salt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ring.snapshot import snapshot

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "import json; from tests.ring.snapshot import snapshot; print(json.dumps(snapshot()))"


def snapshot_in_subprocess(hash_seed: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def here() -> dict[str, Any]:
    # Through JSON so that tuples compare equal to the lists a subprocess sends.
    result: dict[str, Any] = json.loads(json.dumps(snapshot()))
    return result


@pytest.fixture(scope="module")
def elsewhere() -> list[dict[str, Any]]:
    # Two seeds that differ from each other (and from this process's seed, if it is fixed).
    ours = os.environ.get("PYTHONHASHSEED")
    seeds = [seed for seed in ("1", "2", "3") if seed != ours][:2]
    return [snapshot_in_subprocess(seed) for seed in seeds]


def test_the_subprocesses_really_use_different_hash_salts(elsewhere: list[dict[str, Any]]) -> None:
    first, second = elsewhere
    assert first["str_hash"] != second["str_hash"]


@pytest.mark.parametrize(
    "part",
    [
        "key_positions",
        "vnode_positions",
        "positions_of",
        "lookup_node",
        "get_replicas",
        "shares",
        "responsible",
        "print_key_ranges",
    ],
)
def test_ring_results_are_identical_across_processes(
    part: str, here: dict[str, Any], elsewhere: list[dict[str, Any]]
) -> None:
    for other in elsewhere:
        assert here[part] == other[part]
