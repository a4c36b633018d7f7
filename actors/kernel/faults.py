"""Fault injection for a bridge: drop, delay or duplicate messages on a link.

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

import os
import random
import time

import msgspec

from protocol import FaultRule

__all__ = ["FaultInjector", "rules_from_env"]

#: (rule, expiry as time.monotonic(), or None for never)
_Active = tuple[tuple[FaultRule, float | None], ...]


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
    """The :class:`actors.kernel.bridge.FaultPolicy` of one bridge."""

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

    def decide(self, direction: str, channel: str, peer: bytes) -> tuple[int, float]:
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
