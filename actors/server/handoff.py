"""The sending side of handoff, run by each server (riak_core's handoff sender).

A server holds two kinds of data that belong elsewhere:

* **hints**: writes it accepted for an owner that was down (sloppy quorum);
* **strays**: lists it kept but no longer owns after a ring change.

Every ``interval_s`` it offers a few of them to the proxy as ``Handoff``
messages (at most ``max_inflight`` unanswered, so handoff never floods the
proxy); while offers are accepted, it offers the next ones at once, and when
the proxy says that an owner is back (:meth:`HandoffSender.owner_back`), it
starts a round at once instead of at the next interval. The proxy, the
receiving side, writes them to their owners and answers ``Stored`` once
they are durable there; only then is the local copy dropped, and only if no
write was merged into it meanwhile. A refusal (owner still down) or silence
just leaves the item for a later round.

Owned by the server actor (on its bridge's thread); no I/O of its own besides the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from actors.server.store import ListStore
from protocol import Handoff

__all__ = ["HandoffSender"]


@dataclass(frozen=True)
class _Offer:
    owner: str  # "" for a stray: "whoever owns it now"
    list_id: str
    state: bytes
    sent_at: float


class HandoffSender:
    """Offers hints and strays to the proxy; see the module docstring.

    Args:
        store: the server's store.
        send: sends a message to the proxy (backend channel).
        new_id: message ids.
        node_id: this server.
        interval_s: how often to offer a batch.
        max_inflight: offers awaiting an answer, at most.
        timeout_s: an offer unanswered for this long may be made again.
    """

    def __init__(
        self,
        store: ListStore,
        send: Callable[[Handoff], None],
        new_id: Callable[[], str],
        node_id: str,
        interval_s: float,
        max_inflight: int = 16,
        timeout_s: float = 5.0,
    ) -> None:
        self.store = store
        self.send = send
        self.new_id = new_id
        self.node_id = node_id
        self.interval_s = interval_s
        self.max_inflight = max_inflight
        self.timeout_s = timeout_s
        self.strays: list[str] = []
        self._inflight: dict[str, _Offer] = {}
        self._next = 0.0
        #: when the next round on the interval is due (rounds may come sooner)
        self._round_at = 0.0
        #: owners that refused an offer since the last round on the interval:
        #: still down, so an early round (after an accepted offer) skips them
        self._down: set[str] = set()
        self.handed_over = 0

    def set_strays(self, list_ids: list[str]) -> None:
        """Lists this server no longer owns (after a ring change)."""
        self.strays = list(list_ids)

    def tick(self, now: float) -> None:
        for msg_id, offer in list(self._inflight.items()):
            if now - offer.sent_at > self.timeout_s:
                del self._inflight[msg_id]
                self._again(offer)
        if now < self._next and now < self._round_at:
            return
        self._next = now + self.interval_s
        if now >= self._round_at:
            self._round_at = self._next
            self._down.clear()  # asked again once per interval
        room = self.max_inflight - len(self._inflight)
        if room <= 0:
            return
        busy = {(o.owner, o.list_id) for o in self._inflight.values()}
        for owner, list_id, state in self.store.hints(room + len(busy), self._down):
            if room and (owner, list_id) not in busy:
                self._offer(owner, list_id, state, now)
                room -= 1
        waiting: list[str] = []
        while room and self.strays:
            list_id = self.strays.pop()
            if ("", list_id) in busy:
                waiting.append(list_id)  # still in flight: offered again if refused
                continue
            stray = self.store.get(list_id)
            if stray is not None:
                self._offer("", list_id, stray, now)
                room -= 1
        self.strays.extend(waiting)

    def _offer(self, owner: str, list_id: str, state: bytes, now: float) -> None:
        msg_id = self.new_id()
        self._inflight[msg_id] = _Offer(owner, list_id, state, now)
        self.send(
            Handoff(msg_id=msg_id, sender=self.node_id, owner=owner, list_id=list_id, state=state)
        )

    def accepted(self, reply_to: str) -> str | None:
        """The proxy stored an offer: drop the local copy. Returns the list id
        of a dropped stray (the digest index must forget it), else None."""
        offer = self._inflight.pop(reply_to, None)
        if offer is None:
            return None
        self.handed_over += 1
        self._next = 0.0  # the way is open: offer the next ones on the next tick
        if offer.owner:
            self.store.drop_hint(offer.owner, offer.list_id, offer.state)
            return None
        if self.store.drop_list(offer.list_id, offer.state):
            return offer.list_id
        self._again(offer)  # it changed meanwhile: hand over the newer copy too
        return None

    def refused(self, reply_to: str) -> bool:
        """The proxy could not take an offer now; it stays for a later round."""
        offer = self._inflight.pop(reply_to, None)
        if offer is None:
            return False
        if offer.owner:
            self._down.add(offer.owner)
        self._again(offer)
        return True

    def _again(self, offer: _Offer) -> None:
        # Hints stay in the store and are found again; strays live in a list.
        if not offer.owner and offer.list_id not in self.strays:
            self.strays.append(offer.list_id)

    def owner_back(self) -> None:
        """An owner answers again: offer what waits for it on the next tick."""
        self._next = 0.0
        self._down.clear()

    def pending(self, reply_to: str) -> bool:
        return reply_to in self._inflight

    @property
    def inflight(self) -> int:
        return len(self._inflight)
