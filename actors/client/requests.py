"""A client session's requests: one round trip to the cluster, and the write.

:class:`RequestsMixin` is the part of :class:`~actors.client.session.ClientSession`
that sends a request through its :class:`~actors.client.link.ClusterLink` and
maps the answer: a new trace id per request, the attempts and the errors that
say why nothing was done (:class:`ClusterUnreachable`, :class:`ClusterUnavailable`,
:class:`ListDeleted`, which also removes the local copy). Any answer from the
proxy starts the background push of other lists' pending edits
(:mod:`actors.client.catchup`).

It holds no state of its own: the attributes it declares are the session's,
set by :meth:`ClientSession.__init__ <actors.client.session.ClientSession>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.client.catchup import Catchup
from actors.client.link import (
    ClusterLink,
    ClusterUnavailable,
    ClusterUnreachable,
    ListDeleted,
    Refused,
)
from actors.client.store import ClientStore
from crdt import ShoppingList
from logs import Tracer, new_trace_id
from protocol import Message, Put, Saved, StatusReply, StatusRequest

__all__ = ["RequestsMixin"]


class RequestsMixin:
    """Requests and writes of a :class:`~actors.client.session.ClientSession`."""

    # The session's attributes this part uses (set by ClientSession.__init__).
    client_id: str
    attempts: int
    tracer: Tracer
    trace: bool
    last_trace_id: str
    deleted: set[str]
    store: ClientStore
    catchup: Catchup
    _catchup_off: bool
    _link: ClusterLink
    #: the session's :meth:`~actors.client.session.ClientSession.pull`
    pull: Callable[[str], ShoppingList]

    @property
    def online(self) -> bool:
        return self._link.online

    def status(self) -> StatusReply:
        reply = self._request(
            lambda mid, tid, traced: StatusRequest(
                msg_id=mid, trace_id=tid, sender=self.client_id, traced=traced
            )
        )
        if not isinstance(reply, StatusReply):
            raise ClusterUnavailable(f"unexpected answer {type(reply).__name__}")
        return reply

    def _envelope(self, msg_id: str, trace_id: str, traced: bool) -> dict[str, Any]:
        return {"msg_id": msg_id, "trace_id": trace_id, "sender": self.client_id, "traced": traced}

    def _put(
        self, list_id: str, blob: bytes, attempts: int, retry_unconnected: bool = True
    ) -> Saved:
        """Write ``blob``. A write refused as ``unobserved`` (it removes what
        the proxy has no record of showing this client: it restarted, or
        forgot) is sent once more after a pull, which shows it."""
        try:
            return self._put_once(list_id, blob, attempts, retry_unconnected)
        except Refused as exc:
            if exc.kind != "unobserved":
                raise
        self.pull(list_id)
        return self._put_once(list_id, blob, attempts, retry_unconnected)

    def _put_once(self, list_id: str, blob: bytes, attempts: int, retry_unconnected: bool) -> Saved:
        reply = self._request(
            self._put_builder(list_id, blob),
            attempts=attempts,
            retry_unconnected=retry_unconnected,
            about=list_id,
        )
        if not isinstance(reply, Saved):
            raise ClusterUnavailable(f"unexpected answer {type(reply).__name__}")
        return reply

    def _put_builder(self, list_id: str, blob: bytes) -> Callable[[str, str, bool], Message]:
        return lambda mid, tid, traced: Put(
            msg_id=mid,
            trace_id=tid,
            sender=self.client_id,
            traced=traced,
            list_id=list_id,
            state=blob,
        )

    def _request(
        self,
        build: Callable[[str, str, bool], Message],
        attempts: int | None = None,
        retry_unconnected: bool = True,
        about: str | None = None,
    ) -> Message:
        """Send a request and wait for its answer (see :meth:`ClusterLink.request
        <actors.client.link.ClusterLink.request>`), under a new trace id.

        Any answer, even a refusal, starts the background push of the pending
        edits of other lists than ``about`` (see :mod:`actors.client.catchup`).

        Raises:
            ClusterUnreachable: no answer after every attempt.
            ListDeleted: the list was deleted for everyone (its local copy now too).
            ClusterUnavailable: the proxy answered with another error.
        """
        if not self.online:
            raise ClusterUnreachable("no cluster configured")
        trace_id = new_trace_id()
        traced = self.tracer.sample(forced=self.trace)
        self.last_trace_id = trace_id
        try:
            reply = self._link.request(
                build, trace_id, traced, attempts or self.attempts, retry_unconnected
            )
        except ListDeleted as exc:
            if exc.list_id:
                self.store.delete(exc.list_id)
                self.deleted.add(exc.list_id)
            self._contact(trace_id, about)  # it answered, if only to refuse
            raise
        except ClusterUnavailable:
            self._contact(trace_id, about)  # it answered, if only to refuse
            raise
        self._contact(trace_id, about)
        return reply

    def _contact(self, trace_id: str, about: str | None) -> None:
        """The cluster answered: push the other lists' pending edits in the background."""
        if self._catchup_off:
            return
        self.catchup.start(self.store, self._link, self._put_builder, trace_id, skip=about)
