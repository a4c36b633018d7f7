"""A run of benchmarks/attacks.py in each mode, to keep it working: it runs and
reports every attack (what each attack achieves is not asserted here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.runs import run_json

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

ATTACKS = {"1", "2", "3", "4", "5", "6", "7", "8a", "8b", "8c", "9a", "9b", "10"}


@pytest.mark.parametrize("security", ["curve", "off"])
def test_attacks_run_and_report_every_attack(tmp_path: Path, security: str) -> None:
    var = tmp_path / "attacks"
    result = run_json(
        ["-m", "benchmarks.attacks", "--security", security, "--var", str(var), "--json"],
        timeout_s=200,
    )
    assert security == result["security"]
    rows = result["attacks"]
    assert ATTACKS == {row["attack"].split(".", 1)[0] for row in rows}
    for row in rows:
        assert {"attack", "sent", "answer", "effect"} == set(row)
        assert all(isinstance(value, str) and value for value in row.values()), row
    assert [] == list(var.iterdir())  # its cluster's files are cleaned up
