"""The bridge: the one thread of a process that touches its ZeroMQ sockets.

pyzmq sockets are not thread-safe, so every network socket of a process is
created, polled, read and written by the bridge thread alone. The loop is the
ZeroMQ guide's broker loop: poll with a timeout equal to the tick interval,
handle what arrived, then always send the tick that drives timers.

The bridge thread also hosts the process's actors (:mod:`actors.kernel.runtime`):
after every poll it lets each handle what its inbox holds, then sends what
they queued. A message therefore crosses no thread between the socket and
the actor, nor between the actor and the socket.

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
import errno
import functools
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, cast

import pykka
import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from actors.kernel.messages import Delivery, Inbound, LinkEvent, Tick, Undeliverable
from actors.kernel.outbox import SUBSCRIBE, Outbound, Outbox, Waker
from actors.kernel.runtime import ActorHost
from protocol import ErrorReply, ProtocolError, decode, encode
from protocol.limits import MAX_FRAME_BYTES

__all__ = ["Bridge", "FaultPolicy", "SocketSpec"]

log = structlog.get_logger(__name__)

#: Most frames read from one socket in one poll; keeps one busy socket from
#: starving the others and bounds the size of an Inbound batch.
MAX_BATCH: Final = 512
#: Messages kept while the actor is being restarted; beyond it the oldest go.
MAX_BACKLOG: Final = 50_000
#: Bad-frame warnings per second before they are only counted.
MAX_BAD_FRAME_LOGS_PER_S: Final = 5
#: Outbound messages awaiting the bridge; the bound keeps a stuck bridge from
#: eating the process's memory.
MAX_OUTBOUND: Final = 200_000
# Flags as plain ints: pyzmq's send_multipart/recv_multipart combine enum
# flags in Python on every frame, which made a send 3.8 µs instead of 1.1.
_NOBLOCK: Final = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK: Final = int(zmq.SNDMORE | zmq.NOBLOCK)
_RCVMORE: Final = int(zmq.RCVMORE)
_EVENTS: Final = int(zmq.EVENTS)
_POLLIN: Final = int(zmq.POLLIN)


@dataclass(frozen=True)
class SocketSpec:
    """One network socket of the bridge.

    ``kind`` is a zmq socket type (ROUTER, DEALER, PUB, SUB). Bind endpoints
    may use port 0 (``tcp://127.0.0.1:0``); the bound endpoint is then in
    :attr:`Bridge.endpoints` once :meth:`Bridge.wait_ready` returns.
    """

    channel: str
    kind: int
    bind: str | None = None
    connect: str | None = None
    identity: bytes | None = None
    subscribe: tuple[bytes, ...] = ()
    max_frame_bytes: int = MAX_FRAME_BYTES
    #: high-water mark in messages, both ways
    hwm: int = 10_000
    #: report connect/disconnect to the actor as LinkEvents
    monitor: bool = False
    #: queue messages only to completed connections (fail fast when offline)
    immediate: bool = False


class FaultPolicy(Protocol):
    """Decides the fate of one message on a link (see :mod:`actors.kernel.faults`).

    Runs in the bridge thread. Returns how many copies to pass on (0 drops
    it, 2 duplicates it) and a delay in seconds.
    """

    def decide(self, direction: str, channel: str, peer: bytes) -> tuple[int, float]: ...


@dataclass(order=True)
class _Delayed:
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
        faults: optional fault injection (tests and chaos runs only).
    """

    def __init__(
        self,
        ctx: zmq.Context[Any],
        specs: list[SocketSpec],
        target: Callable[[], pykka.ActorRef[Any] | None],
        node_id: str,
        tick_interval_s: float = 0.05,
        faults: FaultPolicy | None = None,
    ) -> None:
        super().__init__(name=f"bridge-{node_id}", daemon=True)
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
        self.endpoints: dict[str, str] = {}
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop_event = threading.Event()
        self._socks: dict[str, zmq.Socket[bytes]] = {}
        #: topics someone subscribes to, per XPUB channel (written by this thread)
        self._topics: dict[str, set[bytes]] = {}
        self._kinds: dict[str, int] = {}
        self._monitors: dict[zmq.Socket[bytes], str] = {}
        self._backlog: deque[Any] = deque(maxlen=MAX_BACKLOG)
        self._delayed: list[_Delayed] = []
        self._delayed_seq = 0
        self._bad_frames = 0
        self._bad_logged_at = 0.0
        self._bad_logged = 0

    # ----------------------------------------------------------- lifecycle

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Block until every socket is bound/connected.

        Raises:
            RuntimeError: the bridge failed to start (e.g. a port in use).
        """
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"bridge of {self.node_id} did not start in {timeout_s}s")
        if self.error is not None:
            raise RuntimeError(f"bridge of {self.node_id} failed: {self.error}") from self.error

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the loop to end and wait for the sockets to close: after the
        handler running now returns, since the bridge thread runs the actors."""
        self._stop_event.set()
        self.host.notify()  # wakes the poll, unless this is the bridge thread
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)

    def run(self) -> None:
        """Thread body: set up, loop, and always close every socket (LINGER 0)."""
        self.host.bind()
        try:
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
        self._kinds[spec.channel] = spec.kind

    def _configure(self, sock: zmq.Socket[bytes], spec: SocketSpec) -> None:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, spec.max_frame_bytes)
        sock.setsockopt(zmq.SNDHWM, spec.hwm)
        sock.setsockopt(zmq.RCVHWM, spec.hwm)
        if spec.kind == zmq.ROUTER:
            # An unroutable reply must be an error, not a silent drop; a peer
            # that reconnects under the same id (a restarted server) takes over.
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        if spec.identity is not None:
            sock.setsockopt(zmq.ROUTING_ID, spec.identity)
        if spec.immediate:
            sock.setsockopt(zmq.IMMEDIATE, 1)
        if spec.kind in (zmq.DEALER, zmq.SUB):
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        for topic in spec.subscribe:
            sock.setsockopt(zmq.SUBSCRIBE, topic)
        if spec.monitor:
            mon = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
            self._monitors[mon] = spec.channel
        if spec.bind is not None:
            sock.bind(spec.bind)
            self.endpoints[spec.channel] = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if spec.connect is not None:
            sock.connect(spec.connect)

    # ----------------------------------------------------------------- loop

    def _loop(self) -> None:
        poller = zmq.Poller()
        wake_fd = self.waker.fileno()
        poller.register(wake_fd, zmq.POLLIN)
        # PUB sockets only send; everything else is polled for input (an XPUB
        # for its subscription events).
        by_socket = {
            sock: channel
            for channel, sock in self._socks.items()
            if self._kinds[channel] != zmq.PUB
        }
        for sock in by_socket:
            poller.register(sock, zmq.POLLIN)
        for mon in self._monitors:
            poller.register(mon, zmq.POLLIN)
        max_frames = {s.channel: s.max_frame_bytes for s in self.specs}
        tick = self.tick_interval_s
        next_tick = time.monotonic() + tick
        host = self.host
        while not self._stop_event.is_set():
            if host.pending() or self.outbound:
                timeout_ms = 0  # a handler told an actor, or a send failed
            else:
                due = next_tick if not self._delayed else min(next_tick, self._delayed[0].due)
                timeout_ms = max(0, int((due - time.monotonic()) * 1000.0) + 1)
            ready = poller.poll(timeout_ms)
            batch: list[Delivery] = []
            for sock, _ in ready:
                if sock == wake_fd:
                    self.waker.drain()
                elif sock in self._monitors:
                    self._read_monitor(sock)
                else:
                    channel = by_socket[sock]
                    self._read(sock, channel, max_frames[channel], batch)
            if batch:
                self._deliver(Inbound(batch))
            now = time.monotonic()
            while self._delayed and self._delayed[0].due <= now:
                heapq.heappop(self._delayed).action()
            if now >= next_tick:
                next_tick = now + tick
                self._deliver(Tick(now))
            host.run()
            self._forward_outbound()

    def _read(
        self, sock: zmq.Socket[bytes], channel: str, max_bytes: int, batch: list[Delivery]
    ) -> None:
        kind = self._kinds[channel]
        for n in range(MAX_BATCH):
            # Asking whether more is queued is cheaper than the zmq.Again a
            # read of an empty socket raises, which most polls would end on.
            if n and not cast(int, sock.getsockopt(_EVENTS)) & _POLLIN:
                return
            try:
                frames = [sock.recv(_NOBLOCK)]
            except zmq.Again:
                return
            # The rest of a multipart message is already here (zmq delivers
            # messages whole), so these reads cannot block.
            while sock.getsockopt(_RCVMORE):
                frames.append(sock.recv(_NOBLOCK))
            if kind == zmq.XPUB:
                self._subscription(channel, frames[0])
                continue
            if kind == zmq.ROUTER:
                peer, payload = frames[0], frames[1:]
            elif kind == zmq.SUB:
                peer, payload = b"", frames[1:]
            else:
                peer, payload = b"", frames
            if len(payload) != 1:
                self._bad_frame(
                    sock, kind, channel, peer, f"expected 1 payload frame, got {len(payload)}"
                )
                continue
            try:
                msg = decode(payload[0], max_bytes=max_bytes)
            except ProtocolError as exc:
                self._bad_frame(sock, kind, channel, peer, str(exc))
                continue
            if self.faults is not None:
                self._inject(self.faults, Delivery(channel, peer, msg), batch)
            else:
                batch.append(Delivery(channel, peer, msg))

    def _inject(self, faults: FaultPolicy, delivery: Delivery, batch: list[Delivery]) -> None:
        """Drop, delay or duplicate an inbound message as ``faults`` says."""
        copies, delay_s = faults.decide("in", delivery.channel, delivery.peer)
        if copies == 0:
            return
        if delay_s > 0:
            item = Inbound([delivery] * copies)
            self._later(delay_s, functools.partial(self._deliver, item))
            return
        batch.extend([delivery] * copies)

    def outbox(self) -> Outbox:
        """A new outbox, for one actor (or one other thread)."""
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
        queue = self.outbound
        while queue:
            channel, peer, payload = queue.popleft()
            if channel == SUBSCRIBE:
                self._socks[peer.decode()].setsockopt(zmq.SUBSCRIBE, payload)
                continue
            if self.faults is not None:
                copies, delay_s = self.faults.decide("out", channel, peer)
                if delay_s > 0 and copies:
                    self._later(delay_s, self._sender(channel, peer, payload, copies))
                    continue
                for _ in range(copies):
                    self._send(channel, peer, payload)
                continue
            self._send(channel, peer, payload)

    def _send(self, channel: str, peer: bytes, payload: bytes) -> None:
        sock = self._socks[channel]
        kind = self._kinds[channel]
        try:
            if kind in (zmq.ROUTER, zmq.PUB, zmq.XPUB):
                # An atomic pair: zmq queues nothing until the last frame.
                sock.send(peer, _SNDMORE_NOBLOCK)
            sock.send(payload, _NOBLOCK)
        except zmq.ZMQError as exc:
            if exc.errno == errno.EHOSTUNREACH:
                reason = "unreachable"
            elif exc.errno == errno.EAGAIN:
                reason = "queue full or not connected"
            else:
                raise
            try:
                msg = decode(payload)
            except ProtocolError:  # we encoded it ourselves; cannot happen
                return
            self._deliver(Undeliverable(channel, peer, msg, reason))

    def has_subscriber(self, channel: str, topic: bytes) -> bool:
        """Whether anyone subscribed to ``topic`` on XPUB ``channel``. Any thread.

        The proxy asks before it publishes, so that a write to a list nobody
        watches costs no encode and no send.
        """
        return topic in self._topics.get(channel, ())

    def _subscription(self, channel: str, event: bytes) -> None:
        # XPUB passes on the first subscription to a topic and the last
        # unsubscription (also when a subscriber disconnects): a set suffices.
        if not event:
            return
        topics = self._topics.setdefault(channel, set())
        if event[0] == 1:
            topics.add(event[1:])
        elif event[0] == 0:
            topics.discard(event[1:])

    def _read_monitor(self, mon: zmq.Socket[bytes]) -> None:
        try:
            event = recv_monitor_message(mon, zmq.NOBLOCK)
        except zmq.Again:
            return
        connected = event["event"] == zmq.EVENT_CONNECTED
        self._deliver(LinkEvent(self._monitors[mon], connected))

    def _sender(self, channel: str, peer: bytes, payload: bytes, copies: int) -> Callable[[], None]:
        def send() -> None:
            for _ in range(copies):
                self._send(channel, peer, payload)

        return send

    def _later(self, delay_s: float, action: Callable[[], None]) -> None:
        self._delayed_seq += 1
        heapq.heappush(
            self._delayed, _Delayed(time.monotonic() + delay_s, self._delayed_seq, action)
        )

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

    def _bad_frame(
        self, sock: zmq.Socket[bytes], kind: int, channel: str, peer: bytes, reason: str
    ) -> None:
        self._bad_frames += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= 1.0:
            self._bad_logged_at, self._bad_logged = now, 0
        if self._bad_logged < MAX_BAD_FRAME_LOGS_PER_S:
            self._bad_logged += 1
            log.warning(
                "bad_frame",
                channel=channel,
                peer=peer.hex(),
                reason=reason,
                total_bad_frames=self._bad_frames,
            )
        if kind == zmq.ROUTER:
            reply = ErrorReply(
                sender=self.node_id, reply_to="", code="bad_frame", reason=reason[:500]
            )
            # If the sender is gone or flooding us, the log line stands alone.
            with contextlib.suppress(zmq.ZMQError):
                sock.send_multipart((peer, encode(reply)), zmq.NOBLOCK)
