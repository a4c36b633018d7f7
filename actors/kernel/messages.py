"""Messages that stay inside one process: bridge -> actor, and actor commands.

Wire messages live in :mod:`protocol`; these wrap them with where they came
from (a :data:`Channel`), or carry time and link events that no peer sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocol import Message

__all__ = ["Channel", "Delivery", "Inbound", "LinkEvent", "SendFailure", "Tick", "Undeliverable"]

#: The socket names of every process, so that mypy checks each name passed
#: to a bridge or an outbox. The proxy binds ``frontend`` (clients: requests,
#: replies, and the updates of the lists they watch), and ``backend``,
#: ``hello`` and ``liveness`` (servers), all ROUTERs; a server connects a
#: DEALER to each of the last three, a client one to ``frontend``. Nothing
#: checks a name at run time, so tests name theirs as they like
#: (``router``). Defined here, below every other kernel module, because
#: these messages carry it.
Channel = Literal["frontend", "backend", "hello", "liveness"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One decoded message and where it came from."""

    channel: Channel
    #: the ROUTER routing id of the sender; empty on DEALER and SUB sockets
    peer: bytes
    msg: Message


@dataclass(frozen=True, slots=True)
class Inbound:
    """Everything one poll of the bridge received, in arrival order.

    Batching the messages of a poll into one ``tell`` lets an actor commit a
    group of writes in one transaction, and costs one thread wake-up instead
    of one per message.
    """

    deliveries: list[Delivery]


@dataclass(frozen=True, slots=True)
class Tick:
    """The bridge's heartbeat: time moved on (``time.monotonic()``)."""

    now: float


#: Why a send failed: no such peer on a ROUTER (``ROUTER_MANDATORY``), or
#: the peer's queue is full or no peer is connected (``EAGAIN``).
SendFailure = Literal["unreachable", "queue full or not connected"]


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """A message the bridge could not send: no such peer (ROUTER_MANDATORY),
    or the peer's queue is full. The actor decides whether that fails a request."""

    channel: Channel
    peer: bytes
    msg: Message
    reason: SendFailure


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A connect-side socket connected to or lost its peer."""

    channel: Channel
    connected: bool
