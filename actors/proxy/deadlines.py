"""The time-outs of the proxy's attempts, in deadline order.

Every attempt gets the same time-out, so attempts made in time order fall
due in that order: a deque appended at the end and drained from the front
keeps them sorted at O(1) per attempt (a heap's pops were 4% of a loaded
proxy). An attempt whose deadline is earlier than the last one's (a clock
set back, as tests do) is inserted in its place. Pure code; used by the
coordinator on the proxy actor's thread.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator

__all__ = ["Deadlines"]


class Deadlines:
    """(deadline, attempt id) pairs, earliest first."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: deque[tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._due)

    def add(self, deadline_s: float, msg_id: str) -> None:
        """Note that attempt ``msg_id`` times out at ``deadline_s``."""
        entry, due = (deadline_s, msg_id), self._due
        if due and entry < due[-1]:
            bisect.insort(due, entry)
        else:
            due.append(entry)

    def expired(self, now: float) -> Iterator[str]:
        """Take out and yield, earliest first, the attempts due at ``now``."""
        due = self._due
        while due and due[0][0] <= now:
            yield due.popleft()[1]
