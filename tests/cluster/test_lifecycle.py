"""A cluster is started and stopped on purpose, through the command line:
SIGHUP of the menu's process leaves nothing behind, a second cluster of a
busy topology is refused and the first goes on, ``stop`` stops a cluster
started by another process, and ``status`` shows each process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.harness import RUN, ClusterHarness, LineReader, topology_toml, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(150)]

THREE = ["s1", "s2", "s3"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, RUN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture
def three(tmp_path: Path) -> Iterator[ClusterHarness]:
    with ClusterHarness(tmp_path, THREE).running() as harness:
        yield harness


def status_json(cluster: ClusterHarness) -> dict[str, Any]:
    done = run("status", "--topology", str(cluster.topology), "--json", cwd=cluster.base)
    assert 0 == done.returncode, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def left_behind(topology: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(topology) in " ".join(p.info["cmdline"] or []):
                found.append(p)
    return found


@pytest.mark.parametrize(
    ("sig", "code"),
    [
        (signal.SIGHUP, 128 + signal.SIGHUP),  # the terminal closed: the menu stops the cluster
        (signal.SIGKILL, -signal.SIGKILL),  # no handler runs: the cluster sees its pipe close
    ],
    ids=["SIGHUP", "SIGKILL"],
)
def test_the_menu_ended_by_a_signal_leaves_no_process(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(topology_toml(tmp_path, THREE))
    env = {**os.environ, "SHOPLIST_TOPOLOGY": str(topology), "USER": "tester"}
    menu = subprocess.Popen(
        [sys.executable, RUN],
        stdin=subprocess.PIPE,  # kept open: the menu waits for a choice
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    kids: list[psutil.Process] = []
    try:
        reader = LineReader(menu)
        wait_until(lambda: "cluster up" in (reader.next_line(5.0) or ""), 90, "cluster up")
        kids = psutil.Process(menu.pid).children(recursive=True)
        assert len(kids) >= 1 + 1 + len(THREE)  # supervisor, proxy, servers
        menu.send_signal(sig)
        assert code == menu.wait(30)
        _, alive = psutil.wait_procs(kids, timeout=20)
        assert [] == alive
        assert [] == left_behind(topology)
        log = (tmp_path / "log" / "supervisor-all.jsonl").read_text()
        assert (sig == signal.SIGKILL) == ('"supervisor.guard_closed"' in log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(menu.pid, signal.SIGKILL)
        for p in kids:
            with contextlib.suppress(psutil.Error):
                p.kill()
        menu.wait(10)


def test_a_second_cluster_of_a_busy_topology_exits_2_and_the_first_goes_on(
    three: ClusterHarness,
) -> None:
    assert three.proc is not None
    before = three.child_pids()
    second = run("cluster", str(three.topology), cwd=three.base)
    assert 2 == second.returncode, second.stdout + second.stderr
    assert f"already running here (pid {three.proc.pid}" in second.stderr
    assert f"python run.py stop {three.topology}" in second.stderr
    env = {**os.environ, "SHOPLIST_TOPOLOGY": str(three.topology)}
    menu = subprocess.run(
        [sys.executable, RUN],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=three.base,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert 2 == menu.returncode, menu.stdout + menu.stderr
    assert f"already running here (pid {three.proc.pid}" in menu.stderr
    assert "python run.py --attach" in menu.stderr
    assert "cluster up" not in menu.stdout
    attached = subprocess.run(
        [sys.executable, RUN, "--attach"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=three.base,
        env={**env, "USER": "tester"},
        input="9\n0\n",  # my lists, exit
        check=False,
    )
    assert 0 == attached.returncode, attached.stdout + attached.stderr
    assert "Shopping lists" in attached.stdout
    assert "cluster stopped" not in attached.stdout
    assert three.proc.poll() is None
    assert before == three.child_pids()
    three.wait_ring(len(THREE))  # it still answers


def test_stop_stops_a_cluster_started_by_another_process(three: ClusterHarness) -> None:
    assert three.proc is not None
    kids = three.descendants()
    done = run("stop", str(three.topology), cwd=three.base)
    assert 0 == done.returncode, done.stderr
    assert f"cluster 'test' (supervisor pid {three.proc.pid}) stopped" in done.stdout
    assert 0 == three.proc.wait(20)
    _, alive = psutil.wait_procs(kids, timeout=20)
    assert [] == alive
    three.proc = None
    status = run("status", "--topology", str(three.topology), cwd=three.base)
    assert 4 == status.returncode
    assert "no cluster of topology 'test' is running here" in status.stderr
    again = run("stop", str(three.topology), cwd=three.base)
    assert 4 == again.returncode


def test_status_json_cut_short_by_its_reader_prints_no_traceback(three: ClusterHarness) -> None:
    proc = subprocess.Popen(
        [sys.executable, RUN, "status", "--topology", str(three.topology), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=three.base,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert b'{"n": 3' == proc.stdout.read(7)  # `| head -c 7`: the reader goes away
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    proc.wait(30)
    assert b"" == err


def test_status_shows_each_process_pid_uptime_and_restarts(three: ClusterHarness) -> None:
    pids = three.child_pids()
    out = status_json(three)
    assert three.proc is not None
    assert [three.proc.pid] == [s["pid"] for s in out["supervisors"]]
    assert pids["proxy"] == out["proxy"]["pid"]
    for member in out["members"]:
        assert pids[member["id"]] == member["pid"]
        assert "answered" == member["state"]
        assert 0 == member["restarts"]
        assert member["last_exit_code"] is None
        assert member["uptime_s"] >= 0
    os.kill(pids["s2"], signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        s2 = next(m for m in status_json(three)["members"] if m["id"] == "s2")
        return s2 if s2["restarts"] == 1 and s2["pid"] not in (None, pids["s2"]) else None

    s2 = wait_until(restarted, 30, "s2 restarted")
    assert -signal.SIGKILL == s2["last_exit_code"]
    text = run(
        "status",
        "--topology",
        str(three.topology),
        cwd=three.base,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert 0 == text.returncode, text.stderr
    assert f"1 (last exit {-signal.SIGKILL})" in text.stdout
    assert str(s2["pid"]) in text.stdout
    assert f"processes of supervisor pid {three.proc.pid}" in text.stdout
    assert str(pids["proxy"]) in text.stdout


def test_a_server_that_never_answered_a_probe_is_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy drops all that s3 sends (probe answers, anti-entropy replies):
    # its supervisor vouches for it, so it joins, but it never answers a probe.
    rule = {"peer": "s3", "channel": "*", "direction": "in", "drop": 1.0}
    monkeypatch.setenv("SHOPLIST_FAULTS", json.dumps([rule]))
    harness = ClusterHarness(tmp_path, THREE)
    try:
        harness.start(wait_ring=False)
        harness.wait_ring(2)

        def with_s3() -> dict[str, str] | None:
            members = {m["id"]: m["state"] for m in status_json(harness)["members"]}
            return members if "s3" in members else None

        states = wait_until(with_s3, 30, "s3 in the ring")
        assert {"s1": "answered", "s2": "answered", "s3": "starting"} == states
        text = run(
            "status",
            "--topology",
            str(harness.topology),
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert "starting" in text.stdout
        assert "suspect" not in text.stdout
        harness.stop()
    finally:
        harness.kill_everything()
