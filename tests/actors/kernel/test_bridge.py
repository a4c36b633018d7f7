"""The bridge with real sockets: echo, bad frames, oversized frames, unroutable sends,
XPUB subscriptions, and faults installed while it runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.kernel import Bridge, Channel, Delivery, FaultInjector, SocketSpec, Waker
from actors.kernel.faults import Direction
from protocol import ErrorReply, FaultRule, Get, decode, encode
from tests.actors.rig import (
    DEADLINE_S,
    LIST_ID,
    EchoActor,
    Journal,
    Rig,
    poll_until,
    receive,
    request,
)

pytestmark = pytest.mark.timeout(30)


def assert_echoes(rig_sock: zmq.Socket[bytes], msg_id: str) -> None:
    rig_sock.send(encode(request(msg_id)))
    assert request(msg_id) == receive(rig_sock)


def test_a_client_gets_its_message_echoed(rig: Rig) -> None:
    journal = Journal()
    bridge, _ = rig.echo(journal)
    endpoint = bridge.endpoints["router"]
    assert endpoint.startswith("tcp://127.0.0.1:")
    assert not endpoint.endswith(":0")
    client = rig.dealer(endpoint)
    assert_echoes(client, "m1")
    assert [(1, "m1")] == journal.deliveries


def test_each_client_gets_its_own_replies(rig: Rig) -> None:
    journal = Journal()
    bridge, _ = rig.echo(journal)
    alice = rig.dealer(bridge.endpoints["router"])
    bob = rig.dealer(bridge.endpoints["router"])
    alice.send(encode(request("from-alice")))
    bob.send(encode(request("from-bob")))
    assert "from-bob" == receive(bob).msg_id
    assert "from-alice" == receive(alice).msg_id


def test_the_actor_gets_ticks(rig: Rig) -> None:
    journal = Journal()
    rig.echo(journal)
    journal.wait_for(lambda j: j.ticks >= 2, "two ticks")


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([b"\xc1 not msgpack"], "not a msgpack frame"),
        ([encode(request("x"))[:-3]], ""),
        ([encode(request("a")), encode(request("b"))], "expected 1 payload frame, got 2"),
        (
            [encode(Get(v=2, msg_id="future", list_id=LIST_ID))],
            "unsupported protocol version 2",
        ),
    ],
    ids=["garbage", "truncated", "two-frames", "wrong-version"],
)
def test_a_bad_frame_gets_a_bad_frame_error_and_the_bridge_keeps_serving(
    rig: Rig, frames: list[bytes], reason: str
) -> None:
    journal = Journal()
    bridge, _ = rig.echo(journal)
    client = rig.dealer(bridge.endpoints["router"])
    client.send_multipart(frames)
    error = receive(client)
    assert isinstance(error, ErrorReply)
    assert ("bad_frame", "", bridge.node_id) == (error.code, error.reply_to, error.sender)
    assert reason in error.reason
    assert_echoes(client, "after")
    assert [(1, "after")] == journal.deliveries


def test_a_frame_over_the_limit_disconnects_its_sender_only(rig: Rig) -> None:
    journal = Journal()
    bridge, _ = rig.echo(journal, max_frame_bytes=1024)
    endpoint = bridge.endpoints["router"]
    flooder = rig.dealer(endpoint)
    monitor = flooder.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    try:
        assert_echoes(flooder, "small")  # connected, and frames under the limit pass
        flooder.send(b"\x00" * 8192)
        assert monitor.poll(int(DEADLINE_S * 1000)), "the bridge did not disconnect the flooder"
        assert zmq.EVENT_DISCONNECTED == recv_monitor_message(monitor)["event"]
    finally:
        flooder.disable_monitor()
        monitor.close(linger=0)
    other = rig.dealer(endpoint)
    assert_echoes(other, "other")
    assert [(1, "small"), (1, "other")] == journal.deliveries


def test_a_send_to_an_unknown_peer_comes_back_undeliverable(rig: Rig) -> None:
    journal = Journal()
    # No tick for an hour: the failed send's report must reach the actor
    # without waiting for one.
    bridge, ref = rig.echo(journal, tick_interval_s=3600.0)
    msg = request("lost")
    ref.tell(("send", "router", b"nobody", msg))
    journal.wait_for(lambda j: len(j.undeliverable) == 1, "the undeliverable event")
    event = journal.undeliverable[0]
    assert ("router", b"nobody", msg, "unreachable") == (
        event.channel,
        event.peer,
        event.msg,
        event.reason,
    )
    assert_echoes(rig.dealer(bridge.endpoints["router"]), "still-serving")


def start_on_taken_port(ctx: zmq.Context[Any], endpoint: str) -> Bridge:
    """A bridge whose only socket binds ``endpoint``, already bound elsewhere."""
    taken = SocketSpec("router", zmq.ROUTER, bind=endpoint)
    bridge = Bridge(ctx, [taken], lambda: None, node_id="second")
    bridge.start()
    with pytest.raises(RuntimeError, match=r"^bridge of second failed: ") as caught:
        bridge.wait_ready()
    cause = caught.value.__cause__
    assert isinstance(cause, zmq.ZMQError)
    assert zmq.EADDRINUSE == cause.errno
    bridge.join(DEADLINE_S)
    assert not bridge.is_alive()
    return bridge


def test_a_port_in_use_fails_wait_ready(rig: Rig) -> None:
    bridge, _ = rig.echo(Journal())
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        second = start_on_taken_port(ctx, bridge.endpoints["router"])
        assert isinstance(second.error, zmq.ZMQError)
    finally:
        ctx.destroy(linger=0)


def test_a_bridge_that_failed_to_start_leaves_no_socket_open(rig: Rig) -> None:
    bridge, _ = rig.echo(Journal())
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        start_on_taken_port(ctx, bridge.endpoints["router"])
        assert [] == [sock for sock in ctx._sockets if not sock.closed]
    finally:
        ctx.destroy(linger=0)


def test_stop_wakes_a_bridge_waiting_for_its_next_tick(rig: Rig) -> None:
    # An hour between ticks: only the stop's wake-up can end the poll in time.
    bridge = rig.bridge(lambda: None, tick_interval_s=3600.0)
    bridge.stop(timeout_s=DEADLINE_S)
    assert not bridge.is_alive()


def test_a_closed_waker_ignores_wakes() -> None:
    # A tell can race the end of the loop; its wake must not write to a
    # closed descriptor, whose number may belong to another file by then.
    waker = Waker()
    waker.close()
    waker.wake()
    waker.close()
    assert waker.closed


class CountingFaults:
    """A pass-through fault policy that counts inbound messages (bridge thread)."""

    def __init__(self) -> None:
        self.inbound = 0

    def decide(self, direction: str, channel: str, peer: bytes) -> tuple[int, float]:
        if direction == "in":
            self.inbound += 1
        return 1, 0.0


def test_messages_read_before_the_actor_exists_reach_it_once_it_does(rig: Rig) -> None:
    # A process's bridge starts before its actor: what arrives meanwhile is
    # kept (the backlog) and delivered first once there is an actor.
    journal = Journal()
    faults = CountingFaults()
    holder: dict[str, pykka.ActorRef[Any]] = {}
    kept = threading.Event()

    def target() -> pykka.ActorRef[Any] | None:
        ref = holder.get("ref")
        if ref is None and faults.inbound >= 1:
            kept.set()  # the message was read and found no actor
        return ref

    bridge = rig.bridge(target, faults=faults)
    client = rig.dealer(bridge.endpoints["router"])
    client.send(encode(request("early")))
    assert kept.wait(DEADLINE_S)
    ref = EchoActor.start(bridge, journal)
    rig.on_teardown(lambda: ref.stop(block=True, timeout=DEADLINE_S))
    holder["ref"] = ref
    assert "early" == receive(client).msg_id
    assert_echoes(client, "later")


class EchoesThenHolds(EchoActor):
    """Echoes, sends at once, then holds its handler until ``release`` is set."""

    def __init__(self, bridge: Bridge, journal: Journal, release: threading.Event) -> None:
        super().__init__(bridge, journal)
        self.release = release

    def handle(self, delivery: Delivery) -> None:
        super().handle(delivery)
        self.send_now()
        self.release.wait(3 * DEADLINE_S)  # past the test's receive deadline


def test_send_now_sends_before_the_handler_returns(rig: Rig) -> None:
    release = threading.Event()
    holder: dict[str, pykka.ActorRef[Any]] = {}
    bridge = rig.bridge(lambda: holder.get("ref"))
    holder["ref"] = ref = EchoesThenHolds.start(bridge, Journal(), release)
    rig.on_teardown(lambda: ref.stop(block=True, timeout=DEADLINE_S))
    rig.on_teardown(release.set)
    client = rig.dealer(bridge.endpoints["router"])
    client.send(encode(request("early")))
    # Received while the handler still holds the bridge thread.
    assert request("early") == receive(client)
    assert not release.is_set()
    release.set()


def test_send_now_refuses_any_thread_but_the_bridge(rig: Rig) -> None:
    bridge, _ = rig.echo(Journal())
    with pytest.raises(RuntimeError, match="bridge thread only"):
        bridge.send_now()


def test_the_bridge_knows_which_topics_of_an_xpub_have_subscribers(rig: Rig) -> None:
    spec = SocketSpec("publish", zmq.XPUB, bind="tcp://127.0.0.1:0")
    bridge = Bridge(rig.ctx, [spec], lambda: None, node_id="pub", tick_interval_s=0.02)
    rig.on_teardown(bridge.stop)
    bridge.start()
    bridge.wait_ready()
    assert not bridge.has_subscriber("publish", b"t1")
    sub: zmq.Socket[bytes] = rig.ctx.socket(zmq.SUB)
    rig.on_teardown(lambda: sub.close(linger=0))
    sub.connect(bridge.endpoints["publish"])
    sub.setsockopt(zmq.SUBSCRIBE, b"t1")
    poll_until(lambda: bridge.has_subscriber("publish", b"t1"), "the subscription")
    assert not bridge.has_subscriber("publish", b"t2")
    assert not bridge.has_subscriber("frontend", b"t1")  # no such XPUB
    outbox = bridge.outbox()
    outbox.publish("publish", b"t1", request("update"))
    outbox.flush()
    assert sub.poll(int(DEADLINE_S * 1000))
    topic, payload = sub.recv_multipart()
    assert (b"t1", request("update")) == (topic, decode(payload))
    sub.setsockopt(zmq.UNSUBSCRIBE, b"t1")
    poll_until(lambda: not bridge.has_subscriber("publish", b"t1"), "the unsubscription")


class Recording:
    """A fault policy that records the decisions of an injector (bridge thread)."""

    def __init__(self, injector: FaultInjector) -> None:
        self.injector = injector
        self.decisions: list[tuple[Direction, int, float]] = []

    def decide(self, direction: Direction, channel: Channel, peer: bytes) -> tuple[int, float]:
        copies, delay_s = self.injector.decide(direction, channel, peer)
        self.decisions.append((direction, copies, delay_s))
        return copies, delay_s


def test_faults_installed_while_the_bridge_runs_take_effect_and_clear(rig: Rig) -> None:
    # As with debug on: an injector without rules, given rules later.
    injector = FaultInjector()
    policy = Recording(injector)
    journal = Journal()
    bridge, _ = rig.echo(journal, faults=policy)
    client = rig.dealer(bridge.endpoints["router"])
    assert_echoes(client, "before")
    injector.install([FaultRule(direction="in", drop=1.0)])
    client.send(encode(request("dropped")))
    poll_until(lambda: ("in", 0, 0.0) in policy.decisions, "the drop")
    injector.install([FaultRule(direction="out", duplicate=1.0, delay_s=0.2)])
    sent_at = time.monotonic()
    client.send(encode(request("late-twice")))
    assert [request("late-twice")] * 2 == [receive(client), receive(client)]
    assert time.monotonic() - sent_at >= 0.2
    injector.install([])
    assert_echoes(client, "after")
    assert not client.poll(50), "an echo too many"
    assert [(1, "before"), (1, "late-twice"), (1, "after")] == journal.deliveries
