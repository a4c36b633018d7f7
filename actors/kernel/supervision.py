"""In-process supervision: pykka has none, so this keeps one actor alive.

When the supervised actor dies of an exception, its ``on_failure`` hands
over the messages it had not finished; the supervisor starts a fresh actor
from the factory, re-delivers those messages first, and only then lets the
bridge deliver to it (the bridge keeps what arrives meanwhile). This is
OTP's one-for-one strategy with restart intensity: more than
``max_restarts`` restarts within ``within_s`` seconds means the fault is not
transient, so the supervisor gives up and the process exits, handing the
problem to the process supervisor.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pykka

import logs
from actors.kernel.base import CrashHandler

__all__ = ["ActorSupervisor"]

log = logs.get_logger(__name__)

#: Builds and starts an actor that reports its crashes to the handler given.
ActorFactory = Callable[[CrashHandler], pykka.ActorRef[Any]]


class ActorSupervisor:
    """Restarts one actor on failure; see the module docstring.

    Args:
        factory: starts a new actor wired to the crash handler it is given.
        name: for log lines.
        max_restarts: restarts allowed within ``within_s``...
        within_s: ...before giving up.
        on_give_up: called once when the supervisor gives up (from the
            bridge thread that hosts the crashing actor); the process should then exit.
    """

    def __init__(
        self,
        factory: ActorFactory,
        name: str,
        max_restarts: int = 5,
        within_s: float = 10.0,
        on_give_up: Callable[[], None] | None = None,
    ) -> None:
        self._factory = factory
        self.name = name
        self.max_restarts = max_restarts
        self.within_s = within_s
        self._on_give_up = on_give_up
        self._ref: pykka.ActorRef[Any] | None = None
        self._restarts: deque[float] = deque()
        self._lock = threading.Lock()
        self._stopping = False
        self.restart_count = 0
        self.gave_up = False

    def start(self) -> pykka.ActorRef[Any]:
        ref = self._factory(self._crashed)
        with self._lock:
            self._ref = ref
        return ref

    def current(self) -> pykka.ActorRef[Any] | None:
        """The live actor, or ``None`` while it is being restarted. Any thread."""
        return self._ref

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the actor (waits for ``on_stop``) and restart it no more."""
        with self._lock:
            self._stopping = True
            ref, self._ref = self._ref, None
        if ref is not None:
            try:
                ref.stop(block=True, timeout=timeout_s)
            except pykka.Timeout:
                log.warning("supervisor.stop_timeout", actor=self.name)

    def _crashed(self, leftover: list[Any], error: BaseException | None) -> None:
        # Runs in the bridge thread, inside the dying actor's on_failure.
        with self._lock:
            old, self._ref = self._ref, None
            if self._stopping:
                return
            now = time.monotonic()
            self._restarts.append(now)
            while self._restarts and now - self._restarts[0] > self.within_s:
                self._restarts.popleft()
            if len(self._restarts) > self.max_restarts:
                self.gave_up = True
                log.critical(
                    "supervisor.gave_up",
                    actor=self.name,
                    restarts=len(self._restarts),
                    within_s=self.within_s,
                    error=repr(error),
                )
                give_up = self._on_give_up
            else:
                give_up = None
                self.restart_count += 1
                new = self._factory(self._crashed)
                for message in leftover:
                    new.tell(message)
                self._ref = new
                log.warning(
                    "supervisor.restarted",
                    actor=self.name,
                    restarts=self.restart_count,
                    redelivered=len(leftover),
                )
        if give_up is not None:
            give_up()
            return
        # A tell that raced our drain may have landed in the dead inbox.
        if old is not None and self._ref is not None:
            inbox = old.actor_inbox
            while not inbox.empty():
                envelope = inbox.get()
                if envelope.reply_to is None:
                    self._ref.tell(envelope.message)
