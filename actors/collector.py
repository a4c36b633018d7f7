"""When a cluster process runs CPython's cyclic garbage collector: on a clock.

CPython starts a collection when allocations minus deallocations of
container objects pass a threshold. A server's heap churns: every list it
loads from disk (a hundred-odd containers) evicts another from its cache,
so that difference hardly moves while the youngest generation fills with
every list loaded since the last collection. With 100,000 stored lists the
collection that finally came walked most of the cache: 0.3 to 0.9 s with
the process stopped (measured with ``gc.callbacks``), longer than a
request's timeout, so a healthy replica looked dead to the proxy.

So a cluster process turns automatic collection off and collects on a
clock instead: the young generation every :data:`YOUNG_INTERVAL_S`, the
middle one every :data:`MIDDLE_EVERY` rounds and everything every
:data:`FULL_EVERY` rounds. A young pause is bounded by what was allocated in
one interval, not by the size of the heap. What a list loaded for one write
allocates is freed by reference counting; the collector only ever finds
the odd cycle (an exception and its traceback), so collecting the old
generations rarely is safe.

The price is that a list which stays in the cache is walked once by a young
collection: with 100,000 lists, where most writes load one, about 10% of
the throughput (``run.py bench --lists 100000``, see docs/performance.md);
nothing measurable with 1,000.
"""

from __future__ import annotations

import gc
import time
from typing import Final

__all__ = ["FULL_EVERY", "MIDDLE_EVERY", "YOUNG_INTERVAL_S", "CollectorClock", "take_over"]

#: Seconds between two collections of the young generation.
YOUNG_INTERVAL_S: Final = 0.2
#: Young collections per collection of the middle generation (10 s).
MIDDLE_EVERY: Final = 50
#: Young collections per full collection (60 s).
FULL_EVERY: Final = 300


def take_over() -> None:
    """Stop automatic collection; what exists now (modules, classes) is never walked again.

    Call once at process start, before any state is loaded, then call
    :meth:`CollectorClock.collect` every :data:`YOUNG_INTERVAL_S`.
    """
    gc.freeze()
    gc.disable()


class CollectorClock:
    """Which generation each round of the clock collects. Used by one thread."""

    def __init__(
        self,
        interval_s: float = YOUNG_INTERVAL_S,
        middle_every: int = MIDDLE_EVERY,
        full_every: int = FULL_EVERY,
    ) -> None:
        if interval_s <= 0 or middle_every < 1 or full_every < 1:
            raise ValueError("the collector clock needs a positive interval and periods")
        self.interval_s = interval_s
        self.middle_every = middle_every
        self.full_every = full_every
        self.rounds = 0

    def next_generation(self) -> int:
        """The generation the next round collects (0 young, 1 middle, 2 all)."""
        n = self.rounds + 1
        if n % self.full_every == 0:
            return 2
        return 1 if n % self.middle_every == 0 else 0

    def collect(self) -> tuple[int, float]:
        """Run one round: returns (generation collected, pause in seconds)."""
        generation = self.next_generation()
        self.rounds += 1
        started = time.perf_counter()
        gc.collect(generation)
        return generation, time.perf_counter() - started
