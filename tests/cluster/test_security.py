"""A secured cluster (the default) admits only its own servers, and no plaintext.

Tried as an attacker would, with real sockets against a real cluster: a
plaintext peer, a stranger's CurveZMQ key, and a known server key claiming
a routing id that is not its own. Each is refused, and the cluster goes on
serving with its five servers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.kernel import CurveClient, CurveKeys, apply_curve
from protocol import ErrorReply, SHello, decode, encode
from supervisor.keys import load_pair, server_name
from supervisor.transport import ephemeral_keys
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

SERVER_CHANNELS = ["backend", "hello", "liveness"]
HANDSHAKE_FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
}
DEADLINE_S = 10.0


def first_handshake_event(
    ctx: zmq.Context[Any], endpoint: str, curve: CurveClient | None, routing_id: bytes = b""
) -> int:
    """Connect a DEALER and return how its first handshake ended (a zmq event)."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if routing_id:
        sock.setsockopt(zmq.ROUTING_ID, routing_id)
    apply_curve(sock, curve)
    mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | sum(HANDSHAKE_FAILED))
    try:
        sock.connect(endpoint)
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            if mon.poll(100):
                return int(recv_monitor_message(mon)["event"])
        raise AssertionError(f"no handshake event from {endpoint} in {DEADLINE_S}s")
    finally:
        sock.disable_monitor()
        mon.close(linger=0)
        sock.close(linger=0)


def stranger(cluster: ClusterHarness) -> CurveClient:
    """A key of the test's own that trusts the cluster's proxy."""
    curve = cluster.curve()
    assert curve is not None, "the cluster runs secured by default"
    return CurveClient(ephemeral_keys(), curve.server_public)


def test_a_plaintext_peer_cannot_connect_to_any_socket(cluster: ClusterHarness) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        for channel in ["frontend", *SERVER_CHANNELS]:
            event = first_handshake_event(ctx, cluster.endpoints()[channel], None)
            assert event in HANDSHAKE_FAILED, channel
    finally:
        ctx.term()
    assert 5 == len(cluster.status().members)


def test_a_client_key_reaches_the_frontend_but_not_the_servers_sockets(
    cluster: ClusterHarness,
) -> None:
    """Any key is a client on the frontend; on the sockets of the servers an
    unknown key fails the handshake (ZAP says no), claiming a server's id or
    not, and its refusal is logged."""
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        endpoints = cluster.endpoints()
        key = stranger(cluster)
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED == first_handshake_event(
            ctx, endpoints["frontend"], key
        )
        for channel in SERVER_CHANNELS:
            for routing_id in (b"s1", b"s9", b"supervisor-127.0.0.1"):
                event = first_handshake_event(ctx, endpoints[channel], key, routing_id)
                assert zmq.EVENT_HANDSHAKE_FAILED_AUTH == event, (channel, routing_id)
    finally:
        ctx.term()
    refused = [
        e for e in cluster.log_events("proxy-*.jsonl") if e["event"] == "security.unknown_key"
    ]
    assert refused
    status = cluster.status()
    assert ["s1", "s2", "s3", "s4", "s5"] == sorted(m.node_id for m in status.members)


def test_a_known_server_key_cannot_speak_under_another_id(cluster: ClusterHarness) -> None:
    """s2's key, connected under the routing id s6 (or saying hello for s1):
    the handshake passes (the key is the cluster's), but every frame is
    dropped as a bad frame, so it never joins nor speaks for another."""
    pair = load_pair(cluster.base / "keys", server_name("s2"))
    curve = cluster.curve()
    assert curve is not None
    impostor = CurveClient(CurveKeys(pair.public, pair.secret), curve.server_public)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, int(DEADLINE_S * 1000))
        sock.setsockopt(zmq.ROUTING_ID, b"s6")
        apply_curve(sock, impostor)
        sock.connect(cluster.endpoints()["hello"])
        for server_id in ("s6", "s1"):
            sock.send(
                encode(SHello(msg_id=f"h-{server_id}", sender=server_id, server_id=server_id))
            )
            reply = decode(sock.recv())
            assert isinstance(reply, ErrorReply)
            assert "bad_frame" == reply.code
        sock.close(linger=0)
    finally:
        ctx.term()
    dropped = [
        e
        for e in cluster.log_events("proxy-*.jsonl")
        if e["event"] == "bad_frame" and "server-s2" in e.get("reason", "")
    ]
    assert 2 == len(dropped)

    def five_healthy() -> bool:
        members = cluster.status().members
        return sorted(m.node_id for m in members if m.alive and not m.suspect) == [
            "s1",
            "s2",
            "s3",
            "s4",
            "s5",
        ]

    wait_until(five_healthy, 20.0, "the five servers, and only they, in the ring")


def test_the_cluster_keys_are_private_files(cluster: ClusterHarness) -> None:
    keys = cluster.base / "keys"
    secrets = sorted(keys.glob("*.key_secret"))
    assert {p.name for p in secrets} == {
        "proxy.key_secret",
        *(f"server-s{k}.key_secret" for k in range(1, 6)),
        "supervisor-127.0.0.1.key_secret",
    }
    assert all(0o600 == p.stat().st_mode & 0o777 for p in secrets)
    assert 0o700 == keys.stat().st_mode & 0o777
    text = "".join(p.read_text() for p in cluster.log_dir.glob("*.jsonl"))
    for path in secrets:
        secret = load_pair(keys, path.name.removesuffix(".key_secret")).secret.decode()
        assert secret not in text
