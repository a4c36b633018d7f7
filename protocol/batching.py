"""Splitting what one process batches into frames the protocol accepts.

A batch message (``StoreBatch``, ``StoredBatch``) holds at most
:data:`~protocol.limits.MAX_BATCH_ITEMS` entries, and its frame at most
:data:`~protocol.limits.MAX_FRAME_BYTES` bytes. A process that batches the
work of one poll can gather more than that under load; it splits the batch
with :func:`split`, so that no message the system itself builds is ever
refused by its peer. Pure code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeVar

from protocol.limits import MAX_BATCH_ITEMS, MAX_FRAME_BYTES

__all__ = ["BATCH_BYTES", "split"]

T = TypeVar("T")

#: The bytes of entries one batch frame may carry: half the frame limit,
#: which leaves room for the envelope and msgpack's per-entry framing.
BATCH_BYTES: Final = MAX_FRAME_BYTES // 2


def split(
    items: Sequence[T],
    size_of: Callable[[T], int],
    *,
    max_items: int = MAX_BATCH_ITEMS,
    max_bytes: int = BATCH_BYTES,
) -> Iterator[list[T]]:
    """``items`` in order, in runs of at most ``max_items`` whose sizes add
    up to at most ``max_bytes``; an item larger than ``max_bytes`` alone
    makes a run of one (it fits a message of its own).

    Raises:
        ValueError: ``max_items`` or ``max_bytes`` is below 1.
    """
    if max_items < 1 or max_bytes < 1:
        raise ValueError("max_items and max_bytes must be >= 1")
    run: list[T] = []
    run_bytes = 0
    for item in items:
        size = size_of(item)
        if run and (len(run) == max_items or run_bytes + size > max_bytes):
            yield run
            run, run_bytes = [], 0
        run.append(item)
        run_bytes += size
    if run:
        yield run
