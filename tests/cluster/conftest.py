"""Fixtures that start a real cluster and always tear it down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ClusterHarness

FIVE = ["s1", "s2", "s3", "s4", "s5"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterHarness]:
    """Five servers and a proxy on ephemeral loopback ports."""
    harness = ClusterHarness(tmp_path, FIVE)
    try:
        harness.start()
        yield harness
    finally:
        try:
            if harness.proc is not None:
                harness.stop()
        finally:
            harness.kill_everything()
