"""ruff and mypy stay clean: the suite fails when they don't."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.timeout(120)
def test_ruff_check_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert 0 == result.returncode, result.stdout + result.stderr


@pytest.mark.timeout(120)
def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", ".")
    assert 0 == result.returncode, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_mypy_is_clean() -> None:
    result = run("mypy")
    assert 0 == result.returncode, result.stdout + result.stderr
