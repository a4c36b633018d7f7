"""Fixtures that give each logs test a clean structlog and stdlib logging setup."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

import logs
import logs.config

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture(autouse=True)
def isolated_logging() -> Iterator[None]:
    """Undo whatever ``logs.configure`` and ``bound_trace`` did during the test."""
    root = logging.getLogger()
    level = root.level
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    for handler in list(root.handlers):
        if type(handler).__module__ == "logs.config":
            root.removeHandler(handler)
    root.setLevel(level)
    # configure() keeps its log file open until the next call; close it now.
    for stream in logs.config._open_files:
        stream.close()
    logs.config._open_files.clear()


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` parsed as JSON; each must be one object."""
    lines = path.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(obj, dict) for obj in parsed), lines
    return parsed


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "node.log"


@pytest.fixture
def configured(log_file: Path) -> LogLines:
    """``logs.configure`` for node n1 (a server) at INFO into a temp file; returns a reader."""
    logs.configure("n1", "server", log_file)
    return lambda: read_lines(log_file)
