"""One channel of a bridge: the link that reads and writes its socket.

A channel is one network socket of a process, named by
:data:`~actors.kernel.messages.Channel`; the bridge
(:mod:`actors.kernel.bridge`) reaches each through a :class:`Link`. The plain
link, :class:`SocketLink`, decodes what its socket receives and sends what
actors encoded; :class:`actors.kernel.faults.FaultyLink` wraps one to drop,
delay or duplicate messages. The bridge picks the link once, when it opens
the socket, so a message pays for fault injection only where faults may be
injected.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, cast

import zmq

from actors.kernel.messages import Channel, Delivery, SendFailure, Undeliverable
from actors.kernel.security import CLIENT_PREFIX, KEY_CHARS
from protocol import ProtocolError, decode

__all__ = ["MAX_BATCH", "Link", "SocketLink"]

#: Most frames read from one socket in one poll; keeps one busy socket from
#: starving the others and bounds the size of an Inbound batch.
MAX_BATCH: Final = 512
# Flags as plain ints: pyzmq's send_multipart/recv_multipart combine enum
# flags in Python on every frame, which made a send 3.8 µs instead of 1.1.
NOBLOCK: Final = int(zmq.NOBLOCK)
SNDMORE_NOBLOCK: Final = int(zmq.SNDMORE | zmq.NOBLOCK)
RCVMORE: Final = int(zmq.RCVMORE)
EVENTS: Final = int(zmq.EVENTS)
POLLIN: Final = int(zmq.POLLIN)


class Link(Protocol):
    """What the bridge does on one channel. Every method runs in the bridge thread."""

    @property
    def channel(self) -> Channel: ...

    def read(self, batch: list[Delivery]) -> None:
        """Append to ``batch`` what the socket holds, up to :data:`MAX_BATCH` frames
        (fewer if the socket's spec says so)."""
        ...

    def send(self, peer: bytes, payload: bytes) -> None:
        """Send one encoded message, to ``peer`` (a routing id or a topic) where
        the socket routes; a failure reaches the actor as an ``Undeliverable``."""
        ...


class SocketLink:
    """The plain :class:`Link` of one socket. Bridge thread only.

    Args:
        channel: the socket's name.
        sock: the socket, configured and bound or connected.
        kind: its zmq type (ROUTER, DEALER, PUB, XPUB, SUB).
        max_frame_bytes: the largest payload :func:`protocol.decode` accepts.
        deliver: tells the actor an ``Undeliverable``.
        bad_frame: handles a frame that does not decode: ``(link, peer, reason)``.
        max_batch: most frames one :meth:`read` takes (at most :data:`MAX_BATCH`).
        peers: for a ROUTER of authenticated peers: the name of a key (the
            frame's ZAP ``User-Id``) -> the routing id it may use; a frame of
            any other pairing goes to ``bad_frame``. ``None``: not checked.
        keyed: for a ROUTER of authenticated clients: a frame's routing id
            must begin with the Z85 public key of its connection (see
            :func:`actors.kernel.security.client_routing_id`); a frame of any
            other goes to ``bad_frame``. The routing id then names the key.
        named: with ``keyed``, the allowed keys that may connect too (the
            gatekeeper names them): name -> public key (Z85).
    """

    __slots__ = (
        "_bad_frame",
        "_deliver",
        "_keyed",
        "_max_batch",
        "_max_bytes",
        "_named",
        "_peers",
        "_routed",
        "channel",
        "kind",
        "sock",
    )

    def __init__(
        self,
        channel: Channel,
        sock: zmq.Socket[bytes],
        kind: int,
        max_frame_bytes: int,
        deliver: Callable[[Any], None],
        bad_frame: Callable[[SocketLink, bytes, str], None],
        max_batch: int = MAX_BATCH,
        peers: Mapping[str, bytes] | None = None,
        keyed: bool = False,
        named: Mapping[str, bytes] | None = None,
    ) -> None:
        self.channel: Channel = channel
        self.sock = sock
        self.kind = kind
        self._max_bytes = max_frame_bytes
        # Decided once: the per-message test is then one attribute, not a tuple search.
        self._routed = kind in (zmq.ROUTER, zmq.PUB, zmq.XPUB)
        self._deliver = deliver
        self._bad_frame = bad_frame
        self._max_batch = min(max_batch, MAX_BATCH)
        self._peers = peers
        self._keyed = keyed
        self._named = named or {}

    def read(self, batch: list[Delivery]) -> None:
        """Decode what arrived into ``batch``; see :meth:`Link.read`.

        A frame that does not decode goes to ``bad_frame`` and never into
        the batch.
        """
        if self._peers is not None or self._keyed:
            self._read_authenticated(batch)
            return
        sock, channel, kind, max_bytes = self.sock, self.channel, self.kind, self._max_bytes
        for n in range(self._max_batch):
            # Asking whether more is queued is cheaper than the zmq.Again a
            # read of an empty socket raises, which most polls would end on.
            if n and not cast(int, sock.getsockopt(EVENTS)) & POLLIN:
                return
            try:
                frames = [sock.recv(NOBLOCK)]
            except zmq.Again:
                return
            # The rest of a multipart message is already here (zmq delivers
            # messages whole), so these reads cannot block.
            while sock.getsockopt(RCVMORE):
                frames.append(sock.recv(NOBLOCK))
            if kind == zmq.ROUTER:
                peer, payload = frames[0], frames[1:]
            elif kind == zmq.SUB:
                peer, payload = b"", frames[1:]
            else:
                peer, payload = b"", frames
            if len(payload) != 1:
                self._bad_frame(self, peer, f"expected 1 payload frame, got {len(payload)}")
                continue
            try:
                msg = decode(payload[0], max_bytes=max_bytes)
            except ProtocolError as exc:
                self._bad_frame(self, peer, str(exc))
                continue
            batch.append(Delivery(channel, peer, msg))

    def _read_authenticated(self, batch: list[Delivery]) -> None:
        """:meth:`read` of a ROUTER whose peers are known by their keys.

        Frames are read as zmq frames (not bytes) for their ``User-Id``: the
        name the gatekeeper gave the connection's key. A frame whose routing
        id is not one that key may use is dropped as a bad frame.
        """
        sock, channel, max_bytes, peers = self.sock, self.channel, self._max_bytes, self._peers
        for n in range(self._max_batch):
            if n and not cast(int, sock.getsockopt(EVENTS)) & POLLIN:
                return
            try:
                frames = sock.recv_multipart(NOBLOCK, copy=False)
            except zmq.Again:
                return
            peer = frames[0].bytes
            if len(frames) != 2:
                self._bad_frame(self, peer, f"expected 1 payload frame, got {len(frames) - 1}")
                continue
            user = str(frames[1].get("User-Id"))
            if peers is not None:
                authentic = peers.get(user) == peer
            elif user.startswith(CLIENT_PREFIX):
                authentic = (
                    len(peer) > KEY_CHARS
                    and peer[:KEY_CHARS] == user[len(CLIENT_PREFIX) :].encode()
                )
            else:
                authentic = len(peer) > KEY_CHARS and self._named.get(user) == peer[:KEY_CHARS]
            if not authentic:
                self._bad_frame(self, peer, f"routing id {peer[:48]!r} is not one of key {user}")
                continue
            try:
                msg = decode(frames[1].bytes, max_bytes=max_bytes)
            except ProtocolError as exc:
                self._bad_frame(self, peer, str(exc))
                continue
            batch.append(Delivery(channel, peer, msg))

    def send(self, peer: bytes, payload: bytes) -> None:
        """Send without blocking; see :meth:`Link.send`.

        Raises:
            zmq.ZMQError: a failure other than an unroutable peer or a full queue.
        """
        sock = self.sock
        try:
            if self._routed:
                # An atomic pair: zmq queues nothing until the last frame.
                sock.send(peer, SNDMORE_NOBLOCK)
            sock.send(payload, NOBLOCK)
        except zmq.ZMQError as exc:
            if exc.errno == errno.EHOSTUNREACH:
                reason: SendFailure = "unreachable"
            elif exc.errno == errno.EAGAIN:
                reason = "queue full or not connected"
            else:
                raise
            try:
                msg = decode(payload)
            except ProtocolError:  # we encoded it ourselves; cannot happen
                return
            self._deliver(Undeliverable(self.channel, peer, msg, reason))
