"""The client's actor: it sends a session's requests and matches their replies.

:class:`ClientActor` runs on the client's bridge thread (which hosts it, see
:mod:`actors.kernel.runtime`); :class:`actors.client.session.ClientSession` talks to it from
the user's thread with ``tell`` only, and waits on the future it passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pykka
from typing_extensions import override

import logs
from actors.client.store import ClientStore
from actors.kernel import Bridge, BridgedActor, Delivery, LinkEvent, MsgIds, Undeliverable
from crdt import ShoppingList
from protocol import ErrorReply, Message, ProtocolError, Update, Watch, Watching
from protocol.sharing import MAX_WATCHED, WATCH_LAPSE_S

__all__ = [
    "ClientActor",
    "Forget",
    "ListChange",
    "NotSent",
    "Request",
    "Subscribe",
    "UpdateCallback",
]

log = logs.get_logger("client")

#: A watch is sent again this often, well within the proxy's lapse time.
RENEW_S: Final = WATCH_LAPSE_S / 3
#: A watch the proxy answered with an error (a restarted proxy whose ring is
#: not up yet cannot look its lists up) is sent again this soon.
WATCH_RETRY_S: Final = 0.5


class NotSent(Exception):
    """A request the bridge could not send; the session tries it again."""


@dataclass(frozen=True, slots=True)
class Request:
    """Send ``msg``; its reply sets ``future``."""

    msg: Message
    future: pykka.Future[Message]


@dataclass(frozen=True, slots=True)
class Forget:
    """The session stopped waiting for the reply to ``msg_id``."""

    msg_id: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Receive the updates of these lists too (the proxy sends those the
    client's key may read)."""

    list_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListChange:
    """A list that a published update changed here.

    ``before`` is the local copy before the update was merged in, ``state``
    after; ``writer`` names the write's sender as the proxy does: the client
    id it gave itself, then the first characters of the key it was
    authenticated with (see :func:`actors.proxy.responder.writer_name`).
    """

    before: ShoppingList
    state: ShoppingList
    writer: str


#: Called in the client's bridge thread (which hosts its actor) with each
#: change a published update made to a list held here.
UpdateCallback = Callable[[ListChange], None]


class ClientActor(BridgedActor):
    """Matches replies to waiting futures and applies published updates."""

    def __init__(
        self,
        bridge: Bridge,
        client_id: str,
        store_dir: Path,
        link_up: threading.Event,
        on_update: UpdateCallback | None,
    ) -> None:
        super().__init__(bridge, client_id)
        self.store_dir = store_dir
        self.link_up = link_up
        self.on_update = on_update
        self.waiting: dict[str, pykka.Future[Message]] = {}
        #: the lists whose updates this client asked for
        self.watched: dict[str, None] = {}
        self.ids = MsgIds(client_id)
        self._renew_at = float("inf")
        self._watch_id = ""

    @override
    def started(self) -> None:
        self.store: ClientStore | None = None  # opened on the first update

    @override
    def stopping(self) -> None:
        if self.store is not None:
            self.store.close()

    @override
    def on_command(self, message: Any) -> Any:
        if isinstance(message, Request):
            self.waiting[message.msg.msg_id] = message.future
            self.outbox.send("frontend", b"", message.msg)
        elif isinstance(message, Forget):
            self.waiting.pop(message.msg_id, None)
        elif isinstance(message, Subscribe):
            before = len(self.watched)
            for list_id in message.list_ids:
                if len(self.watched) < MAX_WATCHED:
                    self.watched[list_id] = None
            if len(self.watched) != before:
                self._send_watch(time.monotonic())
        return None

    def _send_watch(self, now: float) -> None:
        """Tell the proxy the whole set; it replaces the one sent before."""
        if not self.watched or not self.link_up.is_set():
            return
        watch = Watch(msg_id=self.ids(), sender=self.node_id, list_ids=list(self.watched))
        self._watch_id = watch.msg_id
        self.outbox.send("frontend", b"", watch)
        self._renew_at = now + RENEW_S

    @override
    def on_tick(self, now: float) -> None:
        if now >= self._renew_at:
            self._send_watch(now)

    @override
    def on_undeliverable(self, event: Undeliverable) -> None:
        # The request never left (no proxy connected yet, or its queue is
        # full): fail it now, so that the session tries again as soon as the
        # link is up, instead of after its whole time-out.
        future = self.waiting.pop(event.msg.msg_id, None)
        if future is not None:
            future.set_exception(exc_info=(NotSent, NotSent(event.reason), None))

    @override
    def on_link(self, event: LinkEvent) -> None:
        if event.channel == "frontend":
            if event.connected:
                self.link_up.set()
                # A proxy that restarted, or a new connection, knows no watch.
                self._send_watch(time.monotonic())
            else:
                self.link_up.clear()

    @override
    def handle(self, delivery: Delivery) -> None:
        msg = delivery.msg
        if isinstance(msg, Update):
            self._apply_update(msg)
            return
        reply_to = getattr(msg, "reply_to", "")
        future = self.waiting.pop(reply_to, None)
        if future is not None:
            future.set(msg)
        elif isinstance(msg, Watching):
            if msg.refused:
                log.info("client.watch_refused", lists=len(msg.refused))
        elif isinstance(msg, ErrorReply):
            log.warning("client.error_from_proxy", code=msg.code, reason=msg.reason)
            if reply_to and reply_to == self._watch_id:
                self._renew_at = min(self._renew_at, time.monotonic() + WATCH_RETRY_S)

    def _apply_update(self, msg: Update) -> None:
        try:
            state = ShoppingList.decode(msg.state)
        except ProtocolError as exc:
            log.warning("client.bad_update", list_id=msg.list_id, error=str(exc))
            return
        if self.store is None:
            self.store = ClientStore(self.store_dir, self.node_id)
        # Only lists we hold: a subscription can outlive a local delete.
        before = self.store.load(msg.list_id)
        if before is None:
            return
        merged, changed = self.store.merge_remote(state)
        if changed and self.on_update is not None:
            self.on_update(ListChange(before, merged, msg.sender))
