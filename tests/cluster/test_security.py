"""A secured cluster (the default) admits only its own servers, and no plaintext.

Tried as an attacker would, with real sockets against a real cluster: a
plaintext peer, a stranger's CurveZMQ key, and a known server key claiming
a routing id that is not its own. Each is refused, and the cluster goes on
serving with its five servers.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.kernel import CurveClient, CurveKeys, apply_curve
from protocol import ErrorReply, SHello, decode, encode
from supervisor.keys import load_pair, server_name
from supervisor.transport import ephemeral_keys
from tests.cluster.test_untrusted_input import GARBAGE
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


def test_bad_frames_from_an_authenticated_server_key_are_refused_and_service_goes_on(
    cluster: ClusterHarness,
) -> None:
    """An insider: s5's own key and routing id (s5 itself retired and gone),
    sending garbage on each server socket. Each frame gets a clear
    ``bad_frame`` answer, is logged, changes nothing, and the four other
    servers go on serving."""
    (cluster.data_dir / "s5" / "RETIRED").touch()  # not restarted once it exits
    os.kill(cluster.child_pids()["s5"], signal.SIGKILL)
    wait_until(lambda: "s5" not in cluster.child_pids(), 30.0, "s5 gone for good")
    pair = load_pair(cluster.base / "keys", server_name("s5"))
    curve = cluster.curve()
    assert curve is not None
    insider = CurveClient(CurveKeys(pair.public, pair.secret), curve.server_public)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        for channel in SERVER_CHANNELS:
            sock = _accepted_as_s5(ctx, cluster.endpoints()[channel], insider)
            try:
                for frame in GARBAGE[1:]:
                    sock.send(frame)
                assert len(GARBAGE) - 1 == _bad_frame_answers(sock, len(GARBAGE) - 1), channel
            finally:
                sock.close(linger=0)
    finally:
        ctx.term()
    dropped = [
        e
        for e in cluster.log_events("proxy-*.jsonl")
        if e["event"] == "bad_frame" and e["channel"] in SERVER_CHANNELS
    ]
    assert len(dropped) >= len(SERVER_CHANNELS)
    result = cluster.client("after", "create", "after the garbage")
    assert (0, True) == (result.code, result.out["pushed"])


def _accepted_as_s5(
    ctx: zmq.Context[Any], endpoint: str, insider: CurveClient
) -> zmq.Socket[bytes]:
    """A DEALER under s5's id whose first garbage frame got its ``bad_frame``.

    The proxy's ROUTER takes no second connection under an id it still
    holds (no handover), and it lets go of the killed s5's connection a
    moment after the process is gone: until then, connect again.
    """
    end = time.monotonic() + 2 * DEADLINE_S
    while time.monotonic() < end:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, int(DEADLINE_S * 1000))
        sock.setsockopt(zmq.ROUTING_ID, b"s5")
        apply_curve(sock, insider)
        sock.connect(endpoint)
        sock.send(GARBAGE[0])
        try:
            if sock.poll(1000) and _bad_frame_answers(sock, 1):
                return sock
        except zmq.Again:
            pass  # taken, but its answer did not come in time: connect again
        sock.close(linger=0)
    raise AssertionError(f"no connection under s5's id accepted at {endpoint}")


def _bad_frame_answers(sock: zmq.Socket[bytes], wanted: int) -> int:
    """Read until ``wanted`` ``bad_frame`` answers came (each read bounded by
    the socket's RCVTIMEO), past what else the proxy sends a server id (a
    ring announcement, a probe, an answer meant for the retired s5)."""
    found = 0
    while found < wanted:
        reply = decode(sock.recv())
        found += isinstance(reply, ErrorReply) and reply.code == "bad_frame"
    return found
