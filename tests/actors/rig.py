"""Real ZeroMQ plumbing for bridge and supervision tests, on loopback.

Test actors record what they see in a :class:`Journal`; tests wait on it
(a condition with a deadline), never on the clock.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pykka
import pytest
import zmq

from actors.kernel import (
    ActorSupervisor,
    Bridge,
    BridgedActor,
    CrashHandler,
    Delivery,
    SocketSpec,
    Undeliverable,
)
from protocol import Get, Message, decode
from protocol.limits import MAX_FRAME_BYTES

T = TypeVar("T")

LIST_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#: How long any wait may take before the test fails (generous: CI machines stall).
DEADLINE_S = 10.0
#: A message whose msg_id starts with this makes a CrashingActor raise.
POISON = "poison"


def request(msg_id: str) -> Get:
    return Get(msg_id=msg_id, trace_id="t", sender="client", list_id=LIST_ID)


class Journal:
    """What test actors saw, across restarts; safe to read from the test thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        #: (generation, msg_id) of every delivery, in handling order
        self.deliveries: list[tuple[int, str]] = []
        self.undeliverable: list[Undeliverable] = []
        self.started: list[int] = []
        self.ticks = 0
        #: set when a CrashingActor starts handling a poison message
        self.poisoned = threading.Event()

    def add(self, update: Callable[[Journal], None]) -> None:
        with self._cond:
            update(self)
            self._cond.notify_all()

    def wait_for(self, condition: Callable[[Journal], bool], what: str) -> None:
        wait_on(self._cond, lambda: condition(self), what)

    def seen_by(self, generation: int) -> list[str]:
        with self._cond:
            return [msg_id for gen, msg_id in self.deliveries if gen == generation]


class EchoActor(BridgedActor):
    """Sends every message back to its sender on the channel it came in on.

    Commands (``tell``): ``("send", channel, peer, msg)`` sends ``msg``.
    """

    def __init__(
        self,
        bridge: Bridge,
        journal: Journal,
        generation: int = 1,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(bridge, f"echo-{generation}", on_crash)
        self.journal = journal
        self.generation = generation

    def started(self) -> None:
        self.journal.add(lambda j: j.started.append(self.generation))

    def handle(self, delivery: Delivery) -> None:
        msg_id = delivery.msg.msg_id
        self.journal.add(lambda j: j.deliveries.append((self.generation, msg_id)))
        self.outbox.send(delivery.channel, delivery.peer, delivery.msg)

    def on_tick(self, now: float) -> None:
        def count(j: Journal) -> None:
            j.ticks += 1

        self.journal.add(count)

    def on_undeliverable(self, event: Undeliverable) -> None:
        self.journal.add(lambda j: j.undeliverable.append(event))

    def on_command(self, message: Any) -> Any:
        _, channel, peer, msg = message
        self.outbox.send(channel, peer, msg)
        return None


class CrashingActor(EchoActor):
    """An echo actor that raises on a poison message, optionally once ``hold`` is set."""

    def __init__(
        self,
        bridge: Bridge,
        journal: Journal,
        generation: int = 1,
        on_crash: CrashHandler | None = None,
        hold: threading.Event | None = None,
    ) -> None:
        super().__init__(bridge, journal, generation, on_crash)
        self.hold = hold

    def handle(self, delivery: Delivery) -> None:
        if delivery.msg.msg_id.startswith(POISON):
            msg_id = delivery.msg.msg_id
            self.journal.add(lambda j: j.deliveries.append((self.generation, msg_id)))
            self.journal.poisoned.set()
            if self.hold is not None and not self.hold.wait(DEADLINE_S):
                raise AssertionError("the test never released the poison")
            raise RuntimeError(f"poisoned by {msg_id}")
        super().handle(delivery)


@dataclass
class Rig:
    """One zmq context and everything made on it, torn down in order."""

    ctx: zmq.Context[Any]

    def __post_init__(self) -> None:
        self._sockets: list[zmq.Socket[bytes]] = []
        self._bridges: list[Bridge] = []
        self._stoppers: list[Callable[[], object]] = []
        self._ids = itertools.count(1)

    def bridge(
        self,
        target: Callable[[], pykka.ActorRef[Any] | None],
        max_frame_bytes: int = MAX_FRAME_BYTES,
        **kwargs: Any,
    ) -> Bridge:
        """A started bridge with one ROUTER channel, ``router``, on an ephemeral port."""
        spec = SocketSpec(
            "router", zmq.ROUTER, bind="tcp://127.0.0.1:0", max_frame_bytes=max_frame_bytes
        )
        kwargs.setdefault("tick_interval_s", 0.02)
        bridge = Bridge(self.ctx, [spec], target, node_id=f"b{next(self._ids)}", **kwargs)
        self._bridges.append(bridge)
        bridge.start()
        bridge.wait_ready()
        return bridge

    def echo(self, journal: Journal, **kwargs: Any) -> tuple[Bridge, pykka.ActorRef[Any]]:
        """A bridge delivering to a fresh EchoActor."""
        holder: dict[str, pykka.ActorRef[Any]] = {}
        bridge = self.bridge(lambda: holder.get("ref"), **kwargs)
        ref = EchoActor.start(bridge, journal)
        holder["ref"] = ref
        self.on_teardown(lambda: ref.stop(block=True, timeout=DEADLINE_S))
        return bridge, ref

    def supervise(self, supervisor: ActorSupervisor) -> ActorSupervisor:
        self.on_teardown(lambda: supervisor.stop(timeout_s=DEADLINE_S))
        return supervisor

    def on_teardown(self, stop: Callable[[], object]) -> None:
        self._stoppers.append(stop)

    def dealer(self, endpoint: str) -> zmq.Socket[bytes]:
        sock: zmq.Socket[bytes] = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        self._sockets.append(sock)
        return sock

    def close(self) -> None:
        for stop in reversed(self._stoppers):
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                stop()
        for bridge in self._bridges:
            bridge.stop()
        for sock in self._sockets:
            sock.close(linger=0)
        self.ctx.term()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig(zmq.Context())
    try:
        yield r
    finally:
        r.close()


def wait_on(cond: threading.Condition, predicate: Callable[[], bool], what: str) -> None:
    """Wait, under ``cond``, until ``predicate()`` holds; fail at the deadline."""
    with cond:
        if not cond.wait_for(predicate, DEADLINE_S):
            raise AssertionError(f"timed out after {DEADLINE_S}s waiting for {what}")


def poll_until(condition: Callable[[], T | None], what: str) -> T:
    """The first truthy value of ``condition()``, re-checked until the deadline."""
    end = time.monotonic() + DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {DEADLINE_S}s waiting for {what}")
        time.sleep(0.005)  # polling a condition, not synchronising on time


def receive(sock: zmq.Socket[bytes]) -> Message:
    """The next message on ``sock``; fails after the deadline."""
    if not sock.poll(int(DEADLINE_S * 1000)):
        raise AssertionError(f"no message within {DEADLINE_S}s")
    return decode(sock.recv())
