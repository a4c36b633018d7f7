"""The hosted test actor, its messages and the quiet-bridge fixtures, shared by
the tests of ``actors.kernel.runtime`` (see :mod:`tests.actors.kernel.test_runtime`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka
import pytest
from pykka import ActorDeadError, ActorRegistry

from actors.kernel import ActorHost, Bridge, HostedActor
from tests.actors.rig import DEADLINE_S, Rig, wait_on

#: Asks the actor for the thread it handles messages on.
WHERE = "where"


# ------------------------------------------------------------------ messages


@dataclass(frozen=True)
class Fail:
    """Raise ``error`` in the handler."""

    error: Exception


@dataclass(frozen=True)
class Hold:
    """Block the bridge thread: set ``entered``, wait for ``gate``, then run ``then``."""

    entered: threading.Event
    gate: threading.Event
    then: Callable[[], object] | None = None


@dataclass(frozen=True)
class Run:
    """Run ``action`` in the handler (on the bridge thread) and answer its result."""

    action: Callable[[], object]


@dataclass(frozen=True)
class CountOf:
    """How many numbers the actor ``name`` has handled so far."""

    name: str


# ------------------------------------------------------------ the test actor


@dataclass(frozen=True)
class Call:
    """One hook run: which actor, which hook, on which thread, with what."""

    actor: str
    hook: str
    thread: threading.Thread
    detail: object = None


class Hooks:
    """What every probe's hooks saw, in order; safe to read from any thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.calls: list[Call] = []
        self._running = 0
        #: most hooks ever running at once, over all the probes
        self.most_running = 0

    def enter(self, actor: str, hook: str, detail: object = None) -> None:
        with self._cond:
            self._running += 1
            self.most_running = max(self.most_running, self._running)
            self.calls.append(Call(actor, hook, threading.current_thread(), detail))
            self._cond.notify_all()

    def leave(self) -> None:
        with self._cond:
            self._running -= 1

    def wait_for(self, condition: Callable[[Hooks], bool], what: str) -> None:
        wait_on(self._cond, lambda: condition(self), what)

    def of(self, actor: str) -> list[str]:
        """The hooks ``actor`` ran, in order."""
        with self._cond:
            return [c.hook for c in self.calls if c.actor == actor]

    def numbers(self, actor: str) -> list[int]:
        """The numbers ``actor`` handled, in order."""
        with self._cond:
            return [
                c.detail
                for c in self.calls
                if c.actor == actor and c.hook == "on_receive" and isinstance(c.detail, int)
            ]

    def threads(self) -> set[threading.Thread]:
        with self._cond:
            return {c.thread for c in self.calls}

    def hook(self, actor: str, hook: str) -> Call:
        """The one run of ``hook`` by ``actor``."""
        with self._cond:
            calls = [c for c in self.calls if c.actor == actor and c.hook == hook]
        assert 1 == len(calls), f"{actor} ran {hook} {len(calls)} times"
        return calls[0]


class Probe(HostedActor):
    """A hosted actor that records every hook it runs in :class:`Hooks`.

    Handles ``WHERE`` (answers its thread), numbers (recorded), and the
    message classes above.
    """

    def __init__(
        self,
        host: ActorHost,
        hooks: Hooks,
        name: str,
        fail_on_start: bool = False,
        on_failure_run: Callable[[BaseException | None], object] | None = None,
        on_stop_run: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self._host = host
        self.hooks = hooks
        self.name = name
        self._fail_on_start = fail_on_start
        self._on_failure_run = on_failure_run
        self._on_stop_run = on_stop_run

    def _actor_host(self) -> ActorHost:
        return self._host

    def on_start(self) -> None:
        self.hooks.enter(self.name, "on_start")
        try:
            if self._fail_on_start:
                raise RuntimeError(f"{self.name} cannot start")
        finally:
            self.hooks.leave()

    def on_stop(self) -> None:
        self.hooks.enter(self.name, "on_stop")
        try:
            if self._on_stop_run is not None:
                self._on_stop_run()
        finally:
            self.hooks.leave()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.hooks.enter(self.name, "on_failure", exception_value)
        try:
            if self._on_failure_run is not None:
                self._on_failure_run(exception_value)
        finally:
            self.hooks.leave()

    def on_receive(self, message: Any) -> Any:
        self.hooks.enter(self.name, "on_receive", message)
        try:
            return self._handle(message)
        finally:
            self.hooks.leave()

    def _handle(self, message: Any) -> Any:
        if message == WHERE:
            return threading.current_thread()
        if isinstance(message, Fail):
            raise message.error
        if isinstance(message, Hold):
            message.entered.set()
            message.gate.wait(DEADLINE_S)  # the test sets it in a finally
            if message.then is not None:
                message.then()
            return None
        if isinstance(message, Run):
            return message.action()
        if isinstance(message, CountOf):
            return len(self.hooks.numbers(message.name))
        return None


def start(bridge: Bridge, hooks: Hooks, name: str, **kwargs: Any) -> pykka.ActorRef[Probe]:
    """A probe hosted by ``bridge``, once its ``on_start`` has run."""
    ref = Probe.start(bridge.host, hooks, name, **kwargs)
    assert bridge is ref.ask(WHERE, timeout=DEADLINE_S)
    return ref


def refused_start(bridge: Bridge, hooks: Hooks, name: str) -> set[pykka.ActorRef[Any]]:
    """Start a probe on a stopped bridge, which must refuse it; returns the refs
    the refused start left in pykka's registry (and takes them out again)."""
    before = set(ActorRegistry.get_all())
    with pytest.raises(ActorDeadError):
        Probe.start(bridge.host, hooks, name)
    leaked = set(ActorRegistry.get_all()) - before
    for ref in leaked:
        ActorRegistry.unregister(ref)  # keep the registry clean for later tests
    return leaked


# ------------------------------------------------------------------ fixtures


def stop_quiet(bridge: Bridge) -> None:
    """Stop a bridge whose next tick is far away: set its flag, then wake it."""
    bridge.stop(timeout_s=0)
    if bridge.is_alive():
        bridge.host.notify()
    bridge.join(DEADLINE_S)
    assert not bridge.is_alive(), "the quiet bridge did not stop"


@contextmanager
def holding(ref: pykka.ActorRef[Any], then: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold the bridge thread in ``ref``'s handler for the ``with`` block; what
    the block sends waits in the inboxes. Let go even when the block fails."""
    entered, gate = threading.Event(), threading.Event()
    ref.tell(Hold(entered, gate, then))
    try:
        assert entered.wait(DEADLINE_S), "the bridge never ran the held handler"
        yield
    finally:
        gate.set()


@pytest.fixture
def quiet(rig: Rig) -> Iterator[Bridge]:
    """A started bridge with no sockets that runs a round only when woken."""
    bridge = Bridge(rig.ctx, [], lambda: None, node_id="quiet", tick_interval_s=3600.0)
    bridge.start()
    try:
        bridge.wait_ready()
        yield bridge
    finally:
        stop_quiet(bridge)  # stops the actors it still hosts; rig then terminates the context


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()
