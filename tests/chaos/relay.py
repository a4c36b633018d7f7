"""A TCP relay that makes one link slow and lossy, for the chaos suite.

This machine's kernel has no ``sch_netem``, so ``tc netem`` cannot slow a
link; the relay does it in user space instead. It listens on
``listen_host:port`` for each given port and forwards the bytes of every
connection, both ways, to ``upstream_host:port``. A server whose topology
says ``proxy_host = "127.0.0.2"`` dials the proxy through it (Linux routes
all of 127.0.0.0/8 to ``lo``, so 127.0.0.2 needs no setup), while every
other process keeps its direct link.

What the link does is a :class:`LinkConditions`, swapped at run time with
:meth:`LinkRelay.set_conditions`. It applies to the chunks read from then
on: each chunk (one ``recv``, up to :data:`CHUNK_BYTES`) is held for the
delay, plus the jitter, plus now and then a stall (what a retransmission
after a lost segment costs TCP), and never overtakes the chunk before it,
so each direction stays in order as TCP would. A reset closes both sides of
a connection, dropping what it held: what a link that loses too much and
times out does. ZeroMQ then reconnects, through the relay again. An end
of stream from either side ends the whole connection once what that side
sent has been delivered (no half-open connections: ZeroMQ uses none).

Contract: the buffers are bounded (:data:`QUEUE_CHUNKS` chunks per
direction; a full queue stops reading, so TCP pushes back on the sender);
every blocking call wakes at least every :data:`TICK_S`; :meth:`LinkRelay.stop`
closes every socket and joins every thread, and reports any thread it could
not join, so a test can insist on a clean stop even after a failure.
"""

from __future__ import annotations

import contextlib
import queue
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Final

#: Where the relay listens: a loopback address of its own, so it can take
#: the proxy's port numbers without clashing with the proxy on 127.0.0.1.
RELAY_HOST: Final = "127.0.0.2"
#: Every wait of the relay's threads ends after this long, to look at the
#: stop flag: a stop takes at most about this long, plus the joins.
TICK_S: Final = 0.1
#: The most one ``recv`` takes, and so the largest unit the link delays.
CHUNK_BYTES: Final = 64 * 1024
#: Chunks held per direction of a connection before the relay stops reading.
QUEUE_CHUNKS: Final = 256
#: How long connecting to the upstream may take before the accepted
#: connection is dropped (the dialler retries, as ZeroMQ does).
CONNECT_TIMEOUT_S: Final = 1.0


@dataclass(frozen=True)
class LinkConditions:
    """How the link treats the chunks it reads from now on; the default is a
    perfect link (no delay, no loss).

    Attributes:
        delay_ms: how long each chunk is held, in each direction.
        jitter_ms: each chunk's delay varies uniformly by up to this much
            either way (never below zero; order is kept regardless).
        stall_probability: the chance that a chunk is held a further
            ``stall_ms`` (a random duration in that range), as TCP holds
            everything behind a lost segment until it is retransmitted.
        stall_ms: the range of a stall's extra delay.
        reset_probability: the chance that reading a chunk resets its
            connection (the chunk and everything held are dropped).

    Raises:
        ValueError: a negative duration, a probability outside [0, 1], or a
            stall range whose low end exceeds its high end.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    stall_probability: float = 0.0
    stall_ms: tuple[float, float] = (200.0, 300.0)
    reset_probability: float = 0.0

    def __post_init__(self) -> None:
        if min(self.delay_ms, self.jitter_ms, *self.stall_ms) < 0:
            raise ValueError(f"durations cannot be negative: {self}")
        if self.stall_ms[0] > self.stall_ms[1]:
            raise ValueError(f"stall_ms must be (low, high): {self.stall_ms}")
        for p in (self.stall_probability, self.reset_probability):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"probabilities are within [0, 1]: {self}")

    def hold_s(self, rng: random.Random) -> tuple[float, bool]:
        """How long to hold the next chunk, in seconds, and whether that
        includes a stall."""
        held = self.delay_ms + rng.uniform(-self.jitter_ms, self.jitter_ms)
        stalled = rng.random() < self.stall_probability
        if stalled:
            held += rng.uniform(*self.stall_ms)
        return max(0.0, held) / 1000.0, stalled


class LinkRelay:
    """Relay ``listen_host:port`` to ``upstream_host:port`` for each port,
    under the current :class:`LinkConditions`.

    Use as a context manager, or :meth:`start` then :meth:`stop` (in a
    ``finally``). Thread-safe: the conditions may be changed and connections
    reset from any thread.
    """

    def __init__(
        self,
        ports: Iterable[int],
        *,
        listen_host: str = RELAY_HOST,
        upstream_host: str = "127.0.0.1",
        seed: int = 0,
    ) -> None:
        self.ports = sorted(set(ports))
        self.listen_host = listen_host
        self.upstream_host = upstream_host
        self._conditions = LinkConditions()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listeners: list[socket.socket] = []
        self._acceptors: list[threading.Thread] = []
        self._links: set[_Link] = set()
        self._stats = {"connections": 0, "chunks": 0, "bytes": 0, "stalls": 0, "resets": 0}

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LinkRelay:
        """Listen on every port and start accepting.

        Raises:
            OSError: a port cannot be bound (nothing is left listening then).
        """
        try:
            for port in self.ports:
                self._listeners.append(self._listen(port))
        except OSError:
            self._close_listeners()
            raise
        for port, listener in zip(self.ports, self._listeners, strict=True):
            thread = threading.Thread(
                target=self._accept_loop, args=(listener, port), name=f"relay-accept-{port}"
            )
            thread.start()
            self._acceptors.append(thread)
        return self

    def stop(self, timeout_s: float = 5.0) -> list[str]:
        """Stop accepting, close every connection, join every thread.

        Idempotent. Returns the names of the threads still alive after
        ``timeout_s``: ``[]`` is a clean stop.
        """
        self._stopping.set()
        end = time.monotonic() + timeout_s
        for thread in self._acceptors:
            thread.join(max(0.0, end - time.monotonic()))
        self._close_listeners()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(reset=False)
        threads = [*self._acceptors, *(t for link in links for t in link.threads)]
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        return [t.name for t in threads if t.is_alive()]

    def __enter__(self) -> LinkRelay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        left = self.stop()
        if exc is None and left:
            raise RuntimeError(f"relay threads left running: {left}")

    # ------------------------------------------------------------- control

    @property
    def conditions(self) -> LinkConditions:
        return self._conditions

    def set_conditions(self, conditions: LinkConditions) -> None:
        """Apply ``conditions`` to every chunk read from now on (chunks held
        already keep their release time: the link does not reorder)."""
        self._conditions = conditions  # one reference: atomic for the readers

    def reset_all(self) -> int:
        """Reset every open connection; returns how many there were."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(reset=True)
        self._count(resets=len(links))
        return len(links)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def stats(self) -> dict[str, int]:
        """Counters since the start: connections accepted, chunks and bytes
        relayed (both ways), stalls, resets (random and explicit)."""
        with self._lock:
            return dict(self._stats)

    # ----------------------------------------------------------- internals

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # A relay restarted by the next test must not wait out TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.listen_host, port))
            sock.listen(16)
            sock.settimeout(TICK_S)
        except OSError:
            sock.close()
            raise
        return sock

    def _close_listeners(self) -> None:
        for sock in self._listeners:
            sock.close()

    def _accept_loop(self, listener: socket.socket, port: int) -> None:
        while not self._stopping.is_set():
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = self._dial(port)
            if upstream is None:
                downstream.close()  # as a link that is down: the dialler retries
                continue
            self._adopt(downstream, upstream, port)

    def _dial(self, port: int) -> socket.socket | None:
        try:
            return socket.create_connection((self.upstream_host, port), CONNECT_TIMEOUT_S)
        except OSError:
            return None

    def _adopt(self, downstream: socket.socket, upstream: socket.socket, port: int) -> None:
        for sock in (downstream, upstream):
            sock.settimeout(TICK_S)
            # The relay decides when bytes move; Nagle must not add its own wait.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._stopping.is_set():
                downstream.close()
                upstream.close()
                return
            self._stats["connections"] += 1
            link = _Link(self, downstream, upstream, f"relay-{port}-{self._stats['connections']}")
            self._links.add(link)
        link.start()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _next_hold(self) -> tuple[float, bool, bool]:
        """The hold of a chunk just read, whether it stalls, whether it resets."""
        conditions = self._conditions
        with self._lock:  # one generator for every thread: seeded runs repeat
            held, stalled = conditions.hold_s(self._rng)
            reset = self._rng.random() < conditions.reset_probability
        return held, stalled, reset

    def _count(self, **counts: int) -> None:
        with self._lock:
            for key, n in counts.items():
                self._stats[key] += n


#: A chunk and its release time (monotonic), or None: the end of the stream.
_Item = tuple[float, bytes] | None
#: ``struct linger`` on, 0 s: close() then sends a RST and drops unsent data.
_LINGER_ABORT: Final = struct.pack("ii", 1, 0)


class _Link:
    """One relayed connection: two sockets and, for each direction, a reader
    (receives, stamps each chunk with its release time, queues it) and a
    writer (waits for the release time, sends). The last of the four
    threads to finish closes the sockets: none is closed under another."""

    def __init__(
        self, relay: LinkRelay, downstream: socket.socket, upstream: socket.socket, name: str
    ) -> None:
        self.relay = relay
        self.sockets = (downstream, upstream)
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._running = 4
        self._reset = False
        up: queue.Queue[_Item] = queue.Queue(QUEUE_CHUNKS)
        down: queue.Queue[_Item] = queue.Queue(QUEUE_CHUNKS)
        self.threads = [
            threading.Thread(target=self._read, args=(downstream, up), name=f"{name}-read-up"),
            threading.Thread(target=self._write, args=(upstream, up), name=f"{name}-write-up"),
            threading.Thread(target=self._read, args=(upstream, down), name=f"{name}-read-down"),
            threading.Thread(
                target=self._write, args=(downstream, down), name=f"{name}-write-down"
            ),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def close(self, reset: bool) -> None:
        """End the connection on both sides (idempotent); the threads see it
        at once. A reset also drops what the kernel has not sent yet."""
        with self._lock:
            if self.closed.is_set():
                return
            self._reset = reset
            self.closed.set()
        for sock in self.sockets:
            # shutdown, not close: it wakes a thread blocked on the socket,
            # and the descriptor stays valid until every thread is done.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close_sockets(self) -> None:
        for sock in self.sockets:
            if self._reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
            sock.close()

    def _read(self, src: socket.socket, out: queue.Queue[_Item]) -> None:
        try:
            last_release = 0.0
            while not self.closed.is_set():
                try:
                    data = src.recv(CHUNK_BYTES)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    self._put(out, None)  # the writer ends the link once it sent the rest
                    break
                held, stalled, reset = self.relay._next_hold()
                if reset:
                    self.relay._count(resets=1)
                    self.close(reset=True)
                    break
                # Never before the previous chunk: a delayed link keeps order.
                last_release = max(time.monotonic() + held, last_release)
                self.relay._count(chunks=1, bytes=len(data), stalls=int(stalled))
                self._put(out, (last_release, data))
        finally:
            self._done()

    def _put(self, out: queue.Queue[_Item], item: _Item) -> None:
        # A full queue: stop reading until the writer catches up (back pressure).
        while not self.closed.is_set():
            try:
                out.put(item, timeout=TICK_S)
                return
            except queue.Full:
                continue

    def _write(self, dst: socket.socket, source: queue.Queue[_Item]) -> None:
        try:
            while not self.closed.is_set():
                try:
                    item = source.get(timeout=TICK_S)
                except queue.Empty:
                    continue
                if item is None:
                    self.close(reset=False)
                    break
                release, data = item
                if not self._hold_until(release) or not self._send(dst, data):
                    break
        finally:
            self._done()

    def _hold_until(self, release: float) -> bool:
        """Wait for ``release`` (monotonic); False if the link closed first."""
        while (left := release - time.monotonic()) > 0:
            if self.closed.wait(min(left, TICK_S)):
                return False
        return not self.closed.is_set()

    def _send(self, dst: socket.socket, data: bytes) -> bool:
        """Send all of ``data``; False if the link closed or failed first."""
        view = memoryview(data)
        while view and not self.closed.is_set():
            try:
                view = view[dst.send(view) :]
            except TimeoutError:
                continue  # the peer reads slowly: keep trying, but look at the flag
            except OSError:
                self.close(reset=True)
                return False
        return not view

    def _done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.close(reset=False)  # a no-op unless a thread died unexpectedly
            self.close_sockets()
            self.relay._forget(self)
