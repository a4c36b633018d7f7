"""A connect-side socket with ``monitor`` reports its link up only once the
ZMTP handshake is done, so that a request sent on that report finds a peer.

At ``EVENT_CONNECTED`` the TCP link is up but the handshake may not be: a
send with ``IMMEDIATE`` then still finds no peer, and a request dropped that
way used to wait for the client's whole time-out.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pykka
import pytest
import zmq

from actors.kernel import Bridge, BridgedActor, CrashHandler, LinkEvent, SocketSpec
from tests.actors.rig import DEADLINE_S, Rig, wait_on

pytestmark = pytest.mark.timeout(30)


class Seen:
    """The link events and ticks a :class:`LinkWatcher` saw; read from the test thread."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.links: list[bool] = []
        self.ticks = 0


class LinkWatcher(BridgedActor):
    """Records the link events and the ticks it sees."""

    def __init__(self, bridge: Bridge, seen: Seen, on_crash: CrashHandler | None = None) -> None:
        super().__init__(bridge, "watcher", on_crash)
        self.seen = seen

    def on_link(self, event: LinkEvent) -> None:
        with self.seen.cond:
            self.seen.links.append(event.connected)
            self.seen.cond.notify_all()

    def on_tick(self, now: float) -> None:
        with self.seen.cond:
            self.seen.ticks += 1
            self.seen.cond.notify_all()


def test_a_tcp_peer_that_never_handshakes_is_not_a_link(rig: Rig) -> None:
    """A TCP accept alone is no link; a real ZeroMQ peer on the same port is."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    spec = SocketSpec("frontend", zmq.DEALER, connect=endpoint, monitor=True, immediate=True)
    holder: dict[str, pykka.ActorRef[Any]] = {}
    bridge = Bridge(rig.ctx, [spec], lambda: holder.get("ref"), "links", tick_interval_s=0.02)
    bridge.start()
    router: zmq.Socket[bytes] | None = None
    try:
        bridge.wait_ready()
        watcher = Seen()
        ref = LinkWatcher.start(bridge, watcher)
        holder["ref"] = ref
        listener.settimeout(DEADLINE_S)
        conn, _ = listener.accept()  # the TCP link is up: EVENT_CONNECTED has fired
        with watcher.cond:
            seen = watcher.ticks
        # Rounds of the bridge after the connect: a report would have come by now.
        wait_on(watcher.cond, lambda: watcher.ticks >= seen + 5, "five ticks")
        assert [] == watcher.links
        conn.close()
        listener.close()
        router = rig.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(endpoint)
        wait_on(watcher.cond, lambda: True in watcher.links, "the link after the handshake")
        ref.stop(block=True, timeout=DEADLINE_S)
    finally:
        listener.close()
        if router is not None:
            router.close(linger=0)
        bridge.stop()
