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
    with ClusterHarness(tmp_path, FIVE).running() as harness:
        yield harness
