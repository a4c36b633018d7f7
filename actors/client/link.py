"""A client session's link to the cluster: its bridge and actor, and requests with retries.

:class:`ClusterLink` opens and closes the session's connection to the
proxy: a bridge, which owns the sockets and hosts a :class:`ClientActor`.
Its methods run on the session's thread, which never touches a ZMQ socket:
it ``tell``-s the actor and waits for the reply on a future (it is the user's
thread, not a request path inside the cluster); the actor only ``tell``-s
and never blocks. The one socket of the session's thread is a plain TCP
connect to the proxy's port with a short time-out (:func:`tcp_reachable`),
which tells an unreachable proxy apart in milliseconds instead of a whole
``connect_timeout_s`` of waiting for the handshake.

:meth:`ClusterLink.request` is retried by tenacity: each attempt first
waits for the connection (``connect_timeout_s``) and then for the reply
(``client_timeout_s``). An answer that the cluster is short of replicas or
busy (``unavailable``, ``overloaded``, ``internal``) is tried again; what it
fails with says why (:class:`ClusterUnreachable`,
:class:`ClusterUnavailable`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pykka
import tenacity
import zmq

import logs
from actors.client.actor import ClientActor, Forget, NotSent, Request, Subscribe, UpdateCallback
from actors.kernel import Bridge, CurveClient, MsgIds, SocketSpec
from logs import Tracer
from protocol import ErrorReply, Message

__all__ = [
    "ClusterLink",
    "ClusterUnavailable",
    "ClusterUnreachable",
    "Forbidden",
    "ListDeleted",
    "Refused",
    "tcp_reachable",
]

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


class ListDeleted(ClusterUnavailable):
    """The list's owner deleted it for everyone (the proxy answered ``deleted``)."""

    def __init__(self, list_id: str, reason: str) -> None:
        super().__init__(f"deleted: {reason}")
        #: the list the request was about
        self.list_id = list_id


class _AttemptFailed(Exception):
    pass


def tcp_reachable(endpoint: str, timeout_s: float) -> bool:
    """Whether one TCP connection to ``endpoint`` (``tcp://host:port``) opens
    within ``timeout_s``: a refused port or an unreachable host answers at once
    or within the time-out, where waiting for the ZMQ handshake takes the whole
    ``connect_timeout_s``. A malformed endpoint counts as reachable (ZMQ decides).
    """
    host, sep, port = endpoint.removeprefix("tcp://").rpartition(":")
    if not sep or not port.isdigit():
        return True
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


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
        on_update: called (in the bridge thread) with each change an update made here.
        curve: CurveZMQ keys for both sockets (a secured cluster refuses
            plaintext); ``None``: plaintext.
        probe_timeout_s: how long one TCP connect to the proxy may take
            before the proxy counts as unreachable (see :func:`tcp_reachable`;
            default ``connect_timeout_s``, so that a slow link is not taken
            for none; a refused port or an unreachable network fails at once):
            a link that does not subscribe then never opens (its session is
            offline at once), and a request while the link is down fails at
            once instead of after every attempt's ``connect_timeout_s``.
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
        probe_timeout_s: float | None = None,
    ) -> None:
        self.client_id = client_id
        self.probe_timeout_s = connect_timeout_s if probe_timeout_s is None else probe_timeout_s
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
        """Connect; ``False`` (and nothing done) when offline by configuration,
        already open, or (without ``subscribe``) when the proxy's port does not
        take a TCP connection: a one-shot command then works offline at once."""
        if self.endpoints is None or self._actor is not None:
            return False
        if not self.subscribe and not self._proxy_answers():
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
    def up(self) -> bool:
        """Whether the proxy is connected now (no waiting)."""
        return self._link_up.is_set()

    def connected(self) -> bool:
        """Whether the proxy is connected, waiting up to ``connect_timeout_s`` for
        it (not at all when its port takes no TCP connection)."""
        if self._link_up.is_set():
            return True
        return self._proxy_answers() and self._link_up.wait(self.connect_timeout_s)

    def _proxy_answers(self) -> bool:
        """One short TCP connect to the proxy's frontend (see :func:`tcp_reachable`)."""
        if self.endpoints is None:
            return False
        return tcp_reachable(self.endpoints["frontend"], self.probe_timeout_s)

    def watch(self, list_ids: list[str]) -> None:
        """Subscribe to published updates of these lists."""
        if self._actor is not None and self.subscribe and list_ids:
            self._actor.tell(Subscribe(tuple(list_ids)))

    def send(
        self, build: Callable[[str, str, bool], Message], trace_id: str, traced: bool
    ) -> tuple[str, pykka.Future[Message]] | None:
        """Send one request without waiting (its id and the future of its reply),
        or ``None`` when the proxy is not connected now. Not retried; the caller
        collects the reply later, or :meth:`forget`-s it."""
        actor = self._actor
        if actor is None or not self._link_up.is_set():
            return None
        msg = build(self._ids(), trace_id, traced)
        self.tracer.hop(log, "client.request", msg, type=type(msg).__name__)
        future: pykka.Future[Message] = pykka.ThreadingFuture()
        actor.tell(Request(msg, future))
        return msg.msg_id, future

    def forget(self, msg_id: str) -> None:
        """Stop waiting for the reply to ``msg_id`` (sent by :meth:`send`)."""
        if self._actor is not None:
            self._actor.tell(Forget(msg_id))

    def _wait_link(self, retry_unconnected: bool) -> None:
        """Wait for the connection to the proxy, as :meth:`request` explains.

        Raises:
            ClusterUnreachable: the proxy's port takes no TCP connection, or
                (without ``retry_unconnected``) no connection in time.
            _AttemptFailed: no connection in time; the attempt may be retried.
        """
        if not self._link_up.is_set() and not self._proxy_answers():
            raise ClusterUnreachable("the proxy's port takes no connection")
        if not self._link_up.wait(self.connect_timeout_s):
            if not retry_unconnected:
                raise ClusterUnreachable("not connected to the proxy")
            raise _AttemptFailed("not connected to the proxy")

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
        no connection to the proxy (after ``connect_timeout_s``) is the last;
        a proxy whose port takes no TCP connection ends the request at once.

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
                    self._wait_link(retry_unconnected)
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
                        _raise_for(reply, msg)
                    return reply
        except _AttemptFailed as exc:
            if last_error is not None:
                raise ClusterUnavailable(f"{last_error.code}: {last_error.reason}") from None
            raise ClusterUnreachable(str(exc)) from None
        raise ClusterUnreachable("no attempt was made")  # pragma: no cover - tenacity always tries


def _raise_for(reply: ErrorReply, request: Message) -> NoReturn:
    """The exception of an error answer to ``request`` (``_AttemptFailed``: try again)."""
    if reply.code in ("unavailable", "overloaded", "internal"):
        raise _AttemptFailed(reply.reason)
    if reply.code == "forbidden":
        raise Forbidden(reply.reason)
    if reply.code == "deleted":
        raise ListDeleted(getattr(request, "list_id", ""), reply.reason)
    if reply.code == "refused":
        raise Refused(reply.reason)
    raise ClusterUnavailable(f"{reply.code}: {reply.reason}")
