"""``python run.py``: the default topology's cluster for the menu's lifetime.

The cluster runs as a child process (``run.py cluster``, in its own session
so that Ctrl-C in the menu does not reach it), and is stopped whenever the
menu ends: its exit, end of input, Ctrl-C, SIGTERM, or SIGHUP (the terminal
closed); and if this process is killed outright, the cluster's supervisor
sees the end of a pipe from it and stops by itself. It never attaches to a
cluster it did not start: if one of that topology runs here, it exits 2
naming the pid and how to stop it, unless asked to (``--attach``), and then
leaves that cluster running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor.topology import Topology

__all__ = ["run_default"]

#: How long the cluster gets to stop when the menu ends, before SIGKILL.
STOP_TIMEOUT_S = 15.0
#: How long the ring gets to form before the menu gives up.
START_TIMEOUT_S = 30.0


def run_default(topology_file: Path, cluster_cmd: list[str], attach: bool) -> int:
    """Run the menu on ``topology_file``'s cluster, started with
    ``cluster_cmd + ["cluster", topology_file]`` unless ``attach``.

    Returns the menu's exit code; 2 if a cluster of the topology already
    runs here (or its ports are taken) and ``attach`` is false, 4 if none
    runs and ``attach`` is true, or if the cluster did not come up.
    """
    from supervisor.lifecycle import (  # noqa: PLC0415
        ClusterBusy,
        busy_message,
        check_ports,
        running_holder,
    )
    from supervisor.topology import TopologyError, load_topology  # noqa: PLC0415

    try:
        topology = load_topology(topology_file)
    except TopologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    holder = running_holder(topology)
    if attach:
        if holder is None:
            print(f"error: no cluster of {topology_file} runs here to attach to", file=sys.stderr)
            return 4
        return _menu(topology, topology_file)
    if holder is not None:
        message = busy_message(topology, holder, str(topology_file))
        print(f"error: {message}; or use it with: python run.py --attach", file=sys.stderr)
        return 2
    try:
        check_ports(topology, None)
    except ClusterBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _with_cluster(topology, topology_file, [*cluster_cmd, "cluster", str(topology_file)])


def _hang_up(signum: int, _frame: object) -> None:
    """SIGHUP/SIGTERM in the menu's process: unwind, so that the cluster is stopped."""
    raise SystemExit(128 + signum)


def _with_cluster(topology: Topology, topology_file: Path, cmd: list[str]) -> int:
    """Start ``cmd`` (the cluster), wait for its ring, run the menu, stop it."""
    from rich.console import Console  # noqa: PLC0415

    from supervisor.endpoints import resolve_endpoints  # noqa: PLC0415
    from supervisor.probe import ProxyUnreachable, wait_for_ring  # noqa: PLC0415
    from supervisor.transport import operator_curve  # noqa: PLC0415

    topology.log_dir.mkdir(parents=True, exist_ok=True)
    out_path = topology.log_dir / "cluster.out"
    out = out_path.open("ab")
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, _hang_up)
    # The cluster stops when this process's end of the pipe closes, however
    # this process ends (even SIGKILL, which no handler sees).
    guard_r, guard_w = os.pipe()
    # Ctrl-C in the menu must not hit the cluster directly: its own session.
    cluster = subprocess.Popen(  # noqa: S603 - our own command line
        [*cmd, "--stop-with-fd", str(guard_r)],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=(guard_r,),
    )
    os.close(guard_r)
    console = Console(highlight=False)
    try:
        console.print(f"starting the cluster ({len(topology.servers)} servers)...")
        try:
            wait_for_ring(
                lambda: resolve_endpoints(topology)["frontend"],
                len(topology.servers),
                START_TIMEOUT_S,
                running=lambda: cluster.poll() is None,
                # The supervisor makes the keys on a first run: read once there.
                curve=lambda: operator_curve(topology),
            )
        except ProxyUnreachable as exc:
            why = _last_line(out_path) if cluster.poll() is not None else str(exc)
            console.print(f"[red]the cluster did not come up: {why}[/red]")
            return 4
        console.print("[green]cluster up[/green]")
        return _menu(topology, topology_file)
    finally:
        for sig in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second hang-up must not cut the stop short
        _stop(cluster)
        os.close(guard_w)
        out.close()
        with contextlib.suppress(OSError):  # the terminal may be gone
            console.print("cluster stopped")


def _stop(cluster: subprocess.Popen[bytes]) -> None:
    cluster.send_signal(signal.SIGTERM)
    try:
        cluster.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        cluster.kill()  # its children die with it (PR_SET_PDEATHSIG)
        cluster.wait()


def _menu(topology: Topology, topology_file: Path) -> int:
    from ui.client import ClientOptions  # noqa: PLC0415
    from ui.menu import Shell  # noqa: PLC0415

    client_id = os.environ.get("USER") or "me"
    opts = ClientOptions(client_id=client_id, topology=topology, topology_file=topology_file)
    return Shell(opts).run()


def _last_line(path: Path) -> str:
    """The last non-empty line of a (small) output file, for a one-line error."""
    with contextlib.suppress(OSError):
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return f"it exited; see {path}"
