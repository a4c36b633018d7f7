"""The client's actor fails a request the bridge could not send at once,
instead of leaving it to wait for the session's time-out."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
import pytest
import zmq

from actors.client.actor import ClientActor, NotSent, Request
from actors.kernel import Bridge, SocketSpec
from protocol import Get, Message
from tests.actors.rig import DEADLINE_S, LIST_ID, Rig

pytestmark = pytest.mark.timeout(30)


def test_a_request_the_bridge_cannot_send_fails_at_once(rig: Rig, tmp_path: Path) -> None:
    """With no proxy connected, a client's request is refused by the socket
    (``IMMEDIATE``): its future fails with ``NotSent`` at once, and the
    session tries again when the link is up, not after its time-out."""
    spec = SocketSpec(
        "frontend", zmq.DEALER, connect="tcp://127.0.0.1:9", monitor=True, immediate=True
    )
    holder: dict[str, pykka.ActorRef[Any]] = {}
    bridge = Bridge(rig.ctx, [spec], lambda: holder.get("ref"), "client", tick_interval_s=0.02)
    bridge.start()
    try:
        bridge.wait_ready()
        ref = ClientActor.start(bridge, "alice", tmp_path, threading.Event(), None)
        holder["ref"] = ref
        future: pykka.Future[Message] = pykka.ThreadingFuture()
        ref.tell(Request(Get(msg_id="m1", sender="alice", list_id=LIST_ID), future))
        with pytest.raises(NotSent):
            future.get(timeout=DEADLINE_S)
        ref.stop(block=True, timeout=DEADLINE_S)
    finally:
        bridge.stop()
