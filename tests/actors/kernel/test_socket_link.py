"""SocketLink: what one read of a socket takes, what it leaves there, and who sent it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import zmq

from actors.kernel import (
    MAX_BATCH,
    CurveClient,
    CurveKeys,
    CurveServer,
    Gatekeeper,
    apply_curve,
)
from actors.kernel.channels import SocketLink
from actors.kernel.messages import Delivery
from protocol import Get, encode

pytestmark = pytest.mark.timeout(30)

LIST_ID = str(uuid.UUID(int=1, version=4))


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]]:
    ctx: zmq.Context[Any] = zmq.Context()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.bind("inproc://link")
    dealer.connect("inproc://link")
    try:
        yield router, dealer
    finally:
        router.close(linger=0)
        dealer.close(linger=0)
        ctx.term()


def link(sock: zmq.Socket[bytes], max_batch: int) -> SocketLink:
    def unexpected(*_: object) -> None:
        raise AssertionError("nothing here is undeliverable or malformed")

    return SocketLink("frontend", sock, zmq.ROUTER, 1 << 20, unexpected, unexpected, max_batch)


def send_gets(dealer: zmq.Socket[bytes], router: zmq.Socket[bytes], count: int) -> None:
    for k in range(count):
        dealer.send(encode(Get(msg_id=f"get-{k}", sender="client", list_id=LIST_ID)))
    # inproc delivers in order: once the last is readable, all are there.
    assert router.poll(5000)


def test_a_read_takes_at_most_its_batch_and_leaves_the_rest_in_order(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    """A socket read with ``max_batch`` 2 takes two messages per read, oldest
    first; the others stay queued in the socket for the next poll."""
    router, dealer = pair
    send_gets(dealer, router, 5)
    reader = link(router, max_batch=2)
    reads: list[list[str]] = []
    while len(reads) < 3:
        batch: list[Delivery] = []
        if router.poll(5000):
            reader.read(batch)
        reads.append([d.msg.msg_id for d in batch])
    assert [["get-0", "get-1"], ["get-2", "get-3"], ["get-4"]] == reads


def test_a_batch_is_never_larger_than_the_bridge_wide_bound(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = pair
    send_gets(dealer, router, MAX_BATCH + 1)
    batch: list[Delivery] = []
    link(router, max_batch=10 * MAX_BATCH).read(batch)
    assert MAX_BATCH == len(batch)


def test_a_keyed_link_delivers_frames_whose_routing_id_begins_with_their_key() -> None:
    """A CurveZMQ ROUTER of clients: a frame counts only if its routing id
    begins with its connection's key; one that claims another is a bad frame."""
    ctx: zmq.Context[Any] = zmq.Context()
    gatekeeper = Gatekeeper(ctx, {}, structlog.get_logger())
    gatekeeper.start()
    server = CurveKeys(*zmq.curve_keypair())
    honest, liar = CurveKeys(*zmq.curve_keypair()), CurveKeys(*zmq.curve_keypair())
    router = ctx.socket(zmq.ROUTER)
    dealers = [ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)]
    try:
        apply_curve(router, CurveServer(server, "clients"))
        port = router.bind_to_random_port("tcp://127.0.0.1")
        apply_curve(dealers[0], CurveClient(honest, server.public, keyed=True))
        apply_curve(dealers[1], CurveClient(liar, server.public))
        dealers[1].setsockopt(zmq.ROUTING_ID, honest.public + b"000000000000")
        bad: list[bytes] = []

        def unexpected(*_: object) -> None:
            raise AssertionError("nothing here is undeliverable")

        link = SocketLink(
            "frontend",
            router,
            zmq.ROUTER,
            1 << 20,
            unexpected,
            lambda _link, peer, _reason: bad.append(peer),
            keyed=True,
        )
        batch: list[Delivery] = []
        for dealer in dealers:
            dealer.connect(f"tcp://127.0.0.1:{port}")
            send_gets(dealer, router, 1)
            link.read(batch)
        assert 1 == len(batch)
        assert batch[0].peer.startswith(honest.public)
        assert [honest.public + b"000000000000"] == bad
    finally:
        router.close(linger=0)
        for dealer in dealers:
            dealer.close(linger=0)
        gatekeeper.stop()
        ctx.term()
