"""What a running supervisor tells the operator about its processes.

A supervisor rewrites ``<data_dir>/supervisor-<host>.json`` (``-all``
without ``--host``; atomically: a temp file renamed into place) whenever one
of its processes starts or exits: each process's pid, start time, restarts
and last exit code. ``run.py status`` reads them to show the processes
beside the ring. A file is trusted only while its supervisor's lock is held
(see :mod:`supervisor.lifecycle`): one left behind by a killed supervisor
says nothing. It is decoded into typed structs and a
missing or malformed file is the same as none.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec

from supervisor.lifecycle import host_tag, running_holders
from supervisor.topology import Topology

__all__ = [
    "ProcessState",
    "SupervisorState",
    "clear_state",
    "find_process",
    "read_states",
    "state_path",
    "write_state",
]

#: ``running``: up; ``restarting``: exited, to be started again after a backoff;
#: ``given_up``: exited too often, or retired: not restarted
ProcessPhase = Literal["running", "restarting", "given_up"]


class ProcessState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One process of the supervisor, as the supervisor last saw it."""

    name: str
    kind: Literal["proxy", "server"]
    #: ``None`` while it is not running
    pid: int | None
    phase: ProcessPhase
    #: wall-clock time of its last start, seconds since the epoch
    started_at: float
    #: how often it has been restarted since the supervisor started
    restarts: int = 0
    #: the exit code of its last exit (negative: killed by that signal)
    last_exit_code: int | None = None


class SupervisorState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole file: the supervisor and each of its processes."""

    pid: int
    host: str | None
    started_at: float
    processes: list[ProcessState]

    def process(self, name: str) -> ProcessState | None:
        """The process named ``name`` ("proxy", a server id), if this supervisor runs it."""
        return next((p for p in self.processes if p.name == name), None)


def state_path(topology: Topology, host: str | None = None) -> Path:
    """The state file of the supervisor of ``host`` (of every host: ``None``)."""
    return topology.data_dir / f"supervisor-{host_tag(host)}.json"


def write_state(topology: Topology, state: SupervisorState) -> None:
    """Replace the state file of ``state.host`` (readers never see half a file)."""
    path = state_path(topology, state.host)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    os.replace(tmp, path)


def clear_state(topology: Topology, host: str | None) -> None:
    """Remove the state file of ``host``'s supervisor (at its clean stop)."""
    with contextlib.suppress(FileNotFoundError):
        state_path(topology, host).unlink()


def read_states(topology: Topology) -> list[SupervisorState]:
    """The state of each supervisor of ``topology`` running on this machine;
    one whose file is missing, malformed or not its own (another pid) is left out."""
    states = []
    for holder in running_holders(topology):
        try:
            raw = state_path(topology, holder.host).read_bytes()
            state = msgspec.json.decode(raw, type=SupervisorState)
        except (OSError, msgspec.DecodeError):
            continue
        if state.pid == holder.pid:
            states.append(state)
    return states


def find_process(states: Sequence[SupervisorState], name: str) -> ProcessState | None:
    """The process named ``name`` ("proxy", a server id) among ``states``."""
    return next((p for s in states if (p := s.process(name)) is not None), None)
