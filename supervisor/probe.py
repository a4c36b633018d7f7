"""One synchronous request to the proxy, for operator tools and readiness checks.

Used by ``run.py status`` and by ``run.py`` while it waits for the cluster to
come up. The socket lives and dies in the calling thread; the client actor
is not needed for a single question.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import zmq

from actors.kernel import CurveClient, apply_curve
from protocol import ErrorReply, Message, ProtocolError, StatusReply, StatusRequest, decode, encode
from protocol.limits import MAX_FRAME_BYTES
from supervisor.keys import KeysMissing
from supervisor.topology import TopologyError

__all__ = ["ProxyUnreachable", "ask_proxy", "fetch_status", "wait_for_ring"]


class ProxyUnreachable(Exception):
    """The proxy did not answer in time."""


def ask_proxy(
    endpoint: str, msg: Message, timeout_s: float = 2.0, curve: CurveClient | None = None
) -> Message:
    """Send ``msg`` to the proxy's frontend and return its answer; over
    CurveZMQ with ``curve`` (a secured cluster refuses plaintext).

    Raises:
        ProxyUnreachable: no (valid) answer within ``timeout_s``.
    """
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
    try:
        apply_curve(sock, curve)
        sock.connect(endpoint)
        sock.send(encode(msg))
        if not sock.poll(int(timeout_s * 1000)):
            raise ProxyUnreachable(f"no answer from {endpoint} in {timeout_s}s")
        try:
            return decode(sock.recv())
        except ProtocolError as exc:
            raise ProxyUnreachable(f"bad answer from {endpoint}: {exc}") from None
    finally:
        sock.close(linger=0)


def fetch_status(
    endpoint: str, timeout_s: float = 2.0, curve: CurveClient | None = None
) -> StatusReply:
    request = StatusRequest(msg_id=f"status.{os.getpid()}.{time.monotonic_ns()}", sender="status")
    reply = ask_proxy(endpoint, request, timeout_s, curve)
    if isinstance(reply, ErrorReply):
        # "forbidden": status is for the cluster's operators (a supervisor's key).
        raise ProxyUnreachable(f"the proxy refused: {reply.code}: {reply.reason}")
    if not isinstance(reply, StatusReply):
        raise ProxyUnreachable(f"unexpected answer {type(reply).__name__}")
    return reply


def wait_for_ring(
    endpoint: Callable[[], str],
    servers: int,
    deadline_s: float,
    running: Callable[[], bool] = lambda: True,
    curve: Callable[[], CurveClient | None] = lambda: None,
) -> StatusReply:
    """Wait until ``servers`` ring members answer probes, or raise at the deadline.

    ``endpoint`` and ``curve`` are asked again at every try (the proxy's
    port, or its key file, may not be there yet); ``running`` false means
    the cluster died: stop waiting.
    """
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end and running():
        try:
            timeout_s = min(1.0, max(0.1, end - time.monotonic()))
            status = fetch_status(endpoint(), timeout_s, curve())
        except (ProxyUnreachable, TopologyError, KeysMissing) as exc:
            last = exc
            time.sleep(0.1)  # the proxy is not up yet; nothing to wait on but time
            continue
        live = [m for m in status.members if m.alive and not m.suspect]
        if len(live) >= servers:
            return status
        time.sleep(0.1)
    raise ProxyUnreachable(
        f"the ring did not reach {servers} live servers in {deadline_s}s: {last}"
    )
