"""Admission control: how many client requests the proxy takes on at once.

The proxy answers a client's request that would exceed either bound with
``overloaded`` at once, instead of queueing it: under a burst every request
gets an answer, one client pipelining as fast as it can cannot starve the
others, and the proxy's memory stays bounded. Pure bookkeeping, run by the
coordinator on the proxy's bridge thread; ``now`` is passed in.
"""

from __future__ import annotations

from typing import Final

from logs import Logger

__all__ = ["MAX_INFLIGHT", "MAX_INFLIGHT_PER_CLIENT", "Admission"]

#: Client requests in flight (not yet answered) before new ones are refused.
MAX_INFLIGHT: Final = 20_000
#: Requests of one client in flight before its new ones are refused.
MAX_INFLIGHT_PER_CLIENT: Final = 512
#: Refusals are logged as one line per this interval, not one per request.
LOG_INTERVAL_S: Final = 1.0


class Admission:
    """Counts clients' unanswered requests, by the client's routing id."""

    def __init__(
        self,
        log: Logger,
        max_inflight: int | None = None,
        max_per_client: int | None = None,
    ) -> None:
        self.log = log
        # Read when made, not when defined: tests lower the module's bounds.
        self.max_inflight = MAX_INFLIGHT if max_inflight is None else max_inflight
        self.max_per_client = MAX_INFLIGHT_PER_CLIENT if max_per_client is None else max_per_client
        self.inflight = 0
        self._of: dict[bytes, int] = {}
        #: refusals since the last log line, and when that line was written
        self.refused = 0
        self._logged_at = float("-inf")

    def admit(self, peer: bytes, now: float) -> str | None:
        """Take on a request of ``peer``, or say why not (a reason for the client)."""
        mine = self._of.get(peer, 0)
        if mine < self.max_per_client and self.inflight < self.max_inflight:
            self._of[peer] = mine + 1
            self.inflight += 1
            return None
        self.refused += 1
        if now - self._logged_at >= LOG_INTERVAL_S:
            self.log.warning("proxy.overloaded", refused=self.refused, inflight=self.inflight)
            self._logged_at, self.refused = now, 0
        who = "this client has" if mine >= self.max_per_client else "the proxy has"
        return f"overloaded: {who} too many requests in flight; retry later"

    def answered(self, peer: bytes) -> None:
        """A request :meth:`admit` took on has its answer."""
        self.inflight -= 1
        left = self._of[peer] - 1
        if left:
            self._of[peer] = left
        else:
            del self._of[peer]
