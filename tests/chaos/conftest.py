"""The chaos suite's cluster: five servers, fast repair settings, debug on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.scenario import CHAOS_SETTINGS, SERVERS
from tests.harness import ClusterHarness


@pytest.fixture
def chaos_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ClusterHarness]:
    settings = dict(CHAOS_SETTINGS)
    settings.update(getattr(request, "param", {}))
    with ClusterHarness(tmp_path, SERVERS, settings).running() as harness:
        yield harness
