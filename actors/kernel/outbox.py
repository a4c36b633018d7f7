"""The way out of an actor to its bridge's sockets, and the bridge's wake-up.

Actors never touch network sockets (pyzmq sockets are not thread-safe): an
:class:`Outbox` queues encoded messages for the bridge thread, which sends
them after its actors' round, and a :class:`Waker` wakes the bridge's poll
when something is queued from another thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from typing import Final, Literal

from actors.kernel.messages import Channel
from actors.kernel.runtime import ActorHost
from protocol import Message, encode

__all__ = ["SUBSCRIBE", "Outbound", "Outbox", "Waker"]

#: Channel of an outbox control message (no channel name starts with NUL).
SUBSCRIBE: Final[Literal["\x00subscribe"]] = "\x00subscribe"
#: A message awaiting the bridge: (channel, peer or topic, payload), or
#: (:data:`SUBSCRIBE`, SUB channel, topic).
Outbound = tuple[Channel | Literal["\x00subscribe"], bytes, bytes]


class Waker:
    """Wakes the bridge thread's poll from other threads.

    An eventfd on Linux (one syscall to wake, one to reset), a non-blocking
    pipe elsewhere. zmq's poller watches its file descriptor next to the
    sockets.
    """

    def __init__(self) -> None:
        # wake() and close() may race (a late tell, a stop after the loop
        # ended): a write to a closed fd could hit whatever reused its number.
        self._lock = threading.Lock()
        self._closed = False
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._r, self._w, self._eventfd = fd, fd, True
        else:  # pragma: no cover - not Linux
            self._r, self._w = os.pipe()
            os.set_blocking(self._r, False)
            os.set_blocking(self._w, False)
            self._eventfd = False

    def fileno(self) -> int:
        return self._r

    @property
    def closed(self) -> bool:
        return self._closed

    def wake(self) -> None:
        """Any thread; does nothing once closed."""
        with self._lock, contextlib.suppress(BlockingIOError):
            if self._closed:
                return
            if self._eventfd:
                os.eventfd_write(self._w, 1)
            else:  # pragma: no cover - not Linux
                os.write(self._w, b"\0")

    def drain(self) -> None:
        """The bridge thread, once woken."""
        with contextlib.suppress(BlockingIOError):
            if self._eventfd:
                os.eventfd_read(self._r)
            else:  # pragma: no cover - not Linux
                while os.read(self._r, 4096):
                    pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._r)
            if self._w != self._r:  # pragma: no cover - not Linux
                os.close(self._w)


class Outbox:
    """An actor's way out to the network, through the bridge.

    Messages are encoded by the caller and appended to the bridge's outbound
    queue (a deque: append and popleft are atomic). On the bridge thread,
    where hosted actors run, the bridge sends them after the actors' round;
    from another thread, :meth:`flush` wakes the bridge once, however many
    messages were queued. Used by one thread at a time.
    """

    def __init__(self, queue: deque[Outbound], host: ActorHost) -> None:
        self._queue = queue
        self._host = host
        self._queued = False

    def send(self, channel: Channel, peer: bytes, msg: Message) -> None:
        """Send ``msg`` on ``channel``, to ``peer`` on a ROUTER (ignored elsewhere)."""
        self._queue.append((channel, peer, encode(msg)))
        self._queued = True

    def publish(self, channel: Channel, topic: bytes, msg: Message) -> None:
        """Publish ``msg`` under ``topic`` on a PUB channel."""
        self._queue.append((channel, topic, encode(msg)))
        self._queued = True

    def subscribe(self, channel: Channel, topic: bytes) -> None:
        """Ask the bridge to subscribe its SUB socket ``channel`` to ``topic``."""
        self._queue.append((SUBSCRIBE, channel.encode(), topic))
        self._queued = True

    def flush(self) -> None:
        """Wake the bridge if anything was queued since the last flush (and
        this is not the bridge thread, which sends after its actors' round)."""
        if self._queued:
            self._queued = False
            self._host.notify()

    def close(self) -> None:
        self.flush()
