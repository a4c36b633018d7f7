"""Structured JSON logs and per-request tracing."""

from __future__ import annotations

from logs.config import Logger, configure, get_logger
from logs.processors import StaticFields, render_json_bytes
from logs.throttle import ThrottledWarning
from logs.tracing import TraceContext, Tracer, bound_trace, new_trace_id

__all__ = [
    "Logger",
    "StaticFields",
    "ThrottledWarning",
    "TraceContext",
    "Tracer",
    "bound_trace",
    "configure",
    "get_logger",
    "new_trace_id",
    "render_json_bytes",
]
