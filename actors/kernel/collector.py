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
clock instead: the young generation every :data:`YOUNG_INTERVAL_S`, and
every :data:`SETTLE_EVERY` rounds the young and middle generations, after
which whatever survived is *settled*: frozen (``gc.freeze()``), never walked
again. A pause is then bounded by what was allocated in one interval, not
by the size of the heap, also when a server holds tens of thousands of
lists in its cache: walking those again and again took 0.3 s (middle) and
1.3 s (full) per collection with 60,000 cached lists.

Settling is safe because our state is acyclic: a cached list that is
evicted, frozen or not, is freed by reference counting at once. What a
frozen object cannot be is collected as part of a cycle; so a cycle that is
alive when a round settles it, and becomes garbage later, stays until the
next *thaw* (every :data:`THAW_EVERY` rounds: unfreeze everything, collect
everything, settle again). Such cycles are rare: in a benchmark run the
collector found none at all once the process was serving (every cycle it
ever found was made at start-up). The thaw's pause grows with the heap
(1.3 s with 60,000 cached lists), once an hour.
"""

from __future__ import annotations

import gc
import time
from typing import Final

__all__ = ["SETTLE_EVERY", "THAW_EVERY", "YOUNG_INTERVAL_S", "CollectorClock", "take_over"]

#: Seconds between two collections of the young generation.
YOUNG_INTERVAL_S: Final = 0.2
#: Young collections per round that also collects the middle generation and
#: settles the survivors (1 s).
SETTLE_EVERY: Final = 5
#: Young collections per thaw: a full collection of everything (1 h).
THAW_EVERY: Final = 18_000
#: What each kind of round collects, as passed to ``gc.collect``.
YOUNG, SETTLE, THAW = 0, 1, 2


def take_over() -> None:
    """Stop automatic collection; what exists now (modules, classes) is settled.

    Call once at process start, before any state is loaded, then call
    :meth:`CollectorClock.collect` every :data:`YOUNG_INTERVAL_S`.
    """
    gc.freeze()
    gc.disable()


class CollectorClock:
    """Which collection each round of the clock runs. Used by one thread."""

    def __init__(
        self,
        interval_s: float = YOUNG_INTERVAL_S,
        settle_every: int = SETTLE_EVERY,
        thaw_every: int = THAW_EVERY,
    ) -> None:
        if interval_s <= 0 or settle_every < 1 or thaw_every < 1:
            raise ValueError("the collector clock needs a positive interval and periods")
        self.interval_s = interval_s
        self.settle_every = settle_every
        self.thaw_every = thaw_every
        self.rounds = 0

    def next_generation(self) -> int:
        """What the next round does: :data:`YOUNG`, :data:`SETTLE` or :data:`THAW`."""
        n = self.rounds + 1
        if n % self.thaw_every == 0:
            return THAW
        return SETTLE if n % self.settle_every == 0 else YOUNG

    def collect(self) -> tuple[int, float]:
        """Run one round: returns (what it did, pause in seconds)."""
        generation = self.next_generation()
        self.rounds += 1
        started = time.perf_counter()
        if generation == THAW:
            gc.unfreeze()
        gc.collect(generation)
        if generation != YOUNG:
            gc.freeze()
        return generation, time.perf_counter() - started
