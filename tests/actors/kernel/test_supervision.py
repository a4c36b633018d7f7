"""The in-process supervisor: restarts, re-delivery without loss, giving up."""

from __future__ import annotations

import itertools
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs
from typing_extensions import override

from actors.kernel import ActorSupervisor, Bridge, CrashHandler, Delivery, Inbound
from actors.kernel.base import StartFailedError
from protocol import encode
from supervisor.child import _serve
from tests.actors.rig import (
    DEADLINE_S,
    POISON,
    CrashingActor,
    EchoActor,
    Journal,
    Rig,
    poll_until,
    receive,
    request,
)

pytestmark = pytest.mark.timeout(30)


def delivery(msg_id: str) -> Delivery:
    return Delivery("router", b"nobody", request(msg_id))


class Crashing:
    """A supervised CrashingActor behind a bridge; generations count from 1."""

    def __init__(
        self,
        rig: Rig,
        max_restarts: int = 5,
        within_s: float = 60.0,
        hold: threading.Event | None = None,
        restart_gate: threading.Event | None = None,
        **bridge_kwargs: Any,
    ) -> None:
        self.journal = Journal()
        self.gave_up = threading.Event()
        #: set while a restart waits for ``restart_gate``
        self.restarting = threading.Event()
        self._generations = itertools.count(1)
        self._hold = hold
        self._gate = restart_gate
        self.supervisor = rig.supervise(
            ActorSupervisor(
                self._factory,
                "crashing",
                max_restarts=max_restarts,
                within_s=within_s,
                on_give_up=self.gave_up.set,
            )
        )
        self.bridge: Bridge = rig.bridge(self._target, **bridge_kwargs)
        self.ctx = rig.ctx

    def _factory(self, on_crash: CrashHandler) -> pykka.ActorRef[Any]:
        generation = next(self._generations)
        if generation > 1 and self._gate is not None:
            self.restarting.set()
            assert self._gate.wait(DEADLINE_S), "the test never let the restart go on"
        return CrashingActor.start(self.bridge, self.journal, generation, on_crash, self._hold)

    def start(self) -> pykka.ActorRef[Any]:
        return self.supervisor.start()

    def next_actor(self, previous: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
        """Wait for the supervisor to install an actor other than ``previous``."""

        def replaced() -> pykka.ActorRef[Any] | None:
            ref = self.supervisor.current()
            return ref if ref is not None and ref is not previous else None

        return poll_until(replaced, "a restarted actor")

    def _target(self) -> pykka.ActorRef[Any] | None:
        return self.supervisor.current()


def test_a_crash_redelivers_the_rest_of_the_batch_and_the_inbox_to_a_new_actor(
    rig: Rig,
) -> None:
    hold = threading.Event()
    crashing = Crashing(rig, hold=hold)
    try:
        first = crashing.start()
        first.tell(Inbound([delivery("a"), delivery(f"{POISON}-1"), delivery("b")]))
        assert crashing.journal.poisoned.wait(DEADLINE_S)
        first.tell(Inbound([delivery("c")]))  # waits in the inbox of the doomed actor
        asked = first.ask("a question", block=False)
    finally:
        hold.set()
    second = crashing.next_actor(first)
    crashing.journal.wait_for(lambda j: len(j.seen_by(2)) == 3, "three re-deliveries")
    assert ["a", f"{POISON}-1"] == crashing.journal.seen_by(1)
    # Every message of the batch but the poison (also "a", handled before it:
    # at least once), then the inbox; the poison itself is not re-delivered.
    assert ["a", "b", "c"] == crashing.journal.seen_by(2)
    with pytest.raises(pykka.ActorDeadError):
        asked.get(timeout=DEADLINE_S)
    assert 1 == crashing.supervisor.restart_count
    assert not crashing.supervisor.gave_up
    assert second.is_alive()
    assert not first.is_alive()


def test_messages_arriving_during_a_restart_reach_the_new_actor(rig: Rig) -> None:
    # The restart runs on the bridge thread, which hosts the actors: what
    # arrives meanwhile waits in the socket's queue, then goes to the new actor.
    gate = threading.Event()
    crashing = Crashing(rig, restart_gate=gate)
    client = rig.dealer(crashing.bridge.endpoints["router"])
    try:
        first = crashing.start()
        client.send(encode(request(f"{POISON}-1")))
        assert crashing.restarting.wait(DEADLINE_S)
        assert crashing.supervisor.current() is None
        for msg_id in ("m1", "m2", "m3"):
            client.send(encode(request(msg_id)))
    finally:
        gate.set()
    crashing.next_actor(first)
    assert ["m1", "m2", "m3"] == [receive(client).msg_id for _ in range(3)]
    assert ["m1", "m2", "m3"] == crashing.journal.seen_by(2)
    assert [f"{POISON}-1"] == crashing.journal.seen_by(1)


def test_the_supervisor_gives_up_after_max_restarts_within_the_window(rig: Rig) -> None:
    crashing = Crashing(rig, max_restarts=2, within_s=60.0)
    ref = crashing.start()
    for i in range(2):
        ref.tell(Inbound([delivery(f"{POISON}-{i}")]))
        ref = crashing.next_actor(ref)
        assert not crashing.gave_up.is_set()
    ref.tell(Inbound([delivery(f"{POISON}-last")]))
    assert crashing.gave_up.wait(DEADLINE_S)
    assert crashing.supervisor.gave_up
    assert 2 == crashing.supervisor.restart_count
    assert crashing.supervisor.current() is None
    assert [1, 2, 3] == crashing.journal.started


def test_crashes_further_apart_than_the_window_never_add_up(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(
        "actors.kernel.supervision.time", SimpleNamespace(monotonic=lambda: clock[0])
    )
    crashing = Crashing(rig, max_restarts=1, within_s=10.0)
    ref = crashing.start()
    for i in range(4):
        clock[0] += 11.0
        ref.tell(Inbound([delivery(f"{POISON}-{i}")]))
        ref = crashing.next_actor(ref)
    assert 4 == crashing.supervisor.restart_count
    assert not crashing.gave_up.is_set()


def test_a_stopped_supervisor_has_no_actor(rig: Rig) -> None:
    crashing = Crashing(rig)
    ref = crashing.start()
    assert ref is crashing.supervisor.current()
    crashing.supervisor.stop(timeout_s=DEADLINE_S)
    assert crashing.supervisor.current() is None
    assert not ref.is_alive()


# ------------------------------------------------------------ failed starts


class FailingStartActor(EchoActor):
    """An echo actor whose ``started()`` raises in the generations given."""

    def __init__(
        self,
        bridge: Bridge,
        journal: Journal,
        generation: int,
        on_crash: CrashHandler,
        failing: set[int] | None,
    ) -> None:
        super().__init__(bridge, journal, generation, on_crash)
        self.failing = failing

    @override
    def started(self) -> None:
        super().started()  # the journal records every attempt
        if self.failing is None or self.generation in self.failing:
            raise OSError(f"no database for generation {self.generation}")


class FailingStarts(Crashing):
    """A supervised FailingStartActor behind a bridge; ``failing`` is the
    generations (from 1) that fail to start, ``None`` for all of them."""

    def __init__(
        self, rig: Rig, failing: set[int] | None, max_restarts: int = 5, within_s: float = 60.0
    ) -> None:
        #: what the supervisor's crash handler was given, in order
        self.errors: list[BaseException | None] = []
        self._failing = failing
        super().__init__(rig, max_restarts=max_restarts, within_s=within_s)

    @override
    def _factory(self, on_crash: CrashHandler) -> pykka.ActorRef[Any]:
        def crashed(leftover: list[Any], error: BaseException | None) -> None:
            self.errors.append(error)
            on_crash(leftover, error)

        generation = next(self._generations)
        return FailingStartActor.start(
            self.bridge, self.journal, generation, crashed, self._failing
        )


def test_an_actor_whose_start_fails_is_restarted_and_serves(rig: Rig) -> None:
    failing = FailingStarts(rig, failing={1, 2})
    client = rig.dealer(failing.bridge.endpoints["router"])
    first = failing.supervisor.start()
    # Whether it reaches the failing actor's inbox or waits in the bridge
    # while there is none, a message sent now is answered by the one that starts.
    client.send(encode(request("early")))
    third = poll_until(
        lambda: (
            (ref := failing.supervisor.current()) is not None
            and ref is not first
            and failing.journal.started == [1, 2, 3]
            and ref
        ),
        "the third actor installed",
    )
    client.send(encode(request("later")))
    assert ["early", "later"] == [receive(client).msg_id for _ in range(2)]
    assert ["early", "later"] == failing.journal.seen_by(3)
    assert 2 == failing.supervisor.restart_count
    assert not failing.supervisor.gave_up
    assert third.is_alive()
    assert not first.is_alive()
    assert failing.supervisor.has_actor()
    assert 2 == len(failing.errors)
    # The handler learns that the actor died starting, and of what.
    assert all(isinstance(e, StartFailedError) for e in failing.errors)
    assert all(isinstance(e.__cause__, OSError) for e in failing.errors if e is not None)


def test_an_actor_that_fails_once_then_starts_answers_asks(rig: Rig) -> None:
    failing = FailingStarts(rig, failing={1})
    first = failing.supervisor.start()
    second = poll_until(
        lambda: (ref := failing.supervisor.current()) is not None and ref is not first and ref,
        "a restarted actor",
    )
    # A command is answered (None) by the actor's own loop: it runs.
    command = ("send", "router", b"nobody", request("asked"))
    assert second.ask(command, timeout=DEADLINE_S) is None
    assert [1, 2] == failing.journal.started
    assert 1 == failing.supervisor.restart_count


def test_an_actor_that_keeps_failing_to_start_makes_the_supervisor_give_up_in_its_window(
    rig: Rig,
) -> None:
    within_s = 5.0
    failing = FailingStarts(rig, failing=None, max_restarts=3, within_s=within_s)
    began = time.monotonic()
    failing.supervisor.start()
    assert failing.gave_up.wait(DEADLINE_S)
    assert time.monotonic() - began < within_s
    assert failing.supervisor.gave_up
    assert [1, 2, 3, 4] == failing.journal.started
    assert 3 == failing.supervisor.restart_count
    assert failing.supervisor.current() is None
    assert not failing.supervisor.has_actor()


def test_a_restart_pending_after_a_failed_start_counts_as_an_actor_until_stopped(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("actors.kernel.supervision.START_BACKOFF_S", 30.0)
    failing = FailingStarts(rig, failing={1})
    first = failing.supervisor.start()
    poll_until(lambda: not first.is_alive(), "the first actor dead")
    assert failing.supervisor.current() is None
    assert failing.supervisor.has_actor()  # a restart is to come
    failing.supervisor.stop(timeout_s=DEADLINE_S)
    assert not failing.supervisor.has_actor()
    assert [1] == failing.journal.started


def test_an_actor_stopped_behind_the_supervisors_back_is_no_actor(rig: Rig) -> None:
    crashing = Crashing(rig)
    ref = crashing.start()
    assert crashing.supervisor.has_actor()
    ref.stop(block=True, timeout=DEADLINE_S)
    assert not crashing.supervisor.has_actor()


def test_a_process_whose_actor_is_gone_stops_serving(rig: Rig) -> None:
    # The main thread's loop of a cluster process: with no actor, and none
    # to come, it returns False (the process exits 70) and says why, once.
    crashing = Crashing(rig)
    crashing.start().stop(block=True, timeout=DEADLINE_S)
    stop = threading.Event()
    deadline = threading.Timer(DEADLINE_S, stop.set)  # only if it never notices
    deadline.start()
    try:
        with capture_logs() as captured:
            served_to_the_end = _serve(stop, crashing.bridge, os.getppid(), crashing.supervisor)
    finally:
        deadline.cancel()
    assert not served_to_the_end
    assert not stop.is_set()
    assert 1 == len([e for e in captured if e["event"] == "process.no_actor"])
