"""The supervisor's record of each child process, and its restart limits.

Plain state, kept by :class:`supervisor.supervisor.Supervisor` on its own
thread; :meth:`Child.state` is what it publishes for ``run.py status``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Literal

from supervisor.state import ProcessState

__all__ = ["Child", "ChildKind", "RestartPolicy"]


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    within_s: float = 30.0
    restart_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


#: The processes of a topology: its proxy, and its storage servers.
ChildKind = Literal["proxy", "server"]


@dataclass
class Child:
    name: str
    kind: ChildKind
    process: BaseProcess | None = None
    restarts: deque[float] = field(default_factory=deque)
    consecutive: int = 0
    restart_at: float | None = None
    gave_up: bool = False
    started_at: float = 0.0
    #: wall-clock time of the last start (for the operator's uptime)
    started_wall: float = 0.0
    #: restarts since the supervisor started (``restarts`` is the window's)
    total_restarts: int = 0
    last_exit_code: int | None = None

    def state(self) -> ProcessState:
        """This child as :mod:`supervisor.state` records it."""
        running = self.process is not None and self.restart_at is None and not self.gave_up
        return ProcessState(
            name=self.name,
            kind=self.kind,
            pid=self.process.pid if running and self.process is not None else None,
            phase="given_up" if self.gave_up else "running" if running else "restarting",
            started_at=self.started_wall,
            restarts=self.total_restarts,
            last_exit_code=self.last_exit_code,
        )
