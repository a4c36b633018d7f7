"""Hosted actors: pykka actors run by their bridge's thread (``actors.kernel.runtime``).

Most tests use a *quiet* bridge: no sockets and a tick an hour away, so its
thread runs a round of its actors only when something wakes it (or when a
round left work behind). A message that failed to wake it would wait for that
tick, and the test would fail at its deadline instead of passing by luck.

Tests that block the bridge thread do it inside a handler (:class:`Hold`),
which makes the order of a round deterministic: the actors before the held
one have had their turn, the held one has its budget left, and what the test
thread sends meanwhile waits in the inboxes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka
import pytest
from pykka import ActorDeadError, ActorRegistry

from actors.kernel import ActorHost, Bridge, HostedActor
from actors.kernel.runtime import HostThreadAskError
from tests.actors.rig import DEADLINE_S, Rig, wait_on

pytestmark = pytest.mark.timeout(30)

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


# ------------------------------------------------- any thread wakes the bridge


def test_asks_from_another_thread_wake_the_bridge_and_are_answered_on_it(
    quiet: Bridge, hooks: Hooks
) -> None:
    ref = start(quiet, hooks, "a")
    # Each ask after the first finds the bridge asleep in its poll (or about to be).
    assert [quiet] * 20 == [ref.ask(WHERE, timeout=DEADLINE_S) for _ in range(20)]


def test_tells_from_another_thread_wake_the_bridge(quiet: Bridge, hooks: Hooks) -> None:
    ref = start(quiet, hooks, "a")
    for n in range(20):
        handled = threading.Event()
        ref.tell(Run(handled.set))
        assert handled.wait(DEADLINE_S), f"tell {n} was not handled"


def test_hooks_run_on_the_bridge_thread_one_message_at_a_time(quiet: Bridge, hooks: Hooks) -> None:
    refs = [start(quiet, hooks, name) for name in ("a", "b")]

    def client(first: int) -> None:
        for n in range(first, first + 100):
            for ref in refs:
                ref.tell(n)
        for ref in refs:
            ref.ask(WHERE, timeout=DEADLINE_S)

    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = [pool.submit(client, first) for first in range(0, 400, 100)]
        for future in sent:
            future.result(timeout=DEADLINE_S)
    for ref in refs:
        assert True is ref.stop(block=True, timeout=DEADLINE_S)
    assert {quiet} == hooks.threads()
    assert 1 == hooks.most_running
    for name in ("a", "b"):
        handled = hooks.numbers(name)
        assert list(range(400)) == sorted(handled)
        # Each client's messages arrive in the order it sent them.
        for first in range(0, 400, 100):
            block = range(first, first + 100)
            assert list(block) == [n for n in handled if n in block]
        assert "on_start" == hooks.of(name)[0]
        assert "on_stop" == hooks.of(name)[-1]


# ---------------------------------------------------------------------- stop


def test_a_blocking_stop_runs_on_stop_on_the_bridge_before_it_returns(
    quiet: Bridge, hooks: Hooks
) -> None:
    ref = start(quiet, hooks, "a")
    assert True is ref.stop(block=True, timeout=DEADLINE_S)
    assert ["on_start", "on_receive", "on_stop"] == hooks.of("a")  # no waiting: already there
    assert quiet is hooks.hook("a", "on_stop").thread
    assert not ref.is_alive()
    with pytest.raises(ActorDeadError):
        ref.tell(1)
    assert False is ref.stop(block=True, timeout=DEADLINE_S)  # already dead


def test_an_ask_behind_a_stop_fails_and_a_stop_behind_it_succeeds(
    quiet: Bridge, hooks: Hooks
) -> None:
    ref = start(quiet, hooks, "a")
    with holding(ref):
        first_stop = ref.stop(block=False)
        asked = ref.ask(WHERE, block=False)
        second_stop = ref.stop(block=False)
    assert True is first_stop.get(timeout=DEADLINE_S)
    with pytest.raises(ActorDeadError, match="stopped before handling the message"):
        asked.get(timeout=DEADLINE_S)
    assert True is second_stop.get(timeout=DEADLINE_S)
    assert ["on_start", "on_receive", "on_receive", "on_stop"] == hooks.of("a")


# ------------------------------------------------------------------ failures


def test_an_exception_from_a_told_message_stops_the_actor(quiet: Bridge, hooks: Hooks) -> None:
    ref = start(quiet, hooks, "a")
    error = RuntimeError("poison")
    ref.tell(Fail(error))
    hooks.wait_for(lambda h: "on_failure" in h.of("a"), "on_failure")
    failure = hooks.hook("a", "on_failure")
    assert (quiet, error) == (failure.thread, failure.detail)
    assert not ref.is_alive()
    with pytest.raises(ActorDeadError):
        ref.tell(1)
    with pytest.raises(ActorDeadError):
        ref.ask(WHERE, timeout=DEADLINE_S)
    # As with pykka's own actors: on_failure instead of on_stop.
    assert ["on_start", "on_receive", "on_receive", "on_failure"] == hooks.of("a")


def test_what_waits_behind_a_failure_is_answered_asks_fail_and_a_stop_succeeds(
    quiet: Bridge, hooks: Hooks
) -> None:
    ref = start(quiet, hooks, "a")
    with holding(ref):
        ref.tell(Fail(RuntimeError("poison")))
        asked = ref.ask(WHERE, block=False)
        ref.tell(7)
        stopped = ref.stop(block=False)
    with pytest.raises(ActorDeadError):
        asked.get(timeout=DEADLINE_S)
    assert True is stopped.get(timeout=DEADLINE_S)
    assert [] == hooks.numbers("a")
    assert ["on_start", "on_receive", "on_receive", "on_receive", "on_failure"] == hooks.of("a")


def test_an_exception_inside_an_ask_goes_to_the_caller_and_the_actor_keeps_running(
    quiet: Bridge, hooks: Hooks
) -> None:
    ref = start(quiet, hooks, "a")
    with pytest.raises(ValueError, match="bad question"):
        ref.ask(Fail(ValueError("bad question")), timeout=DEADLINE_S)
    assert ref.is_alive()
    assert quiet is ref.ask(WHERE, timeout=DEADLINE_S)
    assert ["on_start", "on_receive", "on_receive", "on_receive"] == hooks.of("a")


def test_an_actor_whose_on_start_fails_is_dead_and_fails_its_asks(
    quiet: Bridge, hooks: Hooks
) -> None:
    ref = Probe.start(quiet.host, hooks, "broken", fail_on_start=True)
    asked = ref.ask(WHERE, block=False)
    with pytest.raises(ActorDeadError):
        asked.get(timeout=DEADLINE_S)
    assert not ref.is_alive()
    assert ["on_start"] == hooks.of("broken")
    assert quiet is hooks.hook("broken", "on_start").thread


# ------------------------------------------------ actors started by actors


def test_an_actor_started_from_on_failure_starts_on_the_bridge_and_handles_messages(
    quiet: Bridge, hooks: Hooks
) -> None:
    # What the in-process supervisor does: start a replacement in the dying
    # actor's on_failure and re-deliver to it with tell, all on the bridge thread,
    # which nothing wakes: the round that adopted it must be followed by another.
    replacement: list[pykka.ActorRef[Probe]] = []

    def restart(_: BaseException | None) -> None:
        ref = Probe.start(quiet.host, hooks, "second")
        ref.tell(1)
        ref.tell(2)
        replacement.append(ref)

    first = start(quiet, hooks, "first", on_failure_run=restart)
    first.tell(Fail(RuntimeError("crash")))
    hooks.wait_for(lambda h: [1, 2] == h.numbers("second"), "the re-delivered messages")
    assert ["on_start", "on_receive", "on_receive"] == hooks.of("second")
    assert {quiet} == hooks.threads()
    (second,) = replacement
    assert second.is_alive()
    assert not first.is_alive()
    assert quiet is second.ask(WHERE, timeout=DEADLINE_S)


def test_an_actor_started_by_a_handler_starts_on_the_bridge_and_handles_messages(
    quiet: Bridge, hooks: Hooks
) -> None:
    parent = start(quiet, hooks, "parent")
    child = parent.ask(Run(lambda: Probe.start(quiet.host, hooks, "child")), timeout=DEADLINE_S)
    assert isinstance(child, pykka.ActorRef)
    assert quiet is child.ask(WHERE, timeout=DEADLINE_S)
    assert ["on_start", "on_receive"] == hooks.of("child")
    assert quiet is hooks.hook("child", "on_start").thread


def test_a_tell_between_hosted_actors_is_handled_without_a_wake(
    quiet: Bridge, hooks: Hooks
) -> None:
    # ``first`` had its turn in the round where ``second`` tells it: a tell on
    # the bridge thread wakes nobody, so the bridge must see the work left.
    first = start(quiet, hooks, "first")
    second = start(quiet, hooks, "second")
    second.tell(Run(lambda: first.tell(7)))
    hooks.wait_for(lambda h: [7] == h.numbers("first"), "the message between actors")


# ----------------------------------------------- asks from the host thread

#: Longer than any ask of the test thread waits: a refused ask that waited
#: out its own timeout would make the test thread's ask time out first.
LONG_S = 3 * DEADLINE_S

#: Every kind of ask, made by a handler on the bridge thread.
ASKS: dict[str, Callable[[pykka.ActorRef[Probe]], object]] = {
    "ask": lambda ref: ref.ask(WHERE, timeout=LONG_S),
    "ask without blocking": lambda ref: ref.ask(WHERE, block=False),
    "stop": lambda ref: ref.stop(timeout=LONG_S),
    "proxy call": lambda ref: ref.proxy().name,
}


@pytest.mark.parametrize("whom", ["itself", "another actor"])
@pytest.mark.parametrize("kind", ASKS)
def test_an_ask_from_the_bridge_thread_to_an_actor_it_hosts_raises_at_once(
    quiet: Bridge, hooks: Hooks, kind: str, whom: str
) -> None:
    asker = start(quiet, hooks, "asker")
    name = "asker" if whom == "itself" else "asked"
    asked = asker if whom == "itself" else start(quiet, hooks, name)
    with pytest.raises(HostThreadAskError):
        asker.ask(Run(lambda: ASKS[kind](asked)), timeout=DEADLINE_S)
    # Nothing was queued: the asked actor runs, and handles only what follows.
    assert asker.is_alive()
    assert quiet is asked.ask(WHERE, timeout=DEADLINE_S)
    received = 3 if whom == "itself" else 2  # start's WHERE, (the Run,) this WHERE
    assert ["on_start"] + ["on_receive"] * received == hooks.of(name)


def test_an_ask_from_the_bridge_thread_to_an_actor_of_another_host_is_answered(
    rig: Rig, quiet: Bridge, hooks: Hooks
) -> None:
    other = Bridge(rig.ctx, [], lambda: None, node_id="other", tick_interval_s=3600.0)
    other.start()
    try:
        other.wait_ready()
        asker, asked = start(quiet, hooks, "asker"), start(other, hooks, "asked")
        assert other is asker.ask(Run(lambda: asked.ask(WHERE, timeout=LONG_S)), timeout=DEADLINE_S)
    finally:
        stop_quiet(other)


# ------------------------------------------- the host thread's own deliveries


def test_host_tell_on_the_bridge_thread_hands_the_message_in_at_once(
    quiet: Bridge, hooks: Hooks
) -> None:
    a, b = start(quiet, hooks, "a"), start(quiet, hooks, "b")

    def tell_and_look() -> list[int]:
        quiet.host.tell(a, 7)  # as the bridge does with what it read
        return hooks.numbers("a")

    # A tell would leave 7 in a's inbox until the next round.
    assert [7] == b.ask(Run(tell_and_look), timeout=DEADLINE_S)
    assert {quiet} == hooks.threads()


def test_host_tell_queues_behind_what_the_inbox_holds(quiet: Bridge, hooks: Hooks) -> None:
    a, b = start(quiet, hooks, "a"), start(quiet, hooks, "b")

    def tell_twice() -> list[int]:
        a.tell(1)
        quiet.host.tell(a, 2)
        return hooks.numbers("a")

    assert [] == b.ask(Run(tell_twice), timeout=DEADLINE_S)
    hooks.wait_for(lambda h: [1, 2] == h.numbers("a"), "both messages, in order")


def test_host_tell_to_the_actor_whose_handler_runs_waits_for_the_handler(
    quiet: Bridge, hooks: Hooks
) -> None:
    a = start(quiet, hooks, "a")

    def tell_myself() -> list[int]:
        quiet.host.tell(a, 9)  # e.g. a send from a's handler failed: Undeliverable
        return hooks.numbers("a")

    assert [] == a.ask(Run(tell_myself), timeout=DEADLINE_S)
    hooks.wait_for(lambda h: [9] == h.numbers("a"), "the message after the handler")
    assert 1 == hooks.most_running


def test_a_message_handed_in_that_raises_stops_the_actor_as_a_tell_does(
    quiet: Bridge, hooks: Hooks
) -> None:
    a, b = start(quiet, hooks, "a"), start(quiet, hooks, "b")
    error = RuntimeError("poison")
    b.ask(Run(lambda: quiet.host.tell(a, Fail(error))), timeout=DEADLINE_S)
    failure = hooks.hook("a", "on_failure")
    assert (quiet, error) == (failure.thread, failure.detail)
    assert not a.is_alive()
    assert b.is_alive()


def test_host_tell_from_another_thread_is_a_tell(quiet: Bridge, hooks: Hooks) -> None:
    a = start(quiet, hooks, "a")
    quiet.host.tell(a, 5)
    hooks.wait_for(lambda h: [5] == h.numbers("a"), "the message told from the test thread")


# ---------------------------------------------------------------- fairness


def test_an_actor_with_a_long_inbox_does_not_starve_another(quiet: Bridge, hooks: Hooks) -> None:
    busy = start(quiet, hooks, "busy")
    other = start(quiet, hooks, "other")
    with holding(busy):
        for n in range(500):
            busy.tell(n)
        answer = other.ask(CountOf("busy"), block=False)
    # ``other`` answers after ``busy`` used up one round's budget, not its inbox.
    busy_handled_by_then = answer.get(timeout=DEADLINE_S)
    assert isinstance(busy_handled_by_then, int)
    assert busy_handled_by_then < 500
    assert quiet is busy.ask(WHERE, timeout=DEADLINE_S)  # behind all 500
    assert list(range(500)) == hooks.numbers("busy")


# ------------------------------------------------------ the bridge stopping


def test_stopping_the_bridge_runs_on_stop_of_every_actor_on_its_thread(
    rig: Rig, hooks: Hooks
) -> None:
    bridge = rig.bridge(lambda: None)
    refs = [start(bridge, hooks, name) for name in ("a", "b")]
    bridge.stop()
    assert not bridge.is_alive()
    for name, ref in zip(("a", "b"), refs, strict=True):
        assert ["on_start", "on_receive", "on_stop"] == hooks.of(name)
        assert bridge is hooks.hook(name, "on_stop").thread
        assert not ref.is_alive()


def test_when_the_bridge_stops_a_queued_ask_fails_and_a_queued_stop_succeeds(
    rig: Rig, hooks: Hooks
) -> None:
    bridge = rig.bridge(lambda: None)
    first = start(bridge, hooks, "first")
    second = start(bridge, hooks, "second")
    # ``second`` holds the bridge thread and ends its loop when let go:
    # ``first`` had its turn in this last round.
    with holding(second, then=bridge.stop):
        asked = first.ask(WHERE, block=False)
        stopped = first.stop(block=False)
    bridge.join(DEADLINE_S)
    assert not bridge.is_alive()
    with pytest.raises(ActorDeadError):
        asked.get(timeout=DEADLINE_S)
    assert True is stopped.get(timeout=DEADLINE_S)
    assert ["on_start", "on_receive", "on_stop"] == hooks.of("first")
    assert ["on_start", "on_receive", "on_receive", "on_stop"] == hooks.of("second")
    assert {bridge} == hooks.threads()


def test_a_stopped_bridge_refuses_new_actors_and_messages(rig: Rig, hooks: Hooks) -> None:
    bridge = rig.bridge(lambda: None)
    ref = start(bridge, hooks, "a")
    bridge.stop()
    assert not bridge.is_alive()
    refused_start(bridge, hooks, "late")
    with pytest.raises(ActorDeadError):
        ref.tell(1)
    with pytest.raises(ActorDeadError):
        ref.ask(WHERE, timeout=DEADLINE_S)
    assert [] == hooks.of("late")


# ------------------------------------------------------------ stop edge cases


def test_an_ask_while_the_bridge_stops_its_actors_fails_through_its_future(
    rig: Rig, hooks: Hooks
) -> None:
    # The bridge stops its actors one by one; one still alive when it is
    # asked must fail the ask's future, as pykka does, not raise from ask().
    stopping, gate = threading.Event(), threading.Event()

    def held() -> None:
        stopping.set()
        gate.wait(DEADLINE_S)

    bridge = rig.bridge(lambda: None)
    start(bridge, hooks, "first", on_stop_run=held)
    second = start(bridge, hooks, "second")
    stopper = threading.Thread(target=bridge.stop)
    stopper.start()
    try:
        assert stopping.wait(DEADLINE_S)
        assert second.is_alive()
        asked = second.ask(WHERE, block=False)
    finally:
        gate.set()
        stopper.join(DEADLINE_S)
    with pytest.raises(ActorDeadError):
        asked.get(timeout=DEADLINE_S)


def test_an_actor_started_in_the_bridges_last_round_never_stops_without_starting(
    rig: Rig, hooks: Hooks
) -> None:
    # E.g. a supervisor's restart in the round during which bridge.stop() is called.
    bridge = rig.bridge(lambda: None)
    parent = start(bridge, hooks, "parent")

    def stop_then_start() -> object:
        bridge.stop()  # on the bridge thread: sets the flag, the loop ends after this round
        return Probe.start(bridge.host, hooks, "late")

    late = parent.ask(Run(stop_then_start), timeout=DEADLINE_S)
    assert isinstance(late, pykka.ActorRef)
    bridge.join(DEADLINE_S)
    assert not bridge.is_alive()
    assert not late.is_alive()
    # Never on_stop without on_start (it would find no outbox, no store).
    assert [] == hooks.of("late")


def test_a_start_refused_by_a_stopped_bridge_leaves_no_actor_registered(
    rig: Rig, hooks: Hooks
) -> None:
    bridge = rig.bridge(lambda: None)
    bridge.stop()
    assert set() == refused_start(bridge, hooks, "late")
