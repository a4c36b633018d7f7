"""Per-request tracing: which hops get logged, and with which ids.

A request is *traced* when its client asked for it (``--trace``) or when it
falls into the sample (``sample_rate``). The flag travels in every message of
the request, so every process it touches logs its hops at ``trace_level``
(INFO by default) and ``run.py trace`` can stitch them together. Untraced
requests log their hops at DEBUG only when the process logs at DEBUG
(``debug_hops``); otherwise a hop costs one attribute test: no per-message
line at INFO, and no per-message work either.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import structlog

from logs.config import Logger

__all__ = ["TraceContext", "Tracer", "bound_trace", "new_trace_id"]


class TraceContext(Protocol):
    """What a message must expose to be traced (every protocol message does)."""

    @property
    def trace_id(self) -> str: ...
    @property
    def msg_id(self) -> str: ...
    @property
    def traced(self) -> bool: ...


def new_trace_id() -> str:
    """A fresh 64-bit trace id, as 16 hex digits."""
    return os.urandom(8).hex()


@contextmanager
def bound_trace(msg: TraceContext) -> Iterator[None]:
    """Bind ``trace_id`` and ``msg_id`` of ``msg`` to every log line in this block.

    Uses structlog's contextvars, so it is safe across threads: each actor
    thread has its own binding.
    """
    with structlog.contextvars.bound_contextvars(trace_id=msg.trace_id, msg_id=msg.msg_id):
        yield


class Tracer:
    """Decides whether a request is traced and logs its hops.

    Args:
        trace_level: the level at which hops of traced requests are logged.
        sample_rate: fraction of new requests traced without being asked to.
        debug_hops: also log the hops of untraced requests, at DEBUG.
    """

    def __init__(
        self, trace_level: str = "INFO", sample_rate: float = 0.0, debug_hops: bool = False
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in [0, 1], got {sample_rate}")
        level = logging.getLevelName(trace_level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown trace level {trace_level!r}")
        self.trace_level = level
        self.sample_rate = sample_rate
        #: log untraced hops at DEBUG too (when the log level is DEBUG); off,
        #: an untraced hop costs one attribute test
        self.debug_hops = debug_hops

    def sample(self, forced: bool = False) -> bool:
        """Whether a new request should be traced."""
        return forced or (self.sample_rate > 0.0 and random.random() < self.sample_rate)

    def hop(self, log: Logger, event: str, msg: TraceContext, **fields: Any) -> None:
        """Log one hop of a request: at the trace level if traced, else at DEBUG
        if ``debug_hops``, else not at all."""
        if msg.traced:
            log.log(
                self.trace_level,
                event,
                trace_id=msg.trace_id,
                msg_id=msg.msg_id,
                hop=True,
                **fields,
            )
        elif self.debug_hops:
            log.debug(event, trace_id=msg.trace_id, msg_id=msg.msg_id, hop=True, **fields)
