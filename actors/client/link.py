"""A client session's link to the cluster: its bridge and actor, and requests with retries.

:class:`ClusterLink` opens and closes the session's connection to the
proxy: a bridge, which owns the sockets and hosts a :class:`ClientActor`.
Its methods run on the session's thread, which never touches a socket: it
``tell``-s the actor and waits for the reply on a future (it is the user's
thread, not a request path inside the cluster); the actor only ``tell``-s
and never blocks.

:meth:`ClusterLink.request` is retried by tenacity: each attempt first
waits for the connection (``connect_timeout_s``) and then for the reply
(``client_timeout_s``). An answer that the cluster is short of replicas or
busy (``unavailable``, ``overloaded``, ``internal``) is tried again; what it
fails with says why (:class:`ClusterUnreachable`,
:class:`ClusterUnavailable`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka
import tenacity
import zmq

import logs
from actors.client.actor import ClientActor, Forget, NotSent, Request, Subscribe, UpdateCallback
from actors.kernel import Bridge, CurveClient, MsgIds, SocketSpec
from logs import Tracer
from protocol import ErrorReply, Message

__all__ = ["ClusterLink", "ClusterUnavailable", "ClusterUnreachable", "Forbidden", "Refused"]

log = logs.get_logger("client")


class ClusterUnreachable(Exception):
    """No answer from the proxy: not connected, or every attempt timed out."""


class ClusterUnavailable(Exception):
    """The proxy answered, but could not reach enough replicas (or refused)."""


class Refused(ClusterUnavailable):
    """The replicas refused a write for what it claims (see
    :mod:`crdt.validation`); ``kind`` names the rule (e.g. ``unobserved``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused: {reason}")
        self.kind = reason.split(":", 1)[0]


class Forbidden(ClusterUnavailable):
    """This client's key may not do that with the list, or there is no such list
    (the cluster does not say which)."""


class _AttemptFailed(Exception):
    pass


class ClusterLink:
    """A session's connection to the proxy; see the module docstring.

    Args:
        client_id: the client's id (its actor's, and its messages' sender).
        store_dir: the client's own folder (its actor opens the store there).
        endpoints: the proxy's endpoints (``frontend`` and ``publish``), or
            ``None``: the link never opens.
        client_timeout_s: how long an attempt waits for its reply.
        connect_timeout_s: how long an attempt waits for the connection.
        tracer: traces the requests and their replies.
        subscribe: receive published updates (see :meth:`watch`).
        on_update: called (in the bridge thread) with each list an update changed.
        curve: CurveZMQ keys for both sockets (a secured cluster refuses
            plaintext); ``None``: plaintext.
    """

    def __init__(
        self,
        client_id: str,
        store_dir: Path,
        endpoints: dict[str, str] | None,
        *,
        client_timeout_s: float,
        connect_timeout_s: float,
        tracer: Tracer,
        subscribe: bool,
        on_update: UpdateCallback | None,
        curve: CurveClient | None = None,
    ) -> None:
        self.client_id = client_id
        self.curve = curve
        self.store_dir = store_dir
        self.endpoints = endpoints
        self.client_timeout_s = client_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.tracer = tracer
        self.subscribe = subscribe
        self.on_update = on_update
        self._ids = MsgIds(client_id)
        self._link_up = threading.Event()
        self._zmq: zmq.Context[Any] | None = None
        self._bridge: Bridge | None = None
        self._actor: pykka.ActorRef[Any] | None = None

    def open(self) -> bool:
        """Connect; ``False`` (and nothing done) when offline by configuration, or already open."""
        if self.endpoints is None or self._actor is not None:
            return False
        self._zmq = zmq.Context()
        specs = [
            SocketSpec(
                "frontend",
                zmq.DEALER,
                connect=self.endpoints["frontend"],
                monitor=True,
                immediate=True,
                hwm=10_000,
                curve=self.curve,
            )
        ]
        holder: dict[str, pykka.ActorRef[Any]] = {}
        self._bridge = Bridge(self._zmq, specs, lambda: holder.get("actor"), self.client_id)
        self._bridge.start()
        self._bridge.wait_ready()
        self._actor = ClientActor.start(
            self._bridge,
            self.client_id,
            self.store_dir,
            self._link_up,
            self.on_update,
        )
        holder["actor"] = self._actor
        return True

    def close(self) -> None:
        if self._actor is not None:
            self._actor.stop(block=True, timeout=5.0)
            self._actor = None
        stuck = False
        if self._bridge is not None:
            self._bridge.stop()
            # A handler stuck on the bridge thread keeps its sockets open, and
            # term() would wait for them: leave the context to the process's end.
            stuck = self._bridge.is_alive()
            self._bridge = None
        if self._zmq is not None:
            if stuck:
                log.error("client.stuck_at_close", client=self.client_id)
            else:
                self._zmq.term()
            self._zmq = None

    @property
    def online(self) -> bool:
        return self._actor is not None

    @property
    def linked(self) -> bool:
        """Whether the proxy is connected now (never waits)."""
        return self._link_up.is_set()

    def connected(self) -> bool:
        """Whether the proxy is connected, waiting up to ``connect_timeout_s`` for it."""
        return self._link_up.wait(self.connect_timeout_s)

    def watch(self, list_ids: list[str]) -> None:
        """Subscribe to published updates of these lists."""
        if self._actor is not None and self.subscribe and list_ids:
            self._actor.tell(Subscribe(tuple(list_ids)))

    def request(
        self,
        build: Callable[[str, str, bool], Message],
        trace_id: str,
        traced: bool,
        attempts: int,
        retry_unconnected: bool = True,
    ) -> Message:
        """Send a request and wait for its answer, retrying with tenacity.

        ``build`` makes each attempt's message from its id, ``trace_id`` and
        ``traced``. With ``retry_unconnected`` false, an attempt that finds
        no connection to the proxy (after ``connect_timeout_s``) is the last.

        Raises:
            ClusterUnreachable: no answer after every attempt.
            ClusterUnavailable: the proxy answered with an error.
        """
        actor = self._actor
        if actor is None:
            raise ClusterUnreachable("no cluster configured")
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            # Jittered, so that clients refused together do not come back together.
            wait=tenacity.wait_exponential(multiplier=0.05, max=0.5)
            + tenacity.wait_random(0, 0.05),
            retry=tenacity.retry_if_exception_type(_AttemptFailed),
            reraise=True,
        )
        last_error: ErrorReply | None = None
        try:
            for attempt in retrying:
                with attempt:
                    if not self._link_up.wait(self.connect_timeout_s):
                        if not retry_unconnected:
                            raise ClusterUnreachable("not connected to the proxy")
                        raise _AttemptFailed("not connected to the proxy")
                    msg = build(self._ids(), trace_id, traced)
                    self.tracer.hop(log, "client.request", msg, type=type(msg).__name__)
                    future: pykka.Future[Message] = pykka.ThreadingFuture()
                    actor.tell(Request(msg, future))
                    try:
                        reply = future.get(timeout=self.client_timeout_s)
                    except pykka.Timeout:
                        actor.tell(Forget(msg.msg_id))
                        raise _AttemptFailed("no answer in time") from None
                    except NotSent as exc:
                        raise _AttemptFailed(f"not sent: {exc}") from None
                    self.tracer.hop(log, "client.reply", reply, type=type(reply).__name__)
                    if isinstance(reply, ErrorReply):
                        last_error = reply
                        if reply.code in ("unavailable", "overloaded", "internal"):
                            raise _AttemptFailed(reply.reason)
                        if reply.code == "forbidden":
                            raise Forbidden(reply.reason)
                        if reply.code == "refused":
                            raise Refused(reply.reason)
                        raise ClusterUnavailable(f"{reply.code}: {reply.reason}")
                    return reply
        except _AttemptFailed as exc:
            if last_error is not None:
                raise ClusterUnavailable(f"{last_error.code}: {last_error.reason}") from None
            raise ClusterUnreachable(str(exc)) from None
        raise ClusterUnreachable("no attempt was made")  # pragma: no cover - tenacity always tries
