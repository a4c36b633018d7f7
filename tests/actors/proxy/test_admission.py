"""Admission: a client's requests, and all clients' requests, are bounded."""

from __future__ import annotations

import structlog

from actors.proxy.admission import Admission


def admission(max_inflight: int, max_per_client: int) -> Admission:
    return Admission(structlog.get_logger("test"), max_inflight, max_per_client)


def test_a_client_at_its_bound_is_refused_and_others_are_admitted() -> None:
    gate = admission(max_inflight=10, max_per_client=2)
    assert [None, None] == [gate.admit(b"a", 0.0), gate.admit(b"a", 0.0)]
    refusal = gate.admit(b"a", 0.0)
    assert refusal is not None
    assert refusal.startswith("overloaded: this client has")
    assert gate.admit(b"b", 0.0) is None


def test_an_answer_makes_room_again() -> None:
    gate = admission(max_inflight=10, max_per_client=1)
    assert gate.admit(b"a", 0.0) is None
    gate.answered(b"a")
    assert gate.admit(b"a", 0.0) is None
    assert 1 == gate.inflight


def test_the_proxy_wide_bound_refuses_every_client() -> None:
    gate = admission(max_inflight=2, max_per_client=5)
    gate.admit(b"a", 0.0)
    gate.admit(b"b", 0.0)
    refusal = gate.admit(b"c", 0.0)
    assert refusal is not None
    assert refusal.startswith("overloaded: the proxy has")


def test_refusals_are_counted_between_log_lines() -> None:
    gate = admission(max_inflight=0, max_per_client=5)
    gate.admit(b"a", 0.0)  # logged at once
    gate.admit(b"a", 0.5)
    gate.admit(b"a", 0.6)
    assert 2 == gate.refused  # waiting for the next line, a second after the first
    gate.admit(b"a", 1.0)
    assert 0 == gate.refused
