"""Pending edits pushed in the background of any command that reached the cluster.

An edit made offline stays pending in the store until a push of its list is
saved. :class:`Catchup` sends the pending deltas of other lists as soon as a
command has had an answer from the proxy (any answer: the cluster is there),
without waiting for them: the command goes on, and its session collects the
answers when it closes, waiting at most ``budget_s`` for the last. A delta
the cluster saved is cleared (unless it grew meanwhile, see
:meth:`ClientStore.clear_pending <actors.client.store.ClientStore.clear_pending>`);
one refused or unanswered stays pending for the next contact. At most
``max_lists`` lists go out per round, so that a client with many lists
offline does not flood the proxy in one command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pykka

import logs
from actors.client.actor import NotSent
from actors.client.link import ClusterLink
from actors.client.store import ClientStore
from protocol import Message, Saved

__all__ = ["Catchup"]

log = logs.get_logger("client")

#: Lists pushed per round, and how long a session's close waits for their answers.
MAX_LISTS: Final = 32
BUDGET_S: Final = 1.0

#: Builds a Put of ``(list_id, delta)`` from the message id, trace id and ``traced``.
PutBuilder = Callable[[str, bytes], Callable[[str, str, bool], Message]]


@dataclass(frozen=True, slots=True)
class _InFlight:
    list_id: str
    delta: bytes
    msg_id: str
    future: pykka.Future[Message]
    deadline: float  # time.monotonic()


class Catchup:
    """The background pushes of one session; see the module docstring."""

    def __init__(self, max_lists: int = MAX_LISTS, budget_s: float = BUDGET_S) -> None:
        self.max_lists = max_lists
        self.budget_s = budget_s
        self._in_flight: list[_InFlight] = []
        #: lists whose background push the cluster saved, in this session
        self.saved: list[str] = []

    def start(
        self,
        store: ClientStore,
        link: ClusterLink,
        put: PutBuilder,
        trace_id: str,
        skip: str | None = None,
    ) -> int:
        """Send the pending deltas (of lists other than ``skip``) unless a round
        is still out; returns how many were sent."""
        self.collect(store, link, wait=False)
        if self._in_flight:
            return 0
        deadline = time.monotonic() + self.budget_s
        for list_id, delta in store.pending():
            if list_id == skip:
                continue
            if len(self._in_flight) >= self.max_lists:
                break
            sent = link.send(put(list_id, delta), trace_id, False)
            if sent is None:
                break  # the link went down: the next contact tries again
            self._in_flight.append(_InFlight(list_id, delta, sent[0], sent[1], deadline))
        if self._in_flight:
            log.info("client.catchup_sent", lists=len(self._in_flight))
        return len(self._in_flight)

    def collect(self, store: ClientStore, link: ClusterLink, *, wait: bool) -> None:
        """Clear what the cluster saved; with ``wait``, wait for each answer up
        to its round's deadline. What is still unanswered is forgotten."""
        still: list[_InFlight] = []
        for sent in self._in_flight:
            left_s = sent.deadline - time.monotonic() if wait else 0.0
            try:
                reply = sent.future.get(timeout=max(0.0, left_s))
            except pykka.Timeout:
                if wait or time.monotonic() >= sent.deadline:
                    link.forget(sent.msg_id)
                else:
                    still.append(sent)
                continue
            except NotSent:  # the link went down: it stays pending
                continue
            if isinstance(reply, Saved):
                store.clear_pending(sent.list_id, sent.delta)
                self.saved.append(sent.list_id)
        self._in_flight = still
