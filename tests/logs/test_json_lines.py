"""logs.configure: every line is one JSON object with the standard fields."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

import logs
from tests.logs.conftest import LogLines, read_lines


def test_a_line_has_timestamp_level_event_node_and_role(configured: LogLines) -> None:
    before = datetime.now(UTC)
    structlog.get_logger().info("list saved", acks=2, list_id="l-1")
    after = datetime.now(UTC)

    [line] = configured()
    stamp = datetime.fromisoformat(line.pop("timestamp"))
    assert UTC.utcoffset(None) == stamp.utcoffset()
    assert before <= stamp <= after
    expected = {
        "level": "info",
        "event": "list saved",
        "node": "n1",
        "role": "server",
        "acks": 2,
        "list_id": "l-1",
    }
    assert expected == line


def test_standard_fields_come_first(configured: LogLines) -> None:
    structlog.get_logger().warning("late", zzz=1, aaa=2)
    [line] = configured()  # json keeps the order of the keys in the line
    assert ["timestamp", "level", "node", "role", "event", "zzz", "aaa"] == list(line)


def test_one_line_per_event(configured: LogLines, log_file: Path) -> None:
    log = structlog.get_logger()
    log.info("first", text="a\nb")
    log.error("second")
    log.warning("third", data={"nested": [1, 2]})
    assert 3 == len(log_file.read_bytes().splitlines())
    assert ["first", "second", "third"] == [line["event"] for line in configured()]
    assert "a\nb" == configured()[0]["text"]


def test_levels_below_the_configured_one_are_dropped(log_file: Path) -> None:
    logs.configure("n1", "server", log_file, level="warning")
    log = structlog.get_logger()
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert [("warning", "w"), ("error", "e")] == [
        (line["level"], line["event"]) for line in read_lines(log_file)
    ]


def test_debug_level_writes_debug_lines(log_file: Path) -> None:
    logs.configure("n1", "server", log_file, level="DEBUG")
    structlog.get_logger().debug("details")
    assert [("debug", "details")] == [(x["level"], x["event"]) for x in read_lines(log_file)]


def test_unknown_level_is_rejected(log_file: Path) -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        logs.configure("n1", "server", log_file, level="LOUD")


def test_values_json_cannot_express_are_logged_as_text(configured: LogLines) -> None:
    structlog.get_logger().info("odd values", path=Path("/tmp/x"), error=KeyError("k"))
    [line] = configured()
    assert "/tmp/x" == line["path"]
    assert "KeyError('k')" == line["error"]


def test_exceptions_are_rendered_as_text(configured: LogLines) -> None:
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        structlog.get_logger().exception("handler failed")
    [line] = configured()
    assert "error" == line["level"]
    assert "RuntimeError: kaput" in line["exception"]


def test_configuring_again_replaces_file_and_fields(tmp_path: Path) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    logs.configure("n1", "server", first)
    structlog.get_logger().info("one")
    logs.configure("proxy", "proxy", second)
    structlog.get_logger().info("two")
    logging.getLogger("pykka").warning("three")

    assert [("one", "n1", "server")] == [
        (x["event"], x["node"], x["role"]) for x in read_lines(first)
    ]
    # One stdlib bridge only: the stdlib record is not written twice.
    assert [("two", "proxy", "proxy"), ("three", "proxy", "proxy")] == [
        (x["event"], x["node"], x["role"]) for x in read_lines(second)
    ]


def test_appends_to_an_existing_file(log_file: Path) -> None:
    log_file.parent.mkdir(parents=True)
    log_file.write_text('{"event":"earlier"}\n', encoding="utf-8")
    logs.configure("n1", "server", log_file)
    structlog.get_logger().info("later")
    assert ["earlier", "later"] == [line["event"] for line in read_lines(log_file)]
