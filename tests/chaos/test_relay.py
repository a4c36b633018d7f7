"""The chaos suite's link relay on its own: bytes cross it both ways in
order, its delay is applied, a reset closes both sides, a stop is clean."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typing_extensions import override

from tests.chaos.relay import RELAY_HOST, LinkConditions, LinkRelay
from tests.harness import wait_until

#: Each wait on a socket in these tests ends after this long.
SOCKET_TIMEOUT_S = 5.0


class _Echo(socketserver.BaseRequestHandler):
    """Sends back what it receives until the end of the stream."""

    @override
    def handle(self) -> None:
        self.request.settimeout(SOCKET_TIMEOUT_S)
        with contextlib.suppress(OSError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


@pytest.fixture
def echo_port() -> Iterator[int]:
    """An echo server on 127.0.0.1, on a free port."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="echo")
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(SOCKET_TIMEOUT_S)


@pytest.fixture
def relay(echo_port: int) -> Iterator[LinkRelay]:
    relay = LinkRelay([echo_port]).start()
    try:
        yield relay
    finally:
        assert [] == relay.stop()


def _dial(port: int) -> socket.socket:
    return socket.create_connection((RELAY_HOST, port), timeout=SOCKET_TIMEOUT_S)


def _receive(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes, or fewer if the stream ends first."""
    got = bytearray()
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def _ended(sock: socket.socket) -> bool:
    """Whether the peer closed: a read finds the end of the stream or a reset."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def test_bytes_cross_both_ways_in_order_under_jitter(relay: LinkRelay, echo_port: int) -> None:
    # Jitter larger than the delay: chunks would overtake each other if the
    # relay did not hold each one behind the one before.
    relay.set_conditions(LinkConditions(delay_ms=5, jitter_ms=20, stall_probability=0.1))
    messages = [f"{k:05d};".encode() for k in range(300)]
    with _dial(echo_port) as sock:
        for message in messages:
            sock.sendall(message)  # one send each, so that the relay sees many chunks
        echoed = _receive(sock, sum(map(len, messages)))
    assert b"".join(messages) == echoed
    stats = relay.stats()
    assert 1 == stats["connections"]
    assert 2 * len(echoed) == stats["bytes"]  # there and back


def test_the_delay_is_applied_each_way(relay: LinkRelay, echo_port: int) -> None:
    delay_ms = 150
    with _dial(echo_port) as sock:
        sock.sendall(b"warm")  # the first exchange also waits for the accept
        assert b"warm" == _receive(sock, 4)
        relay.set_conditions(LinkConditions(delay_ms=delay_ms))
        sent = time.monotonic()
        sock.sendall(b"ping")
        assert b"ping" == _receive(sock, 4)
        # A lower bound only: a slow machine can make it longer, never shorter.
        assert time.monotonic() - sent >= 2 * delay_ms / 1000


def test_reset_all_closes_both_sides_and_the_link_can_be_dialled_again(
    relay: LinkRelay, echo_port: int
) -> None:
    with _dial(echo_port) as sock:
        sock.sendall(b"hello")
        assert b"hello" == _receive(sock, 5)
        assert 1 == relay.reset_all()
        assert _ended(sock)
    # The upstream side is closed too: the relay forgets the connection
    # once its threads have finished, which they do on seeing both sides end.
    wait_until(lambda: relay.open_connections() == 0, SOCKET_TIMEOUT_S, "the link forgotten")
    with _dial(echo_port) as again:
        again.sendall(b"back")
        assert b"back" == _receive(again, 4)
    assert {"connections": 2, "resets": 1} == {
        k: v for k, v in relay.stats().items() if k in ("connections", "resets")
    }


def test_a_certain_reset_drops_the_first_chunk(relay: LinkRelay, echo_port: int) -> None:
    relay.set_conditions(LinkConditions(reset_probability=1.0))
    with _dial(echo_port) as sock:
        sock.sendall(b"lost")
        assert _ended(sock)
    assert 1 == relay.stats()["resets"]
    assert 0 == relay.stats()["bytes"]


def test_stop_is_clean_with_connections_open_and_chunks_held(echo_port: int) -> None:
    relay = LinkRelay([echo_port]).start()
    try:
        relay.set_conditions(LinkConditions(delay_ms=60_000))  # held for a minute
        with _dial(echo_port) as sock:
            sock.sendall(b"held")
            wait_until(lambda: relay.stats()["chunks"] == 1, SOCKET_TIMEOUT_S, "a chunk held")
            assert [] == relay.stop()
            assert _ended(sock)
        assert [] == relay.stop()  # idempotent
        assert 0 == relay.open_connections()
        with pytest.raises(ConnectionRefusedError):
            _dial(echo_port).close()
    finally:
        relay.stop()


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"delay_ms": -1.0}, "negative"),
        ({"jitter_ms": -1.0}, "negative"),
        ({"stall_ms": (300.0, 200.0)}, "low, high"),
        ({"stall_probability": 1.5}, "within"),
        ({"reset_probability": -0.1}, "within"),
    ],
)
def test_bad_conditions_are_refused(bad: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        LinkConditions(**bad)
