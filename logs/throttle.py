"""A warning that a flood of causes cannot turn into a flood of log lines."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from logs.config import Logger

__all__ = ["ThrottledWarning"]


class ThrottledWarning:
    """Logs ``event`` at most once per ``interval_s``, with how many times it
    happened since the last line (``refused``). Owned by one thread.

    Args:
        log: where the line goes.
        event: the event name.
        interval_s: the least time between two lines.
        clock: ``time.monotonic`` (tests pass their own).
    """

    def __init__(
        self,
        log: Logger,
        event: str,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.event = event
        self.interval_s = interval_s
        self._clock = clock
        self._logged_at = float("-inf")
        #: happened since the last line
        self.pending = 0

    def happened(self, n: int = 1, **fields: Any) -> bool:
        """Count ``n`` more; log with ``fields`` if the interval has passed. True if logged."""
        self.pending += n
        now = self._clock()
        if now - self._logged_at < self.interval_s:
            return False
        self.log.warning(self.event, refused=self.pending, **fields)
        self._logged_at, self.pending = now, 0
        return True
