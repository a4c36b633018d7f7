"""The operator's modes of ``run.py``: ``status``, ``stop`` and ``trace``.

Each takes plain arguments, prints for a person (errors on stderr, one line
each), and returns the exit code: 0 done, 2 bad input, 3 nothing found, 4 no
cluster running or answering, 1 a cluster that would not stop. Modules are
imported inside each function: a mode pays only for what it uses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from protocol import StatusReply
    from supervisor.topology import Topology

__all__ = ["status", "stop", "trace", "trace_folders"]

#: Proxy hosts that are this machine: a proxy there runs only under a local supervisor.
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def stop(topology_file: str, timeout_s: float) -> int:
    """Stop the cluster of ``topology_file`` running on this machine, whoever
    started it: 0 stopped, 4 none was running, 1 it would not stop."""
    from supervisor.lifecycle import ClusterBusy, stop_cluster  # noqa: PLC0415
    from supervisor.topology import TopologyError, load_topology  # noqa: PLC0415

    try:
        topology = load_topology(topology_file)
        results = stop_cluster(topology, timeout_s=timeout_s)
    except TopologyError as exc:
        _fail(str(exc))
        return 2
    except ClusterBusy as exc:
        _fail(str(exc))
        return 1
    name = topology.cluster.name
    if not results:
        _fail(
            f"no cluster of topology {name!r} is running here (no process holds a "
            f"cluster-*.lock in {topology.data_dir})"
        )
        return 4
    for result in results:
        how = "killed (it did not stop in time)" if result.killed else "stopped"
        print(f"cluster {name!r} (supervisor pid {result.pid}) {how} in {result.elapsed_s:.1f}s")
    return 0


def status(topology_file: str | Path, proxy: str | None, as_json: bool, ranges: int) -> int:
    """Print the ring and, when its supervisor runs here, each process: 0, or
    4 with one line saying why there is nothing to show."""
    import json  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from supervisor.state import read_states  # noqa: PLC0415
    from supervisor.topology import TopologyError, load_topology  # noqa: PLC0415
    from ui.cli import print_status, status_to_json  # noqa: PLC0415

    try:
        topology = load_topology(topology_file)
    except TopologyError as exc:
        _fail(str(exc))
        return 2
    reply = _ask_status(topology, proxy)
    if reply is None:
        return 4
    states = read_states(topology)
    if as_json:
        print(json.dumps(status_to_json(reply, states)))
    else:
        print_status(reply, Console(highlight=False), show_ranges=ranges, states=states)
    return 0


def _ask_status(topology: Topology, proxy: str | None) -> StatusReply | None:
    """The proxy's status, or ``None`` after saying plainly why there is none:
    no cluster of ``topology`` runs here (and its proxy would be here: there
    is nothing to ask), or its proxy does not answer."""
    from supervisor.endpoints import resolve_endpoints  # noqa: PLC0415
    from supervisor.keys import KeysMissing  # noqa: PLC0415
    from supervisor.lifecycle import running_holder  # noqa: PLC0415
    from supervisor.probe import ProxyUnreachable, fetch_status  # noqa: PLC0415
    from supervisor.topology import PROXY_CHANNELS, TopologyError  # noqa: PLC0415
    from supervisor.transport import operator_curve  # noqa: PLC0415

    name = topology.cluster.name
    holder = None if proxy else running_holder(topology)
    nothing_here = (
        f"no cluster of topology {name!r} is running here (no process holds a "
        f"cluster-*.lock in {topology.data_dir}); start one with: python run.py cluster TOPOLOGY"
    )
    ephemeral = not all(topology.proxy.port(ch) for ch in PROXY_CHANNELS)
    if not proxy and holder is None and (ephemeral or topology.proxy.host in _LOOPBACK):
        _fail(nothing_here)
        return None
    try:
        endpoint = proxy or resolve_endpoints(topology)["frontend"]
        try:
            # The ring is the operator's to see: this host's supervisor key.
            curve = operator_curve(topology)
        except KeysMissing:
            curve = None  # no key for a secured proxy here: it will not answer
        return fetch_status(endpoint, curve=curve)
    except (TopologyError, ProxyUnreachable) as exc:
        if holder is not None:
            _fail(f"the cluster {name!r} (supervisor pid {holder.pid}) does not answer: {exc}")
        elif proxy:
            _fail(f"no cluster answers at {proxy}: {exc}")
        else:
            _fail(f"{nothing_here}, and its proxy does not answer: {exc}")
        return None


def trace(
    trace_id: str, topology_file: str | Path, logs: Path | None, as_json: bool, checkout: Path
) -> int:
    """Print the hops of one request from every JSON log of the cluster: 0,
    or 3 after naming the folders looked in."""
    from rich.console import Console  # noqa: PLC0415

    from supervisor.topology import TopologyError  # noqa: PLC0415
    from ui.cli import print_trace, read_trace  # noqa: PLC0415

    try:
        folders = [logs] if logs is not None else trace_folders(topology_file, checkout)
    except TopologyError as exc:
        _fail(str(exc))
        return 2
    events = [e for folder in folders for e in read_trace(trace_id, folder)]
    events.sort(key=lambda e: str(e.get("timestamp", "")))
    if not events:
        looked = ", ".join(str(f) for f in folders)
        print(f"no events for trace {trace_id}; looked in {looked}", file=sys.stderr)
        if not as_json:
            return 3
    print_trace(trace_id, events, Console(highlight=False), as_json)
    return 0 if events else 3


def trace_folders(topology_file: str | Path, checkout: Path) -> list[Path]:
    """Where a topology's logs are: its ``log_dir``; a relative one is
    looked for under the current folder and under ``checkout`` (where
    ``python run.py`` run from the checkout's root puts it), in that order.

    Raises:
        TopologyError: the topology file is unreadable or invalid.
    """
    from supervisor.topology import load_topology  # noqa: PLC0415

    log_dir = load_topology(topology_file).log_dir
    if log_dir.is_absolute():
        return [log_dir]
    found: list[Path] = []
    for folder in (Path.cwd() / log_dir, checkout / log_dir):
        if all(folder.resolve() != f.resolve() for f in found):
            found.append(folder)
    return found
