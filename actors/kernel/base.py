"""The shell every actor of ours shares: bridge in, outbox out, crash hand-over.

Subclasses implement :meth:`BridgedActor.handle` (one decoded message) or
override :meth:`BridgedActor.handle_batch` (a poll's worth, e.g. to commit a
group of writes at once), plus the optional hooks. Every hook runs in the
bridge's thread, which hosts the actor (:mod:`actors.kernel.runtime`), one message at
a time, so actor state needs no locks.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import pykka
import structlog
from typing_extensions import override

from actors.kernel.bridge import Bridge
from actors.kernel.messages import Delivery, Inbound, LinkEvent, Tick, Undeliverable
from actors.kernel.outbox import Outbox
from actors.kernel.runtime import ActorHost, HostedActor

__all__ = ["BridgedActor", "CrashHandler", "StartFailedError"]

#: Called in the bridge thread, by the dying actor, with the messages it had not finished
#: (to be re-delivered, in order) and the exception that killed it: a
#: :class:`StartFailedError` when it died in ``on_start``.
CrashHandler = Callable[[list[Any], BaseException | None], None]


class StartFailedError(RuntimeError):
    """What a crash handler is given when the actor died while starting
    (``started()`` raised): it never handled a message. ``__cause__`` is the
    exception ``started()`` raised."""


log = structlog.get_logger(__name__)


class BridgedActor(HostedActor):
    """Base class of the proxy, server and client actors.

    Args:
        bridge: the bridge of this process; it hosts the actor, and the
            actor sends through an :class:`~actors.kernel.outbox.Outbox` of it.
        node_id: this process's node id.
        on_crash: where unfinished messages go when the actor dies of an
            exception (the in-process supervisor); ``None`` drops them.
    """

    def __init__(
        self,
        bridge: Bridge,
        node_id: str,
        on_crash: CrashHandler | None = None,
    ) -> None:
        self._bridge = bridge
        super().__init__()
        self.node_id = node_id
        self._on_crash = on_crash
        self._batch: list[Delivery] = []
        self._current: Delivery | None = None
        self.outbox: Outbox

    @override
    def _actor_host(self) -> ActorHost:
        return self._bridge.host

    # ------------------------------------------------------------ subclass API

    def started(self) -> None:
        """Open resources (files, databases). Runs in the bridge thread.

        If it raises, the actor is dead (as pykka has it), and its crash
        handler gets a :class:`StartFailedError`; :meth:`stopping` does not
        run, so ``started`` releases what it opened before raising.
        """

    def stopping(self) -> None:
        """Close resources. Runs in the bridge thread, also after a crash."""

    def handle(self, delivery: Delivery) -> None:
        """Handle one message from the network."""

    def handle_batch(self, deliveries: list[Delivery]) -> None:
        """Handle a poll's worth of messages; by default one by one."""
        for delivery in deliveries:
            self._current = delivery
            self.handle(delivery)

    def on_tick(self, now: float) -> None:
        """Timers: called every bridge tick with ``time.monotonic()``."""

    def on_undeliverable(self, event: Undeliverable) -> None:
        """A message we sent could not be delivered."""

    def on_link(self, event: LinkEvent) -> None:
        """A connect-side socket connected or disconnected."""

    def send_now(self) -> None:
        """Send what this process's actors queued so far at once, instead of
        after the round: for an answer that should not wait for work that
        can follow it. Runs the bridge's sends on its thread, where hooks run."""
        self._bridge.send_now()

    def on_command(self, message: Any) -> Any:
        """A message from this process (not from the network)."""
        log.warning("actor.unknown_message", type=type(message).__name__)
        return None

    # ------------------------------------------------------------ pykka hooks

    @override
    def on_start(self) -> None:
        self.outbox = self._bridge.outbox()
        try:
            self.started()
        except Exception as exc:
            # pykka marks an actor whose on_start raised dead, and tells no
            # one: without this the process would keep running with no actor.
            log.error("actor.start_failed", actor=type(self).__name__, error=repr(exc))
            self.outbox.close()
            if self._on_crash is not None:
                failure = StartFailedError(f"{type(self).__name__} failed to start: {exc!r}")
                failure.__cause__ = exc
                self._on_crash(self._drain_inbox(), failure)
            raise  # pykka then unregisters the actor and marks it stopped

    @override
    def on_stop(self) -> None:
        try:
            self.stopping()
        finally:
            self.outbox.close()

    @override
    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # The message being handled is the likely poison: it is not re-delivered.
        # Every other message of its batch, and all still in the inbox, are.
        leftover: list[Any] = []
        rest = [d for d in self._batch if d is not self._current]
        if rest:
            leftover.append(Inbound(rest))
        leftover.extend(self._drain_inbox())
        poison = self._current.msg if self._current is not None else None
        log.error(
            "actor.crashed",
            actor=type(self).__name__,
            error=repr(exception_value),
            poison=type(poison).__name__ if poison is not None else None,
            redelivered=len(leftover),
        )
        # The supervisor first, so that it knows of the crash (and has a new
        # actor starting) while the cleanup runs, which may take a while (a
        # server settles its cached lists). The new actor's on_start runs at
        # the host's next round, after this hook has returned on this thread.
        if self._on_crash is not None:
            self._on_crash(leftover, exception_value)
        try:
            self.stopping()
        except Exception:
            log.exception("actor.cleanup_failed", actor=type(self).__name__)
        self.outbox.close()

    def _drain_inbox(self) -> list[Any]:
        """Empty the inbox of a dying actor: the tells, in order, to be
        re-delivered; each ask fails with ``ActorDeadError``. Bridge thread."""
        told: list[Any] = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get()
            if envelope.reply_to is None:
                told.append(envelope.message)
            else:
                envelope.reply_to.set_exception(
                    exc_info=(pykka.ActorDeadError, pykka.ActorDeadError("actor crashed"), None)
                )
        return told

    @override
    def on_receive(self, message: Any) -> Any:
        try:
            return self._dispatch(message)
        finally:
            self.outbox.flush()

    def _dispatch(self, message: Any) -> Any:
        if isinstance(message, Inbound):
            self._batch = message.deliveries
            self.handle_batch(message.deliveries)
            self._batch, self._current = [], None
            return None
        if isinstance(message, Tick):
            self.on_tick(message.now)
            return None
        if isinstance(message, Undeliverable):
            self.on_undeliverable(message)
            return None
        if isinstance(message, LinkEvent):
            self.on_link(message)
            return None
        return self.on_command(message)
