"""What a running supervisor tells the operator about its processes.

The supervisor rewrites ``<data_dir>/supervisor.json`` (atomically: a temp
file renamed into place) whenever one of its processes starts or exits: each
process's pid, start time, restarts and last exit code. ``run.py status``
reads it to show them beside the ring. The file is trusted only while the
cluster's lock is held (see :mod:`supervisor.lifecycle`): one left behind by
a killed supervisor says nothing. It is decoded into typed structs and a
missing or malformed file is the same as none.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

import msgspec

from supervisor.lifecycle import running_holder
from supervisor.topology import Topology

__all__ = ["ProcessState", "SupervisorState", "clear_state", "read_state", "write_state"]

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


def state_path(topology: Topology) -> Path:
    return topology.data_dir / "supervisor.json"


def write_state(topology: Topology, state: SupervisorState) -> None:
    """Replace the state file with ``state`` (readers never see half a file)."""
    path = state_path(topology)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    os.replace(tmp, path)


def clear_state(topology: Topology) -> None:
    """Remove the state file (at a supervisor's clean stop)."""
    with contextlib.suppress(FileNotFoundError):
        state_path(topology).unlink()


def read_state(topology: Topology) -> SupervisorState | None:
    """The running supervisor's state on this machine; ``None`` if no cluster
    of ``topology`` runs here, or its file is missing, malformed or not its."""
    holder = running_holder(topology)
    if holder is None:
        return None
    try:
        state = msgspec.json.decode(state_path(topology).read_bytes(), type=SupervisorState)
    except (OSError, msgspec.DecodeError):
        return None
    return state if state.pid == holder.pid else None
