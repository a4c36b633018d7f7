"""Hosted actors and their host thread: asks from the host thread, the host's
own deliveries (``ActorHost.tell``), and stopping the bridge that hosts them.

Uses the quiet bridge and the test actor of :mod:`tests.actors.kernel.hosted`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pykka
import pytest
from pykka import ActorDeadError

from actors.kernel import Bridge, HostThreadAskError
from tests.actors.kernel.hosted import (
    CountOf,
    Fail,
    Hooks,
    Probe,
    Run,
    holding,
    refused_start,
    start,
    stop_quiet,
)
from tests.actors.rig import DEADLINE_S, Rig

pytestmark = pytest.mark.timeout(30)

#: Asks the actor for the thread it handles messages on.
WHERE = "where"


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
