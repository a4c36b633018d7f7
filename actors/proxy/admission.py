"""Admission control: how many client requests the proxy takes on at once.

The proxy answers a client's request beyond its bounds with ``overloaded``
at once, instead of queueing it: under a burst every request gets an answer,
one client pipelining as fast as it can cannot starve the others, and the
proxy's memory stays bounded.

The proxy-wide bound is a concurrency limit that follows the replicas
(additive increase, multiplicative decrease, as TCP's window does): when
answers come back slower than a target, or fail because replicas did not
answer, the limit shrinks; while it is what holds requests back and answers
are quick, it grows. Taking on more than the replicas finish within the
request time-out only turns work into time-outs, which the coordinator then
retries on other replicas: more work, fewer answers (congestion collapse).
Each client may hold its fair share of the limit (the limit over the clients
with requests in flight), and one under its share is taken on even when the
limit is full, up to twice it: a newcomer is served beside clients that
pipeline thousands of requests, which are refused until they drain.

Pure bookkeeping, run by the coordinator on the proxy's bridge thread;
``now`` is passed in.
"""

from __future__ import annotations

import math
from typing import Final

from logs import Logger

__all__ = ["MAX_INFLIGHT", "MAX_INFLIGHT_PER_CLIENT", "MIN_INFLIGHT", "Admission"]

#: The most client requests in flight (not yet answered) the limit grows to.
MAX_INFLIGHT: Final = 4096
#: The least the limit shrinks to: a slow cluster still serves this many.
#: Well above what a few pipelining clients keep out (4 x 64 in the bench):
#: the proxy's own delay under a flood of refusals must not shrink the
#: limit below what normal load needs.
MIN_INFLIGHT: Final = 512
#: Where the limit starts: above what a few pipelining clients keep out.
INITIAL_INFLIGHT: Final = 1024
#: Requests of one client in flight before its new ones are refused.
MAX_INFLIGHT_PER_CLIENT: Final = 512
#: A client always gets this many, whatever its share of the limit.
MIN_PER_CLIENT: Final = 8
#: Clients under their fair share are taken on up to this many times the limit.
OVERSHOOT: Final = 2
#: Refusals are logged as one line per this interval, not one per request.
LOG_INTERVAL_S: Final = 1.0
#: The limit is adjusted once per window of this many seconds, on what the
#: window's answers showed (one slow answer is noise; a window of them is not).
WINDOW_S: Final = 0.1
#: More than this fraction of a window's answers slow or failed: shrink.
CONGESTED_FRACTION: Final = 0.05
#: How much the limit shrinks by, and grows by, per window.
DECREASE: Final = 0.8
INCREASE: Final = 0.1


class Admission:
    """Counts clients' unanswered requests, by the client's routing id, and
    keeps the proxy-wide limit.

    Args:
        log: for the (rate-limited) refusal and limit lines.
        max_inflight: the most the limit grows to.
        max_per_client: the most one client holds, whatever its share.
        target_s: an answer slower than this is a sign of congestion; the
            coordinator passes a fraction of its request time-out.
        min_inflight: the least the limit shrinks to.
    """

    def __init__(
        self,
        log: Logger,
        max_inflight: int | None = None,
        max_per_client: int | None = None,
        target_s: float = 0.1,
        min_inflight: int | None = None,
    ) -> None:
        self.log = log
        # Read when made, not when defined: tests lower the module's bounds.
        self.max_inflight = MAX_INFLIGHT if max_inflight is None else max_inflight
        self.max_per_client = MAX_INFLIGHT_PER_CLIENT if max_per_client is None else max_per_client
        self.min_inflight = min(
            self.max_inflight, MIN_INFLIGHT if min_inflight is None else min_inflight
        )
        self.target_s = target_s
        #: the current proxy-wide limit (a float: it grows by fractions)
        self.limit = float(max(self.min_inflight, min(INITIAL_INFLIGHT, self.max_inflight)))
        self.inflight = 0
        self._of: dict[bytes, int] = {}
        #: refusals since the last log line, and when that line was written
        self.refused = 0
        self._logged_at = float("-inf")
        # The current window: when it ends, its answers, how many of them
        # were slow or failed, and whether the limit turned anyone away.
        self._window_end = float("-inf")
        self._answers = 0
        self._congested = 0
        self._limited = False

    def share(self, peer: bytes) -> int:
        """How many requests ``peer`` may hold now: its fair share of the limit
        among the clients with requests in flight (itself included)."""
        clients = len(self._of) + (peer not in self._of)
        fair = math.ceil(self.limit / clients)
        return min(self.max_per_client, max(MIN_PER_CLIENT, fair))

    def admit(self, peer: bytes, now: float) -> str | None:
        """Take on a request of ``peer``, or say why not (a reason for the client)."""
        self._roll(now)
        mine = self._of.get(peer, 0)
        # A client under its fair share is taken on even past the limit (up
        # to twice it): the clients over theirs are refused until they drain,
        # so a newcomer is served beside clients that keep the limit full.
        if mine < self.share(peer) and self.inflight < OVERSHOOT * self.limit:
            self._of[peer] = mine + 1
            self.inflight += 1
            return None
        full = self.inflight >= self.limit
        # Only the proxy-wide limit holding requests back is a reason to grow it.
        self._limited = self._limited or full
        self.refused += 1
        if now - self._logged_at >= LOG_INTERVAL_S:
            self.log.warning(
                "proxy.overloaded",
                refused=self.refused,
                inflight=self.inflight,
                limit=int(self.limit),
                clients=len(self._of),
            )
            self._logged_at, self.refused = now, 0
        who = "the proxy has" if self.inflight >= OVERSHOOT * self.limit else "this client has"
        return f"overloaded: {who} too many requests in flight; retry later"

    def answered(self, peer: bytes, now: float, latency_s: float, congested: bool) -> None:
        """A request :meth:`admit` took on has its answer, ``latency_s`` after
        it was admitted; ``congested``: it failed because replicas did not
        answer in time (not because it was malformed)."""
        self._roll(now)
        self.inflight -= 1
        left = self._of[peer] - 1
        if left:
            self._of[peer] = left
        else:
            del self._of[peer]
        self._answers += 1
        if congested or latency_s > self.target_s:
            self._congested += 1

    def _roll(self, now: float) -> None:
        """Close the window that ended: adjust the limit on what it showed."""
        if now < self._window_end:
            return
        if self._answers and self._congested > CONGESTED_FRACTION * self._answers:
            self.limit = max(float(self.min_inflight), self.limit * DECREASE)
        elif self._limited or self.inflight >= self.limit:
            self.limit = min(float(self.max_inflight), self.limit * (1.0 + INCREASE))
        self._window_end = now + WINDOW_S
        self._answers = self._congested = 0
        self._limited = False
