"""What a fresh ``run.py client`` process imports: only what its command needs.

Start-up is most of a client command's time, so ``--help`` and usage errors
import no client at all, a client command imports neither the menu nor the
cluster's roles, and what start-up made is frozen for the collector. Each
check runs in a fresh interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ui.cli import COMMANDS, commands
from ui.contract import COMMANDS as PARSED

ROOT = Path(__file__).resolve().parent.parent.parent

#: Prints, as JSON, which of these top-level packages and modules were imported.
_PROBE = """
import gc, json, sys
sys.path.insert(0, {root!r})
import run
try:
    code = run.main({argv!r})
except SystemExit as exc:
    code = exc.code
watched = {watched!r}
print(json.dumps({{
    "code": code,
    "imported": sorted(m for m in sys.modules if m in watched or m.split(".")[0] in watched),
    "frozen": gc.get_freeze_count(),
    "gc_enabled": gc.isenabled(),
}}))
"""


def _probe(argv: list[str], watched: set[str], cwd: Path) -> dict[str, object]:
    code = _PROBE.format(root=str(ROOT), argv=argv, watched=sorted(watched))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_parser_offers_every_client_command_and_no_other() -> None:
    assert COMMANDS is PARSED
    assert tuple(commands._COMMANDS) == COMMANDS


@pytest.mark.parametrize(
    "argv",
    [
        ["client", "--help"],
        ["client", "--id", "x", "nonsense"],  # not a command: exit 2 from argparse
        ["client", "lists"],  # no --id
        ["client", "--id", "x"],  # no command: the commands are listed
        ["client", "--id", "x", "add", "--help"],  # one command's help
        ["client", "--id", "../x", "lists"],  # not a plain name
        ["--help"],
    ],
)
def test_parsing_imports_no_client(argv: list[str], tmp_path: Path) -> None:
    heavy = {"actors", "supervisor", "ui.cli", "ui.client", "ui.menu", "rich", "structlog", "zmq"}
    result = _probe(argv, heavy, tmp_path)
    assert result["code"] in (0, 2)
    assert [] == result["imported"]


def test_a_client_command_imports_neither_the_menu_nor_the_cluster(tmp_path: Path) -> None:
    argv = ["client", "--id", "solo", "--proxy", "tcp://127.0.0.1:9"]
    argv += ["--store", str(tmp_path / "store"), "--json", "lists"]
    watched = {
        "ui.menu",
        "actors.proxy",
        "actors.server",
        "ring",
        "supervisor.supervisor",
        "supervisor.child",
        "supervisor.probe",
    }
    result = _probe(argv, watched, tmp_path)
    assert result["code"] == 0
    assert [] == result["imported"]
    # start-up's modules are settled, and the collector runs for the rest
    assert isinstance(result["frozen"], int)
    assert result["frozen"] > 10_000
    assert result["gc_enabled"] is True
