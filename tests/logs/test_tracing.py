"""bound_trace, Tracer and trace ids."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
import structlog
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

import logs
from protocol import Get, Put
from tests.logs.conftest import LogLines

LIST_ID = str(uuid.UUID(int=42, version=4))
TRACED = Get(msg_id="m-1", trace_id="0123456789abcdef", sender="c1", traced=True, list_id=LIST_ID)
UNTRACED = Put(msg_id="m-2", trace_id="fedcba9876543210", list_id=LIST_ID, state=b"")


def ids(line: Mapping[str, Any]) -> tuple[Any, Any]:
    return line.get("trace_id"), line.get("msg_id")


# ---------------------------------------------------------------- bound_trace


def test_bound_trace_adds_ids_only_inside_the_block(configured: LogLines) -> None:
    log = structlog.get_logger()
    log.info("before")
    with logs.bound_trace(TRACED):
        log.info("inside")
    log.info("after")

    assert [
        ("before", (None, None)),
        ("inside", ("0123456789abcdef", "m-1")),
        ("after", (None, None)),
    ] == [(line["event"], ids(line)) for line in configured()]


def test_bound_ids_come_right_after_the_event(configured: LogLines) -> None:
    with logs.bound_trace(TRACED):
        structlog.get_logger().info("inside", extra=1)
    [line] = configured()
    assert ["timestamp", "level", "node", "role", "event", "trace_id", "msg_id", "extra"] == list(
        line
    )


def test_nested_bound_trace_restores_the_outer_ids() -> None:
    log = structlog.get_logger()
    with capture_logs(processors=[merge_contextvars]) as captured:
        with logs.bound_trace(TRACED):
            with logs.bound_trace(UNTRACED):
                log.info("inner")
            log.info("outer")
        log.info("none")
    assert [
        ("fedcba9876543210", "m-2"),
        ("0123456789abcdef", "m-1"),
        (None, None),
    ] == [ids(entry) for entry in captured]


def test_bound_trace_unbinds_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), logs.bound_trace(TRACED):
        raise RuntimeError("handler failed")
    with capture_logs(processors=[merge_contextvars]) as captured:
        structlog.get_logger().info("later")
    assert [(None, None)] == [ids(entry) for entry in captured]


def test_bound_trace_is_per_thread() -> None:
    seen: list[Mapping[str, Any]] = []

    def other_thread() -> None:
        seen.append(merge_contextvars(None, "info", {}))

    with logs.bound_trace(TRACED):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        here = merge_contextvars(None, "info", {})
    assert [{}] == seen
    assert {"trace_id": "0123456789abcdef", "msg_id": "m-1"} == here


# --------------------------------------------------------------------- Tracer


def test_hop_of_a_traced_message_is_logged_at_info() -> None:
    with capture_logs() as captured:
        logs.Tracer().hop(structlog.get_logger(), "stored", TRACED, replica="s2")
    expected = {
        "event": "stored",
        "log_level": "info",
        "trace_id": "0123456789abcdef",
        "msg_id": "m-1",
        "hop": True,
        "replica": "s2",
    }
    assert [expected] == captured


def test_hop_of_an_untraced_message_is_logged_at_debug_with_debug_hops() -> None:
    with capture_logs() as captured:
        logs.Tracer(debug_hops=True).hop(structlog.get_logger(), "stored", UNTRACED)
    expected = {
        "event": "stored",
        "log_level": "debug",
        "trace_id": "fedcba9876543210",
        "msg_id": "m-2",
        "hop": True,
    }
    assert [expected] == captured


def test_hop_of_an_untraced_message_costs_no_log_call_by_default() -> None:
    with capture_logs() as captured:
        logs.Tracer().hop(structlog.get_logger(), "stored", UNTRACED)
    assert [] == captured


def test_at_info_only_traced_hops_reach_the_log(configured: LogLines) -> None:
    tracer = logs.Tracer()
    log = structlog.get_logger()
    tracer.hop(log, "received", UNTRACED)
    tracer.hop(log, "received", TRACED)
    [line] = configured()
    assert ("info", "received", True) == (line["level"], line["event"], line["hop"])
    assert ("0123456789abcdef", "m-1") == ids(line)


def test_trace_level_is_configurable() -> None:
    with capture_logs() as captured:
        logs.Tracer(trace_level="warning").hop(structlog.get_logger(), "slow", TRACED)
        logs.Tracer(trace_level="DEBUG").hop(structlog.get_logger(), "fast", TRACED)
    assert [("slow", "warning"), ("fast", "debug")] == [
        (entry["event"], entry["log_level"]) for entry in captured
    ]


@pytest.mark.parametrize("rate", [-0.01, 1.01, 2.0, -math.inf, math.inf, math.nan])
def test_sample_rate_must_be_within_zero_and_one(rate: float) -> None:
    with pytest.raises(ValueError, match="sample_rate must be in"):
        logs.Tracer(sample_rate=rate)


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0, 0, 1])
def test_sample_rates_within_zero_and_one_are_accepted(rate: float) -> None:
    assert rate == logs.Tracer(sample_rate=rate).sample_rate


def test_unknown_trace_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown trace level 'LOUD'"):
        logs.Tracer(trace_level="LOUD")


def test_sampling() -> None:
    never, always = logs.Tracer(sample_rate=0.0), logs.Tracer(sample_rate=1.0)
    assert [False] * 50 == [never.sample() for _ in range(50)]
    assert [True] * 50 == [never.sample(forced=True) for _ in range(50)]
    assert [True] * 50 == [always.sample() for _ in range(50)]


def test_new_trace_ids_are_16_hex_digits_and_distinct() -> None:
    trace_ids = [logs.new_trace_id() for _ in range(1000)]
    assert all(16 == len(t) and int(t, 16) >= 0 for t in trace_ids)
    assert trace_ids == [t.lower() for t in trace_ids]
    assert 1000 == len(set(trace_ids))
