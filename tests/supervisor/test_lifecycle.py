"""One cluster per data folder, through the command line, with no cluster running:
``status`` and ``stop`` say none is, a taken port is named at once, a lock
left by a dead process blocks nothing, and the shipped topologies load."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.lifecycle import (
    ClusterBusy,
    ClusterLock,
    lock_path,
    running_holder,
    running_holders,
)
from supervisor.state import read_states
from supervisor.topology import load_topology
from tests.harness import RUN, topology_toml

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["s1", "s2", "s3"]


def run(*args: str, cwd: Path, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, RUN, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(topology_toml(tmp_path, SERVERS))
    return path


def test_status_without_a_cluster_says_none_is_running(topology: Path) -> None:
    done = run("status", "--topology", str(topology), cwd=topology.parent)
    assert 4 == done.returncode
    assert "no cluster of topology 'test' is running here" in done.stderr
    assert f"cluster-*.lock in {load_topology(topology).data_dir}" in done.stderr
    assert "Traceback" not in done.stderr
    assert "" == done.stdout


def test_stop_without_a_cluster_says_none_is_running(topology: Path) -> None:
    done = run("stop", str(topology), cwd=topology.parent)
    assert 4 == done.returncode
    assert "no cluster of topology 'test' is running here" in done.stderr


def test_a_lock_file_left_by_a_dead_cluster_blocks_nothing(topology: Path) -> None:
    topo = load_topology(topology)
    path = lock_path(topo)
    path.parent.mkdir(parents=True)
    dead = {"pid": 999_999, "host": None, "cluster": "test", "started_at": 0.0}
    path.write_text(json.dumps(dead))
    assert running_holder(topo) is None
    lock = ClusterLock(topo)
    lock.acquire(str(topology))
    try:
        holder = running_holder(topo)
        assert holder is not None
        assert os.getpid() == holder.pid
        with pytest.raises(ClusterBusy) as caught:
            ClusterLock(topo).acquire(str(topology))
        assert f"pid {os.getpid()}" in str(caught.value)
        assert f"python run.py stop {topology}" in str(caught.value)
    finally:
        lock.release()
    assert running_holder(topo) is None


def test_a_state_file_without_its_supervisor_is_not_read(topology: Path) -> None:
    topo = load_topology(topology)
    topo.data_dir.mkdir(parents=True)
    (topo.data_dir / "supervisor-all.json").write_text(
        json.dumps({"pid": 999_999, "host": None, "started_at": 0.0, "processes": []})
    )
    assert [] == read_states(topo)
    lock = ClusterLock(topo)
    lock.acquire(str(topology))
    try:
        assert [] == read_states(topo)  # another pid's: not this supervisor's
        (topo.data_dir / "supervisor-all.json").write_text("{not json")
        assert [] == read_states(topo)  # malformed: the same as none
    finally:
        lock.release()


def test_supervisors_of_two_hosts_share_a_folder_but_one_of_every_host_does_not(
    topology: Path,
) -> None:
    topo = load_topology(topology)
    alpha, beta = ClusterLock(topo, "alpha"), ClusterLock(topo, "beta")
    alpha.acquire(str(topology))
    try:
        beta.acquire(str(topology))
        assert [lock_path(topo, "alpha"), lock_path(topo, "beta")] == [alpha.path, beta.path]
        assert {"alpha", "beta"} == {h.host for h in running_holders(topo)}
        with pytest.raises(ClusterBusy):
            ClusterLock(topo, None).acquire(str(topology))
        with pytest.raises(ClusterBusy):
            ClusterLock(topo, "alpha").acquire(str(topology))
        beta.release()
        alpha.release()
        every = ClusterLock(topo, None)
        every.acquire(str(topology))
        with pytest.raises(ClusterBusy):
            ClusterLock(topo, "beta").acquire(str(topology))
        every.release()
    finally:
        alpha.release()
        beta.release()
    assert [] == running_holders(topo)


def test_a_host_lock_taken_but_not_yet_written_blocks_only_its_own_host(topology: Path) -> None:
    """A supervisor writes its pid just after taking its lock: in between, one
    of another host starting beside it goes on (the netns tests start one
    per host at once), while one of the same host, or of every host, does not."""
    topo = load_topology(topology)
    path = lock_path(topo, "alpha")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as taken:
        fcntl.flock(taken.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert ["alpha"] == [h.host for h in running_holders(topo)]
        beta = ClusterLock(topo, "beta")
        beta.acquire(str(topology))
        beta.release()
        for host in ("alpha", None):
            with pytest.raises(ClusterBusy):
                ClusterLock(topo, host).acquire(str(topology))


def test_a_cluster_on_a_port_in_use_exits_2_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = topology_toml(tmp_path, SERVERS).replace("base_port = 0", f"base_port = {port}")
        path = tmp_path / "topology.toml"
        path.write_text(text)
        done = run("cluster", str(path), cwd=tmp_path)
    assert 2 == done.returncode, done.stdout + done.stderr
    assert f"port {port} (frontend) on 127.0.0.1 is not free" in done.stderr
    assert "starting cluster" not in done.stdout
    assert running_holder(load_topology(path)) is None  # it let its lock go


def test_trace_from_another_folder_says_where_it_looked(topology: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run("trace", "feedc0de", "--topology", str(topology), cwd=elsewhere)
    assert 3 == done.returncode
    assert f"no events for trace feedc0de; looked in {tmp_path / 'log'}" in done.stderr


def test_trace_of_the_default_topology_looks_under_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPLIST_TOPOLOGY"}
    done = subprocess.run(
        [sys.executable, RUN, "trace", "feedc0de"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert 3 == done.returncode
    assert str(tmp_path / "var" / "local" / "log") in done.stderr
    assert str(ROOT / "var" / "local" / "log") in done.stderr


def test_an_unexpected_error_is_one_line_without_a_traceback(topology: Path) -> None:
    # A lock "file" that is a folder: reading it fails in a way no mode expects.
    (topology.parent / "data" / "cluster-all.lock").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "SHOPLIST_DEBUG"}
    done = subprocess.run(
        [sys.executable, RUN, "status", "--topology", str(topology)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=topology.parent,
        env=env,
        check=False,
    )
    assert 70 == done.returncode
    assert "Traceback" not in done.stderr
    assert 1 == len(done.stderr.strip().splitlines())
    assert "SHOPLIST_DEBUG=1" in done.stderr
    debug = subprocess.run(
        [sys.executable, RUN, "status", "--topology", str(topology)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=topology.parent,
        env={**env, "SHOPLIST_DEBUG": "1"},
        check=False,
    )
    assert len(debug.stderr.strip().splitlines()) > 1  # the traceback, for a developer


@pytest.mark.parametrize("name", ["local.toml", "two-hosts.toml"])
def test_the_shipped_topologies_load(name: str) -> None:
    topo = load_topology(ROOT / "topologies" / name)
    assert topo.cluster.dead_after_s > 0
    assert len(topo.servers) == 5


def test_the_two_host_topology_places_the_proxy_on_one_host() -> None:
    topo = load_topology(ROOT / "topologies" / "two-hosts.toml")
    assert {"alpha", "beta"} == topo.hosts()
    assert "alpha" == topo.proxy.host
    assert "0.0.0.0" == topo.proxy.bind_host
    assert all(topo.proxy.port(ch) for ch in ("frontend", "backend", "hello", "liveness"))
    by_host = {h: [s.id for s in topo.servers if s.host == h] for h in topo.hosts()}
    assert {"alpha": ["a1", "a2"], "beta": ["b1", "b2", "b3"]} == by_host
