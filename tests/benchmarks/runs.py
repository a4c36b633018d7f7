"""Running a benchmark as a person does, for the smoke tests: a subprocess
from the checkout's root, its last stdout line the JSON figures."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.harness import ROOT


def run_json(args: list[str], timeout_s: float) -> dict[str, Any]:
    """``python ARGS`` from the checkout's root; its figures. Fails the test,
    with the end of its stderr, if it exits non-zero."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
