"""pykka's own test suite, run against the hosted runtime (``actors.kernel.runtime``).

pykka's tests take the actor type as a parameter (``RUNTIMES`` in their
``conftest.py``), so a new actor type can be checked by the suite that checks
``ThreadingActor``. This test downloads pykka's sdist (the pinned version),
extracts it into a temporary folder, adds a ``hosted`` runtime to that copy's
``RUNTIMES`` (``pykka_suite/hosted_runtime.py``), and runs the suite for it in
a pytest subprocess. pykka's code is never copied into this repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest

HELPERS = Path(__file__).parent / "pykka_suite"
PROJECT_ROOT = Path(__file__).parents[3]

#: The line of pykka's conftest.py before which the hosted runtime is added.
ANCHOR = '@pytest.fixture(scope="session", params=RUNTIMES.values())'
INSERTED = 'RUNTIMES["hosted"] = __import__("hosted_runtime").param(Runtime)\n\n\n'

#: pykka's tests that cannot hold for a hosted runtime, by design: test id -> why.
DESELECTED: dict[str, str] = {
    "tests/proxy/test_dynamic_method_calls.py::test_can_proxy_itself_and_use_attrs_added_at_runtime"
    "[hosted]": "a handler's call through its own proxy is an ask from the host thread: refused",
    "tests/proxy/test_static_method_calls.py::test_can_proxy_itself_for_offloading_work_to_the_future"
    "[hosted]": "a handler's call through its own proxy is an ask from the host thread: refused",
}

#: Fewer tests than this means the suite did not run the hosted runtime as meant.
MIN_PASSED = 120
DOWNLOAD_TIMEOUT_S = 90.0
SUITE_TIMEOUT_S = 150.0


def download_sdist(into: Path) -> Path:
    """pykka's sdist for the installed version; skips the test when PyPI is out of reach."""
    pinned = version("pykka")  # test_pykka_internals.py checks it is the pin
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        f"pykka=={pinned}",
        "-d",
        str(into),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download of pykka's sdist took over {DOWNLOAD_TIMEOUT_S}s (no PyPI?)")
    archives = sorted(into.glob("pykka-*.tar.gz"))
    if done.returncode != 0 or len(archives) != 1:
        pytest.skip(
            f"could not download pykka=={pinned}'s sdist from PyPI"
            f" (pip exit code {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return archives[0]


def extract(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (root,) = into.iterdir()
    return root


def add_hosted_runtime(suite: Path) -> None:
    conftest = suite / "tests" / "conftest.py"
    text = conftest.read_text()
    if text.count(ANCHOR) != 1:
        pytest.fail(
            f"pykka's tests/conftest.py no longer has the line {ANCHOR!r} exactly once:"
            " re-check how its RUNTIMES are given to the `runtime` fixture, and update"
            " ANCHOR/INSERTED in this file"
        )
    conftest.write_text(text.replace(ANCHOR, INSERTED + ANCHOR))


def check_deselected_exist(suite: Path) -> None:
    for test_id in DESELECTED:
        path, name = test_id.split("::")
        function = name.split("[")[0]
        if f"def {function}(" not in (suite / path).read_text():
            pytest.fail(f"pykka's suite has no test {test_id}: re-check DESELECTED")


@pytest.mark.timeout(240)
def test_pykka_suite_passes_for_the_hosted_runtime(tmp_path: Path) -> None:
    archive = download_sdist(tmp_path / "download")
    suite = extract(archive, tmp_path / "sdist")
    add_hosted_runtime(suite)
    check_deselected_exist(suite)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_ADDOPTS", "PYTEST_PLUGINS"}}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HELPERS), str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests",
        "-p",
        "hosted_runtime",
        "-p",
        "no:cacheprovider",
        f"--rootdir={suite}",
        "-k",
        "hosted",
        "--timeout=30",
        "-q",
        "-rfE",
        *(f"--deselect={test_id}" for test_id in DESELECTED),
    ]
    try:
        done = subprocess.run(
            command,
            cwd=suite,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"pykka's suite took over {SUITE_TIMEOUT_S}s:\n{exc.stdout}\n{exc.stderr}")
    output = f"{done.stdout}\n{done.stderr}"
    assert 0 == done.returncode, f"pykka's suite failed for the hosted runtime:\n{output}"
    summary = re.search(r"(\d+) passed", done.stdout)
    assert summary is not None, f"no summary line in pykka's suite output:\n{output}"
    assert int(summary.group(1)) >= MIN_PASSED, f"too few of pykka's tests ran:\n{output}"
