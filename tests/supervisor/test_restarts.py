"""The process supervisor restarts crashed children, within limits."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from protocol import DebugCrash, Done
from supervisor.probe import ask_proxy
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def _events(cluster: ClusterHarness, name: str) -> list[dict[str, object]]:
    return [e for e in cluster.log_events() if e.get("event") == name]


def test_supervisor_gives_up_on_a_child_that_keeps_dying_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    cluster = ClusterHarness(
        tmp_path,
        ["s1", "s2", "s3"],
        {"join_batch_size": 3, "process_max_restarts": 2, "process_restart_window_s": 60.0},
    )
    try:
        cluster.start()
        for kill in range(3):
            pid = cluster.child_pids()["s1"]
            os.kill(pid, signal.SIGKILL)
            if kill < 2:
                wait_until(
                    lambda pid=pid: cluster.child_pids().get("s1", pid) != pid,
                    30.0,
                    "s1 restarted",
                )
        wait_until(lambda: _events(cluster, "supervisor.gave_up"), 30.0, "the supervisor gives up")
        exits = _events(cluster, "supervisor.child_exited")
        backoffs = [e["restart_in_s"] for e in exits]
        assert backoffs == sorted(backoffs)  # exponential backoff grows
        assert backoffs[0] < backoffs[-1]
        assert "s1" not in cluster.child_pids()
        assert {"s2", "s3", "proxy"} <= set(cluster.child_pids())
        with cluster.session("alice") as alice:
            assert alice.create("still served")[1]
    finally:
        if cluster.proc is not None:
            cluster.stop()
        cluster.kill_everything()


def test_a_process_whose_actor_keeps_crashing_exits_and_is_restarted(tmp_path: Path) -> None:
    cluster = ClusterHarness(
        tmp_path,
        ["s1", "s2", "s3"],
        {"join_batch_size": 3, "debug": True, "actor_max_restarts": 2},
    )
    try:
        cluster.start()
        first = cluster.child_pids()["s2"]
        for k in range(3):
            reply = ask_proxy(
                cluster.endpoints()["frontend"],
                DebugCrash(msg_id=f"c{k}", target="s2"),
                5.0,
                cluster.operator_curve(),
            )
            assert isinstance(reply, Done)
        wait_until(
            lambda: cluster.child_pids().get("s2", first) != first, 30.0, "s2's process restarted"
        )
        exits = [e for e in _events(cluster, "supervisor.child_exited") if e["child"] == "s2"]
        assert [70] == [e["exit_code"] for e in exits]
        assert 2 == len([e for e in _events(cluster, "supervisor.restarted") if e["node"] == "s2"])
        assert _events(cluster, "supervisor.gave_up")  # the in-process one, for s2's actor
        cluster.wait_ring(3)
    finally:
        if cluster.proc is not None:
            cluster.stop()
        cluster.kill_everything()


def test_a_server_whose_store_cannot_open_exits_until_it_can_then_joins(tmp_path: Path) -> None:
    # No zombie: a server whose actor cannot start (its data folder is a
    # file, so its database cannot be created) must not stay up with no
    # actor; its process exits 70, is restarted, and joins once it can start.
    cluster = ClusterHarness(
        tmp_path,
        ["s1", "s2", "s3"],
        {"join_batch_size": 3, "actor_max_restarts": 2, "process_max_restarts": 50},
    )
    blocker = cluster.data_dir / "s1"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    try:
        cluster.start(wait_ring=False)
        cluster.wait_ring(2)

        def s1_exits() -> list[dict[str, object]]:
            events = _events(cluster, "supervisor.child_exited")
            return [e for e in events if e["child"] == "s1"]

        exits = wait_until(s1_exits, 30.0, "s1's process exiting")
        assert {70} == {e["exit_code"] for e in exits}
        assert any(e["node"] == "s1" for e in _events(cluster, "actor.start_failed"))
        blocker.unlink()
        cluster.wait_ring(3)
        assert "s1" in {m.node_id for m in cluster.status().members}
        assert not [e for e in _events(cluster, "supervisor.gave_up") if e.get("child") == "s1"]
    finally:
        if cluster.proc is not None:
            cluster.stop()
        cluster.kill_everything()
