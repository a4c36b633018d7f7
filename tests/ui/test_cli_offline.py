"""The command line as a person meets it, with no cluster: help, ids, naming,
messages, and offline edits. Every check runs ``run.py client`` as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import LineReader
from ui.contract import COMMANDS, EXIT_OK, EXIT_UNKNOWN, EXIT_UNREACHABLE, EXIT_USAGE, HELP

ROOT = Path(__file__).resolve().parents[2]
RUN = str(ROOT / "run.py")
#: Nothing listens here: the client works offline.
PROXY = "tcp://127.0.0.1:9"

pytestmark = pytest.mark.timeout(120)


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, RUN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def client(store: Path, *args: str, json_out: bool = True) -> subprocess.CompletedProcess[str]:
    """``run.py client --id alice`` on ``store``, offline; ``--json`` unless told."""
    where = ["--proxy", PROXY, "--store", str(store)]
    return run(
        store.parent, "client", "--id", "alice", *where, *(["--json"] if json_out else []), *args
    )


def out(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    doc: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return doc


def test_help_lists_every_command_with_its_arguments_and_what_it_does(tmp_path: Path) -> None:
    done = run(tmp_path, "client", "--help")
    assert EXIT_OK == done.returncode, done.stderr
    for name in COMMANDS:
        assert HELP[name].usage in done.stdout, name
        assert HELP[name].summary in done.stdout, name


def test_each_command_has_its_own_help_with_an_example(tmp_path: Path) -> None:
    for name in COMMANDS:
        done = run(tmp_path, "client", "--id", "a", name, "--help")
        assert EXIT_OK == done.returncode, (name, done.stderr)
        assert HELP[name].usage in done.stdout, name
        assert f"--id alice {HELP[name].example}" in done.stdout, name
    assert [] == list(tmp_path.iterdir())  # help touches no store


def test_no_command_is_a_usage_error_that_lists_the_commands(tmp_path: Path) -> None:
    done = run(tmp_path, "client", "--id", "a")
    assert EXIT_USAGE == done.returncode
    for name in COMMANDS:
        assert HELP[name].usage in done.stderr, name


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden", "", "x" * 65])
def test_an_id_that_is_not_a_plain_name_is_refused_before_anything_is_written(
    tmp_path: Path, bad: str
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    done = run(cwd, "client", "--id", bad, "--proxy", PROXY, "create", "x")
    assert EXIT_USAGE == done.returncode
    assert "plain name" in done.stderr
    assert [cwd] == list(tmp_path.iterdir())
    assert [] == list(cwd.iterdir())


def test_a_plain_id_with_dots_dashes_and_underscores_is_taken(tmp_path: Path) -> None:
    done = run(tmp_path, "client", "--id", "bob.smith-2_x", "--proxy", PROXY, "lists")
    assert EXIT_OK == done.returncode, done.stderr
    assert (tmp_path / "var" / "clients" / "bob.smith-2_x" / "client.db").exists()


def test_every_bad_quantity_gets_the_same_message(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    list_id = str(out(client(store, "create", "groceries"))["id"])
    assert EXIT_OK == client(store, "add", list_id, "milk", "3").returncode
    reasons = []
    for args in (("add", "milk", "zero"), ("add", "milk", "0"), ("acquire", "milk", "-1")):
        done = client(store, args[0], list_id, *args[1:])
        assert EXIT_USAGE == done.returncode, args
        reasons.append(str(out(done)["error"]).rsplit(", got", 1)[0])
    assert 1 == len(set(reasons)), reasons


def test_an_offline_edit_is_saved_offline_at_once(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    list_id = str(out(client(store, "create", "groceries"))["id"])
    done = client(store, "add", list_id, "milk", json_out=False)
    assert EXIT_OK == done.returncode, done.stderr
    assert "saved offline" in done.stdout
    assert out(client(store, "lists"))["lists"] == [
        {"id": list_id, "name": "groceries", "items": 1, "pending": True}
    ]


def test_an_unreachable_cluster_is_named_by_its_endpoint(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    list_id = str(out(client(store, "create", "groceries"))["id"])
    for args in (("pull", list_id), ("push", list_id), ("sync",), ("members", list_id)):
        done = client(store, *args)
        assert EXIT_UNREACHABLE == done.returncode, args
        assert f"the cluster is not reachable at {PROXY}" in str(out(done)["error"]), args


def test_a_list_is_named_by_id_prefix_or_unique_name(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    groceries = str(out(client(store, "create", "groceries"))["id"])
    parties = [str(out(client(store, "create", "party"))["id"]) for _ in range(2)]

    by_name = client(store, "add", "Groceries ", "milk")
    assert EXIT_OK == by_name.returncode, by_name.stdout
    assert groceries == out(by_name)["list"]["id"]  # type: ignore[index]
    by_prefix = client(store, "show", groceries[:8])
    assert EXIT_OK == by_prefix.returncode
    assert groceries == out(by_prefix)["id"]

    ambiguous = client(store, "show", "party")
    assert EXIT_USAGE == ambiguous.returncode
    for list_id in parties:
        assert list_id in str(out(ambiguous)["error"])
    unknown = client(store, "show", "picnic")
    assert EXIT_UNKNOWN == unknown.returncode


def test_pull_of_a_prefix_not_held_here_asks_for_the_full_id(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    client(store, "lists")
    done = client(store, "pull", "df1410e3")
    assert EXIT_UNKNOWN == done.returncode
    assert "full id" in str(out(done)["error"])
    assert "join LINK" in str(out(done)["error"])


def test_rename_changes_the_name_and_keeps_the_edit_pending(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    list_id = str(out(client(store, "create", "groceries"))["id"])
    done = client(store, "rename", "groceries", "party")
    assert EXIT_OK == done.returncode, done.stdout
    assert out(done)["pushed"] is False
    assert "party" == out(client(store, "show", list_id))["name"]
    assert EXIT_UNKNOWN == client(store, "show", "groceries").returncode


def test_watch_says_when_it_is_offline(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    client(store, "create", "groceries")
    cmd = [sys.executable, RUN, "client", "--id", "alice", "--proxy", PROXY]
    watcher = subprocess.Popen(
        [*cmd, "--store", str(store), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        lines = LineReader(watcher)
        assert "watching 1 lists" in (lines.next_line(30.0) or "")
        assert f"offline: the cluster is not reachable at {PROXY}" in (lines.next_line(30.0) or "")
    finally:
        watcher.kill()
        watcher.wait(10)
