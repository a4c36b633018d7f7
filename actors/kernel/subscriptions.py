"""Which topics of an XPUB socket someone subscribes to.

The proxy publishes updates on an XPUB socket, which passes its subscribers'
subscriptions up as frames: ``\\x01topic`` subscribes, ``\\x00topic``
unsubscribes. Reading them tells the bridge whether a topic has a
subscriber (:meth:`actors.kernel.bridge.Bridge.has_subscriber`), so that a
write to a list nobody watches costs no encode and no send.
"""

from __future__ import annotations

import zmq

from actors.kernel.channels import MAX_BATCH, NOBLOCK

__all__ = ["Subscriptions"]


class Subscriptions:
    """The topics of one XPUB socket with at least one subscriber.

    :meth:`read` runs in the bridge thread, which alone writes :attr:`topics`;
    any thread may test a topic's membership (a set lookup is atomic).
    """

    __slots__ = ("_sock", "topics")

    def __init__(self, sock: zmq.Socket[bytes]) -> None:
        self._sock = sock
        #: the subscribed topics; read from any thread
        self.topics: set[bytes] = set()

    def read(self) -> None:
        """Apply the subscription events the socket holds, up to
        :data:`~actors.kernel.channels.MAX_BATCH`. Bridge thread."""
        sock, topics = self._sock, self.topics
        # Events are rare (a client watching a list), so this loop takes the
        # plain way, not SocketLink.read's cheaper one.
        for _ in range(MAX_BATCH):
            try:
                # An event is one frame; whatever follows it is no event.
                event = sock.recv_multipart(NOBLOCK)[0]
            except zmq.Again:
                return
            # XPUB passes on the first subscription to a topic and the last
            # unsubscription (also when a subscriber disconnects): a set suffices.
            if not event:
                continue
            if event[0] == 1:
                topics.add(event[1:])
            elif event[0] == 0:
                topics.discard(event[1:])
