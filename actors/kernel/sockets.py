"""What a bridge socket is (:class:`SocketSpec`) and the options it opens with.

Pure description and configuration: no poll loop, no threads. The bridge
(:mod:`actors.kernel.bridge`) opens each spec's socket, calls
:func:`configure` on it, then sets up its monitor, binds and connects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import zmq

from actors.kernel.channels import MAX_BATCH
from actors.kernel.messages import Channel
from actors.kernel.security import CurveClient, CurveServer, apply_curve
from protocol.limits import MAX_FRAME_BYTES

__all__ = ["HEARTBEAT_IVL_MS", "HEARTBEAT_TIMEOUT_MS", "SocketSpec", "configure"]

#: Heartbeats of an authenticated ROUTER (see SocketSpec.peers): a silent
#: connection is dropped after the timeout, freeing its routing id.
HEARTBEAT_IVL_MS: Final = 1000
HEARTBEAT_TIMEOUT_MS: Final = 3000


@dataclass(frozen=True)
class SocketSpec:
    """One network socket of the bridge.

    ``kind`` is a zmq socket type (ROUTER, DEALER, PUB, XPUB, SUB). Bind
    endpoints may use port 0 (``tcp://127.0.0.1:0``); the bound endpoint is
    then in :attr:`Bridge.endpoints` once :meth:`Bridge.wait_ready` returns.
    """

    channel: Channel
    kind: int
    bind: str | None = None
    connect: str | None = None
    identity: bytes | None = None
    subscribe: tuple[bytes, ...] = ()
    max_frame_bytes: int = MAX_FRAME_BYTES
    #: high-water mark in messages, both ways
    hwm: int = 10_000
    #: report connect/disconnect to the actor as LinkEvents
    monitor: bool = False
    #: queue messages only to completed connections (fail fast when offline)
    immediate: bool = False
    #: most frames read from this socket in one poll (a socket of many
    #: untrusted peers reads fewer, so that answers from the others come first)
    max_batch: int = MAX_BATCH
    #: CurveZMQ: this socket's keys, and whom it admits or trusts (None: plaintext)
    curve: CurveServer | CurveClient | None = None
    #: a ROUTER of the cluster's own processes: the authenticated name of a
    #: connection's key (its ZAP User-Id) -> the one routing id it may use.
    #: A frame from any other pairing is dropped as a bad frame, so a peer
    #: is who its key says, not who its routing id claims. ROUTER_HANDOVER
    #: is then off: no connection can take over another's routing id.
    peers: Mapping[str, bytes] | None = None
    #: a ROUTER of authenticated clients: each frame's routing id must begin
    #: with its connection's key (see SocketLink); handover is off, as for ``peers``
    keyed: bool = False
    #: with ``keyed``: allowed keys that may connect too, name -> public key (Z85)
    named: Mapping[str, bytes] | None = None


def configure(sock: zmq.Socket[bytes], spec: SocketSpec) -> None:
    """Set ``spec``'s options on a new socket ``sock``: bounds, routing,
    heartbeats, identity, CurveZMQ, reconnects and subscriptions. Binding,
    connecting and the monitor are the bridge's (the monitor must be set up
    before either). Runs on the thread that owns the socket."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, spec.max_frame_bytes)
    sock.setsockopt(zmq.SNDHWM, spec.hwm)
    sock.setsockopt(zmq.RCVHWM, spec.hwm)
    if spec.kind == zmq.ROUTER:
        # An unroutable reply must be an error, not a silent drop; a peer
        # that reconnects under the same id (a restarted server) takes over.
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if spec.peers is None and not spec.keyed:
            sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        else:
            # Without handover a stale connection (a peer gone without a
            # FIN) would hold its routing id: heartbeats drop it.
            sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    if spec.identity is not None:
        sock.setsockopt(zmq.ROUTING_ID, spec.identity)
    apply_curve(sock, spec.curve)
    if spec.immediate:
        sock.setsockopt(zmq.IMMEDIATE, 1)
    if spec.kind in (zmq.DEALER, zmq.SUB):
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    for topic in spec.subscribe:
        sock.setsockopt(zmq.SUBSCRIBE, topic)
