"""One call per process sets up JSON logging for structlog and the stdlib."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from structlog.typing import FilteringBoundLogger
from typing_extensions import override

from logs.processors import StaticFields, render_json_bytes

__all__ = ["Logger", "configure", "get_logger"]

_open_files: list[BinaryIO] = []


class _ToStructlog(logging.Handler):
    """Send stdlib records (pykka, tenacity) through structlog, so they are JSON too."""

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            # structlog knows the standard levels only: round custom ones down.
            level = max((lv for lv in _LEVELS if lv <= record.levelno), default=logging.DEBUG)
            structlog.get_logger().log(level, record.getMessage(), **fields)
        except Exception:  # noqa: BLE001 - a log call must never raise into its caller
            self.handleError(record)


_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


def configure(
    node_id: str,
    role: str,
    log_path: str | Path | None = None,
    level: str = "INFO",
) -> None:
    """Make every log line of this process one JSON object.

    Each line has an ISO-8601 UTC ``timestamp``, ``level``, ``event``,
    ``node`` and ``role``, plus ``trace_id`` and ``msg_id`` when a message's
    trace context is bound (:func:`logs.bound_trace`).

    Args:
        node_id: this process's node id (server id, ``proxy``, client id).
        role: ``proxy``, ``server``, ``client`` or ``supervisor``.
        log_path: append to this file (its folder is created); stderr if None.
        level: the lowest level written.

    Call it once at process start, before other threads log; calling it
    again (in tests) replaces the previous configuration.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    for stale in _open_files:
        stale.close()
    _open_files.clear()
    if log_path is None:
        sink: BinaryIO = sys.stderr.buffer
    else:
        path = Path(log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = path.open("ab")
        _open_files.append(sink)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            StaticFields(node=node_id, role=role),
            structlog.processors.format_exc_info,
            render_json_bytes,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.BytesLoggerFactory(sink),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToStructlog):
            root.removeHandler(handler)
    root.addHandler(_ToStructlog())
    root.setLevel(numeric)


#: The type of every logger of the project: structlog's filtering bound
#: logger, which :func:`configure` installs (``structlog.get_logger`` is
#: typed ``Any``; this is what it returns once configured).
Logger = FilteringBoundLogger


def get_logger(name: str) -> Logger:
    """A typed logger named ``name``. Safe at import time: structlog binds it
    lazily, so it follows a :func:`configure` made later."""
    logger: Logger = structlog.get_logger(name)
    return logger
