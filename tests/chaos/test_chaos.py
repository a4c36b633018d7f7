"""Chaos: kill actors and processes while clients write; nothing acknowledged is lost.

Each scenario runs a real cluster of five servers (N=3, R=2, W=2), a few
continuous writers and two ephemeral writers (see :mod:`tests.chaos.workload`),
injects its fault while the writers run, heals, stops the writers and waits
with a deadline for convergence. It then checks that every acknowledged add
is present (and no more than was attempted), that all N replicas of every
list are equal, and that no process is left. It prints its figures.
"""

from __future__ import annotations

import threading

import pytest

from protocol import DebugCrash, DebugFaults, FaultRule
from tests.chaos.scenario import (
    FAULT_S,
    SERVERS,
    Report,
    ask_debug,
    detected_after,
    kill_child,
    owners,
    run_scenario,
    wait_restarted,
)
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.timeout(240)]


# ---------------------------------------------------------------- scenarios


def test_one_server_killed(chaos_cluster: ClusterHarness) -> None:
    pids: dict[str, int] = {}

    def fault(report: Report) -> None:
        victim = owners(chaos_cluster, report.ephemeral[0])[0]
        report.victims.append(victim)
        pids[victim] = kill_child(chaos_cluster, victim)

    def heal(report: Report) -> None:
        for victim, pid in pids.items():
            wait_restarted(chaos_cluster, victim, pid)

    run_scenario(chaos_cluster, "one server killed", fault, heal, ("proxy.suspect", None))


def test_two_servers_killed_at_once(chaos_cluster: ClusterHarness) -> None:
    pids: dict[str, int] = {}

    def fault(report: Report) -> None:
        # Two of the three replicas of a list that only the cluster holds.
        report.victims.extend(owners(chaos_cluster, report.ephemeral[0])[:2])
        for victim in report.victims:
            pids[victim] = kill_child(chaos_cluster, victim)

    def heal(report: Report) -> None:
        for victim, pid in pids.items():
            wait_restarted(chaos_cluster, victim, pid)

    run_scenario(chaos_cluster, "two servers killed", fault, heal, ("proxy.suspect", None))


def test_proxy_killed(chaos_cluster: ClusterHarness) -> None:
    pids: dict[str, int] = {}

    def fault(report: Report) -> None:
        report.victims.append("proxy")
        pids["proxy"] = kill_child(chaos_cluster, "proxy")

    def heal(report: Report) -> None:
        wait_restarted(chaos_cluster, "proxy", pids["proxy"])
        chaos_cluster.wait_ring(len(SERVERS))

    run_scenario(chaos_cluster, "proxy killed", fault, heal, ("supervisor.child_exited", "proxy"))


def test_actor_crashes(chaos_cluster: ClusterHarness) -> None:
    targets: list[str] = []
    stop = threading.Event()
    crashes: list[str] = []

    def crash_loop() -> None:
        while not stop.is_set():
            for t in targets:
                ask_debug(chaos_cluster, DebugCrash(msg_id=f"crash-{len(crashes)}", target=t))
                crashes.append(t)
            stop.wait(0.5)

    thread = threading.Thread(target=crash_loop, daemon=True)

    def fault(report: Report) -> None:
        targets.extend(owners(chaos_cluster, report.ephemeral[0]))
        report.victims.extend(targets)
        thread.start()

    def heal(report: Report) -> None:
        stop.set()
        thread.join(10)

    run_scenario(chaos_cluster, "actor crashes", fault, heal, ("supervisor.restarted", "server"))
    restarts = [
        e
        for e in chaos_cluster.log_events("server-*.jsonl")
        if e["event"] == "supervisor.restarted"
    ]
    assert restarts, "no actor was restarted"
    # the processes were not killed: every server still runs its first process
    exits = [
        e
        for e in chaos_cluster.log_events("supervisor-*.jsonl")
        if e["event"] == "supervisor.child_exited"
    ]
    assert [] == exits
    print(f"crash requests: {len(crashes)}, actor restarts: {len(restarts)}")


def test_server_cut_off(chaos_cluster: ClusterHarness) -> None:
    victims: list[str] = []

    def fault(report: Report) -> None:
        victims.append(owners(chaos_cluster, report.ephemeral[1])[0])
        report.victims.extend(victims)
        rule = FaultRule(peer=victims[0], drop=1.0)
        ask_debug(chaos_cluster, DebugFaults(msg_id="cut", rules=[rule], duration_s=FAULT_S))

    def heal(report: Report) -> None:
        ask_debug(chaos_cluster, DebugFaults(msg_id="heal", rules=[], duration_s=0))

    run_scenario(
        chaos_cluster,
        "server cut off",
        fault,
        heal,
        ("proxy.suspect", None),
    )


@pytest.mark.parametrize("chaos_cluster", [{"dead_after_s": 2.0}], indirect=True)
def test_permanent_loss_is_re_replicated(chaos_cluster: ClusterHarness) -> None:
    victims: list[str] = []

    def fault(report: Report) -> None:
        victims.append(owners(chaos_cluster, report.ephemeral[0])[0])
        report.victims.extend(victims)
        (chaos_cluster.data_dir / victims[0] / "RETIRED").touch()
        kill_child(chaos_cluster, victims[0])

    def heal(report: Report) -> None:
        victim = victims[0]
        wait_until(
            lambda: victim not in [m.node_id for m in chaos_cluster.status().members],
            30.0,
            f"{victim} removed from the ring",
        )

    report = run_scenario(chaos_cluster, "permanent loss", fault, heal, ("proxy.suspect", None))
    status = chaos_cluster.status()
    assert 4 == len(status.members)
    # the list that lost a replica has N copies again, none on the lost server
    assert victims[0] not in owners(chaos_cluster, report.ephemeral[0])
    removed_s = detected_after(chaos_cluster, ("proxy.server_removed", victims[0]), report.fault_at)
    assert removed_s is not None
    print(f"removed from the ring {removed_s:.2f}s after the kill (dead_after_s=2.0)")
