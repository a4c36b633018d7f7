"""Records of stdlib loggers (pykka, tenacity) come out as the same JSON lines."""

from __future__ import annotations

import logging

from tests.logs.conftest import LogLines


def test_stdlib_error_is_a_json_line(configured: LogLines) -> None:
    logging.getLogger("pykka").error("actor %s crashed", "proxy-1")
    [line] = configured()
    line.pop("timestamp")
    expected = {
        "level": "error",
        "event": "actor proxy-1 crashed",
        "logger": "pykka",
        "node": "n1",
        "role": "server",
    }
    assert expected == line


def test_stdlib_levels_are_filtered_like_structlog_ones(configured: LogLines) -> None:
    log = logging.getLogger("tenacity")
    log.debug("retrying soon")
    log.info("retrying")
    log.warning("giving up")
    assert [("info", "retrying"), ("warning", "giving up")] == [
        (x["level"], x["event"]) for x in configured()
    ]


def test_stdlib_exception_carries_the_traceback(configured: LogLines) -> None:
    empty: dict[str, int] = {}
    try:
        empty["missing"]
    except KeyError:
        logging.getLogger("pykka").exception("unhandled")
    [line] = configured()
    assert ("error", "unhandled") == (line["level"], line["event"])
    assert "KeyError: 'missing'" in line["exception"]


def test_percent_signs_in_a_message_without_args_are_kept(configured: LogLines) -> None:
    logging.getLogger("pykka").warning("100% busy")
    assert ["100% busy"] == [x["event"] for x in configured()]


def test_a_record_at_a_custom_level_does_not_raise(configured: LogLines) -> None:
    logging.getLogger("some.library").log(25, "between info and warning")
    assert ["between info and warning"] == [x["event"] for x in configured()]
