"""Fault injection for a bridge: drop, delay or duplicate messages on a link.

A bridge given a :class:`FaultPolicy` wraps each of its links in a
:class:`FaultyLink`, which asks the policy about every message; a bridge
without one uses its plain links, and its messages pay nothing for this.

Off by default: a bridge has no injector unless the topology lists fault
rules, ``$SHOPLIST_FAULTS`` holds some (JSON, same fields as
:class:`protocol.FaultRule`), or the topology enables ``debug`` (then the
proxy installs rules at run time on a ``DebugFaults`` request, which is how
chaos tests cut the proxy off from one server without killing it).

Rules are matched in order; the first rule that matches a message decides
its fate. Rules are replaced as a whole (a single reference swap), so the
bridge thread reads them and the actor, hosted by that thread, installs new ones
(tests may install rules from their own thread).
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from actors.kernel.channels import Link
from actors.kernel.messages import Channel, Delivery, Inbound
from protocol import FaultRule

__all__ = ["Direction", "FaultInjector", "FaultPolicy", "FaultyLink", "rules_from_env"]

#: Which way a message crosses the link: received or sent.
Direction = Literal["in", "out"]

#: (rule, expiry as time.monotonic(), or None for never)
_Active = tuple[tuple[FaultRule, float | None], ...]


class FaultPolicy(Protocol):
    """Decides the fate of one message on a link; :class:`FaultInjector` is one.

    Runs in the bridge thread. Returns how many copies to pass on (0 drops
    it, 2 duplicates it) and a delay in seconds.
    """

    def decide(self, direction: Direction, channel: Channel, peer: bytes) -> tuple[int, float]: ...


def rules_from_env(var: str = "SHOPLIST_FAULTS") -> list[FaultRule]:
    """Fault rules from an environment variable (empty when unset).

    Raises:
        ValueError: the variable does not hold a JSON list of rules.
    """
    raw = os.environ.get(var, "").strip()
    if not raw:
        return []
    try:
        return msgspec.json.decode(raw, type=list[FaultRule])
    except msgspec.DecodeError as exc:
        raise ValueError(f"${var}: not a JSON list of fault rules: {exc}") from None


class FaultInjector:
    """The :class:`FaultPolicy` of one bridge, made of :class:`protocol.FaultRule`s."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._active: _Active = tuple((r, None) for r in rules or ())

    def install(self, rules: list[FaultRule], duration_s: float = 0.0) -> None:
        """Replace the rules; they expire after ``duration_s`` (0: until replaced).

        An empty list clears every rule. Called by the actor, on the bridge thread.
        """
        until = time.monotonic() + duration_s if duration_s > 0 else None
        self._active = tuple((r, until) for r in rules)

    @property
    def rules(self) -> list[FaultRule]:
        now = time.monotonic()
        return [r for r, until in self._active if until is None or until > now]

    def decide(self, direction: Direction, channel: Channel, peer: bytes) -> tuple[int, float]:
        """How many copies of the message to pass on, and after what delay. Bridge thread."""
        active = self._active
        if not active:
            return 1, 0.0
        now = time.monotonic()
        for rule, until in active:
            if until is not None and now >= until:
                continue
            if rule.direction not in ("both", direction):
                continue
            if rule.channel not in ("*", channel):
                continue
            if rule.peer != "*" and rule.peer.encode() != peer:
                continue
            if rule.drop and self._rng.random() < rule.drop:
                return 0, 0.0
            copies = 2 if rule.duplicate and self._rng.random() < rule.duplicate else 1
            return copies, rule.delay_s
        return 1, 0.0


class FaultyLink:
    """A :class:`~actors.kernel.channels.Link` that does to each message what
    ``policy`` decides. Every method runs in the bridge thread.

    Args:
        link: the link to the socket.
        policy: decides each message's fate.
        later: runs an action on the bridge thread after a delay in seconds.
        deliver: tells the actor a (delayed) :class:`Inbound`.
    """

    __slots__ = ("_deliver", "_later", "_link", "_policy", "channel")

    def __init__(
        self,
        link: Link,
        policy: FaultPolicy,
        later: Callable[[float, Callable[[], None]], None],
        deliver: Callable[[Inbound], None],
    ) -> None:
        self.channel: Channel = link.channel
        self._link = link
        self._policy = policy
        self._later = later
        self._deliver = deliver

    def read(self, batch: list[Delivery]) -> None:
        """Read through the link, then drop, delay or duplicate each message.

        A delayed message reaches the actor later in an ``Inbound`` of its
        own (its copies, if duplicated); the rest keep their order in ``batch``.
        """
        received: list[Delivery] = []
        self._link.read(received)
        decide = self._policy.decide
        for delivery in received:
            copies, delay_s = decide("in", delivery.channel, delivery.peer)
            if copies == 0:
                continue
            if delay_s > 0:
                item = Inbound([delivery] * copies)
                self._later(delay_s, functools.partial(self._deliver, item))
                continue
            batch.extend([delivery] * copies)

    def send(self, peer: bytes, payload: bytes) -> None:
        """Send ``payload`` as often as the policy says: now, or after its delay."""
        copies, delay_s = self._policy.decide("out", self.channel, peer)
        if delay_s > 0 and copies:
            self._later(delay_s, functools.partial(self._send, peer, payload, copies))
            return
        self._send(peer, payload, copies)

    def _send(self, peer: bytes, payload: bytes, copies: int) -> None:
        for _ in range(copies):
            self._link.send(peer, payload)
