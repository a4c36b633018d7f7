"""The bridge: the one thread of a process that touches its ZeroMQ sockets.

pyzmq sockets are not thread-safe, so every network socket of a process is
created, polled, read and written by the bridge thread alone. The loop is the
ZeroMQ guide's broker loop: poll with a timeout equal to the tick interval,
handle what arrived, then always send the tick that drives timers.

The bridge thread also hosts the process's actors (:mod:`actors.kernel.runtime`):
after every poll it lets each handle what its inbox holds, then sends what
they queued. A message therefore crosses no thread between the socket and
the actor, nor between the actor and the socket.

Each socket is described by a :class:`~actors.kernel.sockets.SocketSpec`,
whose options :func:`~actors.kernel.sockets.configure` sets as it opens.
Each socket is reached through its :class:`~actors.kernel.channels.Link`,
chosen when the socket opens: the plain :class:`~actors.kernel.channels.SocketLink`,
or a :class:`~actors.kernel.faults.FaultyLink` around it when the bridge has a
fault policy. The loop itself knows neither; an XPUB socket's reads are its
:class:`~actors.kernel.subscriptions.Subscriptions`.

Inbound: each frame is decoded by :func:`protocol.decode` in the bridge
thread. A frame that does not decode gets an ``ErrorReply`` (on ROUTER
sockets, where we know who sent it) and a rate-limited log line; it never
reaches an actor. What decodes is batched per poll into one
:class:`~actors.kernel.messages.Inbound` and told to the actor with
:meth:`ActorHost.tell <actors.kernel.runtime.ActorHost.tell>`, which hands it in at
once when the actor has nothing queued.

Outbound: actors never touch network sockets. An actor's
:class:`~actors.kernel.outbox.Outbox` appends encoded messages to the bridge's
outbound deque; the bridge sends them all after its actors' round. An outbox
used from another thread wakes the bridge (a :class:`~actors.kernel.outbox.Waker`:
an eventfd its poll watches).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

import pykka
import structlog
import zmq
from typing_extensions import override
from zmq.utils.monitor import recv_monitor_message

from actors.kernel.channels import Link, SocketLink
from actors.kernel.faults import FaultPolicy, FaultyLink
from actors.kernel.messages import Channel, Delivery, Inbound, LinkEvent, Tick
from actors.kernel.outbox import SUBSCRIBE, Outbound, Outbox, Waker
from actors.kernel.runtime import ActorHost
from actors.kernel.security import Gatekeeper
from actors.kernel.sockets import SocketSpec, configure
from actors.kernel.subscriptions import Subscriptions
from protocol import ErrorReply, encode

__all__ = ["Bridge", "FaultPolicy", "SocketSpec"]

log = structlog.get_logger(__name__)

#: Messages kept while the actor is being restarted; beyond it the oldest go.
MAX_BACKLOG: Final = 50_000
#: Bad-frame warnings per second before they are only counted.
MAX_BAD_FRAME_LOGS_PER_S: Final = 5
#: Outbound messages awaiting the bridge; the bound keeps a stuck bridge from
#: eating the process's memory.
MAX_OUTBOUND: Final = 200_000

#: What the loop does with a readable socket (or the waker's descriptor):
#: appends what it decoded to the poll's batch, or handles it itself.
_Reader = Callable[[list[Delivery]], None]


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class Bridge(threading.Thread):
    """Owns and polls a process's sockets; see the module docstring.

    Args:
        ctx: the process's zmq context (made after the process started).
        specs: the network sockets.
        target: returns the actor to deliver to, or ``None`` while it is being
            restarted (messages are then kept, up to :data:`MAX_BACKLOG`).
        node_id: names the inproc endpoint and log lines.
        tick_interval_s: how often a :class:`Tick` is delivered.
        faults: optional fault injection (tests and chaos runs only): every
            link is then a :class:`~actors.kernel.faults.FaultyLink` asking it.
        allowed: for CURVE sockets of the ``servers`` domain: the public keys
            (Z85) they admit, by name. A :class:`Gatekeeper` then runs from
            before the first socket opens until the last one closed.
    """

    def __init__(
        self,
        ctx: zmq.Context[Any],
        specs: list[SocketSpec],
        target: Callable[[], pykka.ActorRef[Any] | None],
        node_id: str,
        tick_interval_s: float = 0.05,
        faults: FaultPolicy | None = None,
        allowed: Mapping[bytes, str] | None = None,
    ) -> None:
        super().__init__(name=f"bridge-{node_id}", daemon=True)
        self.gatekeeper = None if allowed is None else Gatekeeper(ctx, allowed, log)
        self.ctx = ctx
        self.specs = specs
        self.target = target
        self.node_id = node_id
        self.tick_interval_s = tick_interval_s
        self.faults = faults
        self.waker = Waker()
        #: runs the process's actors on this thread (see actors.kernel.runtime)
        self.host = ActorHost(self.waker.wake)
        #: what actors send, drained by this thread (see Outbox)
        self.outbound: deque[Outbound] = deque(maxlen=MAX_OUTBOUND)
        #: bound endpoints by channel, filled before wait_ready() returns
        self.endpoints: dict[Channel, str] = {}
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop_event = threading.Event()
        self._socks: dict[Channel, zmq.Socket[bytes]] = {}
        #: how each channel sends and receives (written before the loop starts)
        self._links: dict[Channel, Link] = {}
        self._readers: dict[zmq.Socket[bytes] | int, _Reader] = {}
        #: topics someone subscribes to, per XPUB channel (see Subscriptions)
        self._topics: dict[Channel, set[bytes]] = {}
        self._monitors: list[zmq.Socket[bytes]] = []
        self._backlog: deque[Any] = deque(maxlen=MAX_BACKLOG)
        #: actions due later (a fault's delays), soonest first
        self._timers: list[_Timer] = []
        self._timer_seq = 0
        self._bad_frames = 0
        self._bad_logged_at = 0.0
        self._bad_logged = 0

    # ----------------------------------------------------------- lifecycle

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Block until every socket is bound/connected. Any thread but the bridge's.

        Raises:
            RuntimeError: the bridge failed to start (e.g. a port in use).
        """
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"bridge of {self.node_id} did not start in {timeout_s}s")
        if self.error is not None:
            raise RuntimeError(f"bridge of {self.node_id} failed: {self.error}") from self.error

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the loop to end and wait for the sockets to close: after the
        handler running now returns, since the bridge thread runs the actors.
        Any thread (from the bridge thread it only asks)."""
        self._stop_event.set()
        self.host.notify()  # wakes the poll, unless this is the bridge thread
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)

    @override
    def run(self) -> None:
        """Thread body: set up, loop, and always close every socket (LINGER 0)."""
        self.host.bind()
        try:
            if self.gatekeeper is not None:
                # Before any socket binds: no connection is admitted unasked.
                self.gatekeeper.start()
            for spec in self.specs:
                self._open(spec)
            self._ready.set()
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported to the owner through wait_ready/error
            self.error = exc
            log.error("bridge.failed", node=self.node_id, error=repr(exc))
        finally:
            self._ready.set()
            try:
                # Hosted actors close their stores here, on the thread that opened them.
                self.host.stop_all()
            except Exception as exc:  # noqa: BLE001 - the sockets must close regardless
                log.error("bridge.actor_stop_failed", node=self.node_id, error=repr(exc))
            for sock in [*self._socks.values(), *self._monitors]:
                sock.close(linger=0)
            if self.gatekeeper is not None:
                self.gatekeeper.stop()
            self.waker.close()

    def _open(self, spec: SocketSpec) -> None:
        sock = self.ctx.socket(spec.kind)
        try:
            self._configure(sock, spec)
        except BaseException:
            # An unclosed socket would make ctx.term() hang (e.g. port in use).
            sock.close(linger=0)
            raise
        self._socks[spec.channel] = sock
        link: Link = SocketLink(
            spec.channel,
            sock,
            spec.kind,
            spec.max_frame_bytes,
            self._deliver,
            self._bad_frame,
            spec.max_batch,
            spec.peers,
            spec.keyed,
            spec.named,
        )
        if self.faults is not None:
            # Decided here, once: without faults a message never asks.
            link = FaultyLink(link, self.faults, self._later, self._deliver)
        self._links[spec.channel] = link
        if spec.kind == zmq.XPUB:
            # What an XPUB receives is its subscribers' subscriptions.
            subscriptions = Subscriptions(sock)
            self._topics[spec.channel] = subscriptions.topics
            self._readers[sock] = lambda _batch: subscriptions.read()
        elif spec.kind != zmq.PUB:  # a PUB only sends
            self._readers[sock] = link.read

    def _configure(self, sock: zmq.Socket[bytes], spec: SocketSpec) -> None:
        configure(sock, spec)
        if spec.monitor:
            # Up only once the ZMTP handshake is done: at EVENT_CONNECTED the
            # TCP link is, but a send with IMMEDIATE can still find no peer.
            mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
            self._monitors.append(mon)
            self._readers[mon] = functools.partial(self._read_monitor, mon, spec.channel)
        if spec.bind is not None:
            sock.bind(spec.bind)
            self.endpoints[spec.channel] = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if spec.connect is not None:
            sock.connect(spec.connect)

    # ----------------------------------------------------------------- loop

    def _loop(self) -> None:
        readers: dict[zmq.Socket[bytes] | int, _Reader] = {
            self.waker.fileno(): lambda _batch: self.waker.drain(),
            **self._readers,
        }
        poller = zmq.Poller()
        for sock in readers:
            poller.register(sock, zmq.POLLIN)
        tick = self.tick_interval_s
        next_tick = time.monotonic() + tick
        host, timers = self.host, self._timers
        while not self._stop_event.is_set():
            if host.pending() or self.outbound:
                timeout_ms = 0  # a handler told an actor, or a send failed
            else:
                due = next_tick if not timers else min(next_tick, timers[0].due)
                timeout_ms = max(0, int((due - time.monotonic()) * 1000.0) + 1)
            batch: list[Delivery] = []
            for sock, _ in poller.poll(timeout_ms):
                readers[sock](batch)
            if batch:
                self._deliver(Inbound(batch))
            now = time.monotonic()
            while timers and timers[0].due <= now:
                heapq.heappop(timers).action()
            if now >= next_tick:
                next_tick = now + tick
                self._deliver(Tick(now))
            host.run()
            self._forward_outbound()

    def outbox(self) -> Outbox:
        """A new outbox, for one actor (or one other thread). Any thread."""
        return Outbox(self.outbound, self.host)

    def send_now(self) -> None:
        """Send the outbound queue now. Bridge thread only: a hosted actor's
        handler calls it (:meth:`BridgedActor.send_now`) mid-round.

        Raises:
            RuntimeError: called from another thread, which must not touch
                the sockets (they are not thread-safe).
        """
        if threading.current_thread() is not self:
            raise RuntimeError("Bridge.send_now() runs on the bridge thread only")
        self._forward_outbound()

    def _forward_outbound(self) -> None:
        queue, links = self.outbound, self._links
        while queue:
            channel, peer, payload = queue.popleft()
            if channel == SUBSCRIBE:
                # Outbox.subscribe put the SUB channel's name where the peer goes.
                sock = self._socks[cast(Channel, peer.decode())]
                sock.setsockopt(zmq.SUBSCRIBE, payload)
                continue
            links[channel].send(peer, payload)

    def has_subscriber(self, channel: Channel, topic: bytes) -> bool:
        """Whether anyone subscribed to ``topic`` on XPUB ``channel``. Any thread.

        The proxy asks before it publishes, so that a write to a list nobody
        watches costs no encode and no send.
        """
        return topic in self._topics.get(channel, ())

    def _read_monitor(self, mon: zmq.Socket[bytes], channel: Channel, _batch: object) -> None:
        """Tell the actor a connect or disconnect of ``channel``. Bridge thread."""
        try:
            event = recv_monitor_message(mon, zmq.NOBLOCK)
        except zmq.Again:
            return
        connected = event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
        self._deliver(LinkEvent(channel, connected))

    def _later(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` on this thread once ``delay_s`` has passed. Bridge thread."""
        self._timer_seq += 1
        heapq.heappush(self._timers, _Timer(time.monotonic() + delay_s, self._timer_seq, action))

    # -------------------------------------------------------------- delivery

    def _deliver(self, message: Any) -> None:
        ref = self.target()
        if ref is None:
            self._backlog.append(message)
            return
        try:
            while self._backlog:
                ref.tell(self._backlog[0])
                self._backlog.popleft()
            self.host.tell(ref, message)
        except pykka.ActorDeadError:
            # The actor died between target() and tell(); its supervisor will
            # install a new one. Keep the message for it.
            self._backlog.append(message)

    def _bad_frame(self, link: SocketLink, peer: bytes, reason: str) -> None:
        """Count and log (rate-limited) a frame ``link`` could not decode, and
        tell its sender on a ROUTER. Bridge thread."""
        self._bad_frames += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= 1.0:
            self._bad_logged_at, self._bad_logged = now, 0
        if self._bad_logged < MAX_BAD_FRAME_LOGS_PER_S:
            self._bad_logged += 1
            log.warning(
                "bad_frame",
                channel=link.channel,
                peer=peer.hex(),
                reason=reason,
                total_bad_frames=self._bad_frames,
            )
        if link.kind == zmq.ROUTER:
            reply = ErrorReply(
                sender=self.node_id, reply_to="", code="bad_frame", reason=reason[:500]
            )
            # If the sender is gone or flooding us, the log line stands alone.
            with contextlib.suppress(zmq.ZMQError):
                link.sock.send_multipart((peer, encode(reply)), zmq.NOBLOCK)
