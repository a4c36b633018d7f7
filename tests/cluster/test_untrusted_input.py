"""Bad bytes on every bound socket: a clear error or a logged drop, and service goes on.

The client-facing sockets admit any CurveZMQ key, so anyone can send them
bad bytes: they are tried with a key of the test's own. The server-facing
ones admit only the cluster's keys: tests/cluster/test_security.py tries
strangers there.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

import msgspec
import pytest
import zmq

from actors.kernel import apply_curve
from protocol import ErrorReply, Get, Put, decode, encode
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

ROUTER_CHANNELS = ["frontend"]
GARBAGE = [
    b"",
    b"\x00\x01\x02 not msgpack",
    msgspec.msgpack.encode(["Get", 99, "id", "", "", False, str(uuid.uuid4())]),  # wrong version
    msgspec.msgpack.encode(["NoSuchMessage", 1]),  # unknown tag
    msgspec.msgpack.encode(["Get", 1, "id", "", "", False, "not-a-uuid"]),  # bad field
]


def dealer(ctx: zmq.Context[Any], endpoint: str, cluster: ClusterHarness) -> zmq.Socket[bytes]:
    sock: zmq.Socket[bytes] = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    apply_curve(sock, cluster.curve())
    sock.connect(endpoint)
    return sock


@pytest.mark.parametrize("channel", ROUTER_CHANNELS)
def test_garbage_on_a_router_gets_a_bad_frame_error_and_service_continues(
    cluster: ClusterHarness, channel: str
) -> None:
    endpoints = cluster.endpoints()
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = dealer(ctx, endpoints[channel], cluster)
        for frame in GARBAGE:
            sock.send(frame)
            reply = decode(sock.recv())
            assert isinstance(reply, ErrorReply)
            assert "bad_frame" == reply.code
            assert reply.reason
        sock.send_multipart([b"one", b"two"])  # two payload frames
        reply = decode(sock.recv())
        assert isinstance(reply, ErrorReply)
        assert "expected 1 payload frame" in reply.reason
        sock.close()
    finally:
        ctx.term()
    warnings = [e for e in cluster.log_events("proxy-*.jsonl") if e["event"] == "bad_frame"]
    assert warnings
    assert all(e["channel"] == channel for e in warnings)
    _still_serves(cluster)


def test_an_oversized_frame_is_dropped_and_service_continues(cluster: ClusterHarness) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = dealer(ctx, cluster.endpoints()["frontend"], cluster)
        sock.send(b"\x00" * (9 * 1024 * 1024))  # over the 8 MiB MAXMSGSIZE: peer dropped
        sock.close()
    finally:
        ctx.term()
    _still_serves(cluster)


def test_raw_tcp_garbage_on_the_frontend_is_dropped(cluster: ClusterHarness) -> None:
    """Bytes that are not ZMTP at all (an HTTP request, then every byte value)
    on the client socket: the connection is dropped, and service goes on."""
    host, port = cluster.endpoints()["frontend"].removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)) * 64)
    _still_serves(cluster)


def test_a_write_with_a_malformed_state_is_refused_and_changes_nothing(
    cluster: ClusterHarness,
) -> None:
    """A Put whose state does not decode, from a key that may write the list,
    is refused as ``bad_request``, and the list's stored copy is unchanged."""
    list_id = cluster.client("alice", "create", "safe").out["id"]
    cluster.client("alice", "add", list_id, "tea", "1")
    cluster.share("alice", list_id, "bob")
    curve = cluster.curve()
    assert curve is not None
    with cluster.session("alice") as alice:
        # The test's key may write the list: its Puts reach the replicas, which check the state.
        alice.share(list_id, curve.keys.public.decode())
    before = cluster.client("bob", "pull", list_id).out["list"]
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = dealer(ctx, cluster.endpoints()["frontend"], cluster)
        for bad in (
            b"\xc1garbage",
            msgspec.msgpack.encode([list_id, ["x"], [1], [], [], [["tea", [[5, 1, 9, 0]]]]]),
        ):
            sock.send(encode(Put(msg_id="evil", list_id=list_id, state=bad)))
            reply = decode(sock.recv())
            assert isinstance(reply, ErrorReply)
            assert "bad_request" == reply.code
        sock.send(encode(Get(msg_id="ok", list_id=list_id)))
        assert "ListReply" == type(decode(sock.recv())).__name__
        sock.close()
    finally:
        ctx.term()
    assert before == cluster.client("bob", "pull", list_id).out["list"]


def _still_serves(cluster: ClusterHarness) -> None:
    def ok() -> bool:
        result = cluster.client("probe", "create", "after-garbage")
        return result.code == 0 and result.out["pushed"] is True

    wait_until(ok, 20.0, "a normal write after bad input")
    assert cluster.proc is not None
    assert cluster.proc.poll() is None
