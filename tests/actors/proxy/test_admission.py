"""Admission: a client's requests, and all clients' requests, are bounded;
the proxy-wide limit follows how quickly the replicas answer."""

from __future__ import annotations

import structlog

from actors.proxy.admission import DECREASE, INCREASE, WINDOW_S, Admission


def admission(max_inflight: int, max_per_client: int, min_inflight: int = 1) -> Admission:
    return Admission(
        structlog.get_logger("test"),
        max_inflight,
        max_per_client,
        target_s=0.1,
        min_inflight=min_inflight,
    )


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
    gate.answered(b"a", 0.01, 0.01, congested=False)
    assert gate.admit(b"a", 0.01) is None
    assert 1 == gate.inflight


def test_past_twice_the_limit_every_client_is_refused() -> None:
    """Clients under their share are taken on past the limit, but not past
    twice it: then the proxy refuses everyone."""
    gate = admission(max_inflight=2, max_per_client=1)
    assert [None] * 4 == [gate.admit(peer, 0.0) for peer in (b"a", b"b", b"c", b"d")]
    refusal = gate.admit(b"e", 0.0)
    assert refusal is not None
    assert refusal.startswith("overloaded: the proxy has")


def test_a_newcomer_is_taken_on_while_others_keep_the_limit_full() -> None:
    gate = admission(max_inflight=10, max_per_client=100)
    assert all(gate.admit(b"hog", 0.0) is None for _ in range(10))
    assert gate.admit(b"hog", 0.0) is not None  # over its share of a full limit
    assert gate.admit(b"new", 0.0) is None
    assert 11 == gate.inflight


def test_refusals_are_counted_between_log_lines() -> None:
    gate = admission(max_inflight=0, max_per_client=5, min_inflight=0)
    gate.admit(b"a", 0.0)  # logged at once
    gate.admit(b"a", 0.5)
    gate.admit(b"a", 0.6)
    assert 2 == gate.refused  # waiting for the next line, a second after the first
    gate.admit(b"a", 1.0)
    assert 0 == gate.refused


def test_a_client_holds_its_fair_share_of_the_limit_once_others_come() -> None:
    """A client alone may fill the limit; with a second client in flight, each
    may hold half of it, so the newcomer is served beside the first."""
    gate = admission(max_inflight=40, max_per_client=1000)
    assert all(gate.admit(b"hog", 0.0) is None for _ in range(30))
    assert gate.admit(b"new", 0.0) is None
    assert 20 == gate.share(b"hog")
    refusal = gate.admit(b"hog", 0.0)
    assert refusal is not None
    assert refusal.startswith("overloaded: this client has")
    assert all(gate.admit(b"new", 0.0) is None for _ in range(9))
    assert 40 == gate.inflight


def test_slow_answers_shrink_the_limit_once_per_window() -> None:
    gate = admission(max_inflight=100, max_per_client=100)
    before = gate.limit
    for _ in range(10):
        gate.admit(b"a", 0.0)
    for _ in range(10):
        gate.answered(b"a", 0.05, latency_s=0.5, congested=False)
    gate.admit(b"a", WINDOW_S + 0.06)  # the window of the slow answers ends
    assert before * DECREASE == gate.limit
    gate.admit(b"a", WINDOW_S + 0.07)  # the same window: no second cut
    assert before * DECREASE == gate.limit


def test_failures_for_want_of_replicas_shrink_the_limit() -> None:
    gate = admission(max_inflight=100, max_per_client=100)
    before = gate.limit
    gate.admit(b"a", 0.0)
    gate.answered(b"a", 0.01, latency_s=0.01, congested=True)
    gate.admit(b"a", WINDOW_S + 0.02)
    assert before * DECREASE == gate.limit


def test_the_limit_never_shrinks_below_its_floor() -> None:
    gate = admission(max_inflight=100, max_per_client=100, min_inflight=50)
    for k in range(20):
        now = k * (WINDOW_S + 0.01)
        gate.admit(b"a", now)
        gate.answered(b"a", now, latency_s=1.0, congested=True)
    assert 50 == gate.limit


def test_quick_answers_grow_a_limit_that_turns_requests_away() -> None:
    gate = admission(max_inflight=1000, max_per_client=1000)
    gate.limit = 10.0
    for _ in range(11):  # the eleventh is turned away by the limit
        gate.admit(b"a", 0.0)
    for _ in range(10):
        gate.answered(b"a", 0.01, latency_s=0.01, congested=False)
    gate.admit(b"a", WINDOW_S + 0.02)
    assert 10.0 * (1 + INCREASE) == gate.limit


def test_a_limit_nobody_reaches_does_not_grow() -> None:
    gate = admission(max_inflight=1000, max_per_client=1000)
    gate.limit = 10.0
    gate.admit(b"a", 0.0)
    gate.answered(b"a", 0.01, latency_s=0.01, congested=False)
    gate.admit(b"a", WINDOW_S + 0.02)
    assert 10.0 == gate.limit


def test_a_client_over_its_share_does_not_grow_the_limit() -> None:
    gate = admission(max_inflight=1000, max_per_client=2)
    gate.limit = 10.0
    for _ in range(3):  # the third is over the client's own bound
        gate.admit(b"a", 0.0)
    gate.admit(b"a", WINDOW_S + 0.02)
    assert 10.0 == gate.limit
