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
from concurrent.futures import ThreadPoolExecutor

import pykka
import pytest
from pykka import ActorDeadError

from actors.kernel import Bridge
from tests.actors.kernel.hosted import Fail, Hooks, Probe, Run, holding, start
from tests.actors.rig import DEADLINE_S

pytestmark = pytest.mark.timeout(30)

#: Asks the actor for the thread it handles messages on.
WHERE = "where"


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
