"""Chaos: processes paused (SIGSTOP) while clients write, then resumed (SIGCONT).

A paused process holds its sockets open and answers nothing, as a process
stalled by its machine or a long collection would: the cluster must route
around it, lose nothing acknowledged, and bring it up to date once it runs
again (see :mod:`tests.chaos.scenario` for the ledger and the checks).
"""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from tests.chaos.scenario import Report, owners, run_scenario
from tests.harness import ClusterHarness

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.timeout(240)]


def _pause(cluster: ClusterHarness, name: str) -> int:
    pid = cluster.child_pids()[name]
    os.kill(pid, signal.SIGSTOP)
    return pid


def _resume_all(paused: dict[str, int]) -> None:
    """Never leave a stopped process behind, even when the scenario failed."""
    for pid in paused.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_one_server_paused(chaos_cluster: ClusterHarness) -> None:
    paused: dict[str, int] = {}

    def fault(report: Report) -> None:
        victim = owners(chaos_cluster, report.ephemeral[0])[0]
        report.victims.append(victim)
        paused[victim] = _pause(chaos_cluster, victim)

    def heal(report: Report) -> None:
        _resume_all(paused)

    try:
        run_scenario(chaos_cluster, "one server paused", fault, heal, ("proxy.suspect", None))
    finally:
        _resume_all(paused)


def test_proxy_paused(chaos_cluster: ClusterHarness) -> None:
    paused: dict[str, int] = {}

    def fault(report: Report) -> None:
        report.victims.append("proxy")
        paused["proxy"] = _pause(chaos_cluster, "proxy")

    def heal(report: Report) -> None:
        os.kill(paused["proxy"], signal.SIGCONT)

    try:
        run_scenario(chaos_cluster, "proxy paused", fault, heal, ("server.proxy_lost", None))
    finally:
        _resume_all(paused)
