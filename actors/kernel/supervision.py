"""In-process supervision: pykka has none, so this keeps one actor alive.

When the supervised actor dies of an exception, its ``on_failure`` hands
over the messages it had not finished; the supervisor starts a fresh actor
from the factory, re-delivers those messages first, and only then lets the
bridge deliver to it (the bridge keeps what arrives meanwhile). This is
OTP's one-for-one strategy with restart intensity: more than
``max_restarts`` restarts within ``within_s`` seconds means the fault is not
transient, so the supervisor gives up and the process exits, handing the
problem to the process supervisor.

An actor that dies while starting (its ``started()`` raised: a database
that cannot be opened, a full disk during recovery) is a crash too, and
counts against the same limit; but it is not restarted at once: what broke
it is outside the actor and may take a moment to clear, so the restart is
delayed by a backoff that doubles, kept short enough for ``max_restarts``
failed starts to fall within ``within_s`` (so that a start that keeps
failing does make the supervisor give up, rather than retry for ever).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import pykka

import logs
from actors.kernel.base import CrashHandler, StartFailedError

__all__ = ["ActorSupervisor"]

log = logs.get_logger(__name__)

#: The delay before the first restart after a failed start; it doubles with
#: each restart within the window.
START_BACKOFF_S: Final = 0.05

#: Builds and starts an actor that reports its crashes to the handler given.
ActorFactory = Callable[[CrashHandler], pykka.ActorRef[Any]]


class ActorSupervisor:
    """Restarts one actor on failure; see the module docstring.

    Args:
        factory: starts a new actor wired to the crash handler it is given;
            called with the supervisor's lock held, from the thread calling
            :meth:`start`, from the bridge thread (a restart after a crash)
            or from a timer thread (a delayed restart after a failed start).
            It must not wait for the actor's ``on_start``.
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
        #: the delayed restart after a failed start, until it has run
        self._pending: threading.Timer | None = None
        self.restart_count = 0
        self.gave_up = False

    def start(self) -> pykka.ActorRef[Any]:
        """Start the first actor. Any thread; returns before its ``on_start``
        has run (that runs on the bridge thread), so it never waits for the
        bridge. A failure there is reported to the crash handler."""
        with self._lock:
            # Under the lock: an on_start failing at once on the bridge
            # thread must find this ref installed, not have it installed after.
            return self._launch([])

    def current(self) -> pykka.ActorRef[Any] | None:
        """The live actor, or ``None`` while it is being restarted. Any thread."""
        return self._ref

    def has_actor(self) -> bool:
        """Any thread: whether there is an actor, alive or starting, or a
        restart to come. ``False`` once the supervisor gave up, was stopped,
        or the actor is gone without a crash report (stopped by someone
        else, or a restart that failed).

        The instant between an actor's death and its crash report reads as
        ``False`` too: a caller acting on it should see it twice, apart.
        """
        with self._lock:
            if self._pending is not None:
                return True
            ref = self._ref
        return ref is not None and ref.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the actor (waits for ``on_stop``) and restart it no more."""
        with self._lock:
            self._stopping = True
            ref, self._ref = self._ref, None
            pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
        if ref is not None:
            try:
                ref.stop(block=True, timeout=timeout_s)
            except pykka.Timeout:
                log.warning("supervisor.stop_timeout", actor=self.name)

    def _launch(self, leftover: list[Any]) -> pykka.ActorRef[Any]:
        """Start an actor, tell it ``leftover`` and install it. Lock held."""
        new = self._factory(self._crashed)
        for message in leftover:
            new.tell(message)
        self._ref = new
        return new

    def _crashed(self, leftover: list[Any], error: BaseException | None) -> None:
        # Runs in the bridge thread, inside the dying actor's on_failure or on_start.
        starting = isinstance(error, StartFailedError)
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
                    starting=starting,
                    error=repr(error),
                )
                give_up = self._on_give_up
            elif starting:
                # Not on this thread: it hosts the actors and sockets, and a
                # restart is no sooner than the backoff anyway.
                delay_s = self._start_backoff_s(len(self._restarts))
                timer = threading.Timer(delay_s, self._restart_later, args=(leftover,))
                timer.daemon = True
                timer.name = f"restart-{self.name}"
                self._pending = timer
                timer.start()
                log.warning(
                    "supervisor.start_failed",
                    actor=self.name,
                    restart_in_s=round(delay_s, 3),
                    error=repr(error),
                )
                return
            else:
                give_up = None
                self.restart_count += 1
                self._launch(leftover)
                log.warning(
                    "supervisor.restarted",
                    actor=self.name,
                    restarts=self.restart_count,
                    redelivered=len(leftover),
                )
        if give_up is not None:
            give_up()
            return
        self._salvage(old)

    def _start_backoff_s(self, restarts: int) -> float:
        """The delay before restart number ``restarts`` within the window:
        doubling, but at most a share of the window such that
        ``max_restarts`` of them add up to half of it."""
        cap = self.within_s / (2 * max(1, self.max_restarts))
        return min(cap, START_BACKOFF_S * 2.0 ** max(0, restarts - 1))

    def _restart_later(self, leftover: list[Any]) -> None:
        # Runs in the timer thread of a delayed restart. The dead actor's
        # inbox is not salvaged from here: the bridge thread empties it too
        # (pykka's teardown), and two threads taking from one queue could
        # leave one blocked for ever. Only another thread's tell could have
        # raced the drain in on_start; the bridge's own go to the next actor.
        with self._lock:
            if self._stopping or self._pending is None:
                return
            self._pending = None
            try:
                self._launch(leftover)
            except Exception as exc:  # noqa: BLE001 - no actor now: the process sees it and exits
                log.critical("supervisor.restart_failed", actor=self.name, error=repr(exc))
                return
            self.restart_count += 1
            log.warning(
                "supervisor.restarted",
                actor=self.name,
                restarts=self.restart_count,
                redelivered=len(leftover),
                after_failed_start=True,
            )

    def _salvage(self, old: pykka.ActorRef[Any] | None) -> None:
        """Forward the tells left in the dead actor's inbox to the new one."""
        # A tell that raced the dying actor's drain may have landed there.
        new = self._ref
        if old is None or new is None:
            return
        inbox = old.actor_inbox
        while not inbox.empty():
            envelope = inbox.get()
            if envelope.reply_to is None:
                new.tell(envelope.message)
