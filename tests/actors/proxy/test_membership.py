"""Membership rules: hello and batched admission, probe misses and suspicion."""

from __future__ import annotations

import pytest

from actors.proxy import Membership
from ring import HashRing

VNODES = 8


def membership(
    batch_size: int = 3,
    batch_timeout_s: float = 2.0,
    probe_misses: int = 3,
    known: list[str] | None = None,
) -> Membership:
    return Membership(
        vnodes=VNODES,
        batch_size=batch_size,
        batch_timeout_s=batch_timeout_s,
        probe_misses=probe_misses,
        known=known,
    )


class RebuildCounter:
    """Counts rebuilds of the membership's ring."""

    def __init__(self, ring: HashRing, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = ring._rebuild

        def counting() -> None:
            self.calls += 1
            original()

        monkeypatch.setattr(ring, "_rebuild", counting)


def admitted(m: Membership, nodes: list[str], now: float = 0.0) -> Membership:
    """``m`` with ``nodes`` said hello and admitted (one full batch each time)."""
    for node in nodes:
        m.hello(node, now)
    while m.queue:
        m.admit_due(now + m.batch_timeout_s)
    return m


# ------------------------------------------------------------------ joining


def test_hello_of_a_member_is_acked_at_once() -> None:
    m = membership(known=["s1"])
    assert m.hello("s1", 1.0)
    assert {} == m.queue
    assert 0 == m.epoch


def test_hello_of_a_stranger_queues_it_and_is_not_acked() -> None:
    m = membership()
    assert not m.hello("s1", 1.0)
    assert {"s1": 1.0} == m.queue
    assert [] == m.ring.nodes


def test_hello_of_a_member_is_a_sign_of_life() -> None:
    m = membership(known=["s1"])
    m.failed("s1", 1.0)
    m.hello("s1", 2.0)
    assert m.healthy("s1")
    assert 2.0 == m.members["s1"].last_seen


def test_repeated_hello_keeps_the_joiner_place_and_time_in_the_queue() -> None:
    m = membership(batch_size=5)
    m.hello("s1", 1.0)
    m.hello("s2", 2.0)
    m.hello("s1", 3.0)
    assert [("s1", 1.0), ("s2", 2.0)] == list(m.queue.items())


def test_nothing_is_admitted_before_the_batch_is_full_or_due() -> None:
    m = membership(batch_size=3, batch_timeout_s=2.0)
    m.hello("s1", 0.0)
    m.hello("s2", 0.5)
    assert [] == m.admit_due(1.9)
    assert 0 == m.epoch
    assert [] == m.ring.nodes


def test_a_full_batch_is_admitted_at_once_with_one_rebuild(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = membership(batch_size=3)
    rebuilds = RebuildCounter(m.ring, monkeypatch)
    for node in ["s1", "s2", "s3"]:
        m.hello(node, 0.0)
    assert ["s1", "s2", "s3"] == m.admit_due(0.0)
    assert 1 == rebuilds.calls
    assert 1 == m.epoch
    assert ["s1", "s2", "s3"] == m.ring.nodes
    assert {} == m.queue
    assert all(m.hello(node, 0.1) for node in ["s1", "s2", "s3"])


def test_joiners_are_admitted_in_arrival_order_one_rebuild_and_epoch_per_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = membership(batch_size=2, batch_timeout_s=2.0)
    rebuilds = RebuildCounter(m.ring, monkeypatch)
    for i, node in enumerate(["s5", "s1", "s4", "s2", "s3"]):
        m.hello(node, float(i) / 10)
    assert ["s5", "s1"] == m.admit_due(0.5)
    assert ["s4", "s2"] == m.admit_due(0.5)
    assert (2, 2) == (rebuilds.calls, m.epoch)
    # The last one waits alone until its own hello is batch_timeout_s old.
    assert [] == m.admit_due(0.4 + 1.9)
    assert ["s3"] == m.admit_due(0.4 + 2.0)
    assert (3, 3) == (rebuilds.calls, m.epoch)
    assert ["s1", "s2", "s3", "s4", "s5"] == m.ring.nodes


def test_a_partial_batch_is_admitted_once_the_oldest_waited_the_timeout() -> None:
    m = membership(batch_size=5, batch_timeout_s=2.0)
    m.hello("s1", 10.0)
    m.hello("s2", 11.5)
    assert [] == m.admit_due(11.9)
    assert ["s1", "s2"] == m.admit_due(12.0)
    assert 1 == m.epoch


def test_admission_with_an_empty_queue_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    m = membership(known=["s1"])
    rebuilds = RebuildCounter(m.ring, monkeypatch)
    assert [] == m.admit_due(100.0)
    assert (0, 0) == (rebuilds.calls, m.epoch)


def test_admitted_joiners_are_healthy_members() -> None:
    m = admitted(membership(), ["s1", "s2"])
    assert ["s1", "s2"] == sorted(m.members)
    assert m.healthy("s1")
    assert m.healthy("s2")


def test_remove_takes_a_member_out_and_bumps_the_epoch() -> None:
    m = membership(known=["s1", "s2"])
    m.remove("s1")
    assert ["s2"] == m.ring.nodes
    assert ["s2"] == list(m.members)
    assert 1 == m.epoch
    m.remove("s1")
    assert 1 == m.epoch


# ----------------------------------------------------------------- liveness


def test_probe_round_returns_every_member() -> None:
    m = membership(known=["s2", "s1"])
    assert ["s1", "s2"] == sorted(m.probe_round(0.0))


def test_probe_misses_unanswered_rounds_make_a_member_suspect() -> None:
    m = admitted(membership(probe_misses=3), ["s1"])
    m.probe_round(1.0)  # first probe out; the hello counted as an answer
    m.probe_round(2.0)
    m.probe_round(3.0)
    assert m.healthy("s1")
    assert 2 == m.members["s1"].misses
    m.probe_round(4.0)
    assert not m.healthy("s1")
    assert m.members["s1"].suspect
    assert 4.0 == m.members["s1"].suspect_since


def test_an_answered_probe_resets_the_misses() -> None:
    m = admitted(membership(probe_misses=3), ["s1"])
    m.probe_round(1.0)
    m.probe_round(2.0)
    m.probe_round(3.0)
    m.seen("s1", 3.1)
    m.probe_round(4.0)
    m.probe_round(5.0)
    assert m.healthy("s1")
    assert 1 == m.members["s1"].misses


def test_seen_clears_suspicion() -> None:
    m = admitted(membership(probe_misses=1), ["s1"])
    m.probe_round(1.0)
    m.probe_round(2.0)
    assert not m.healthy("s1")
    m.seen("s1", 2.5)
    member = m.members["s1"]
    assert m.healthy("s1")
    assert (0, False, None, 2.5) == (
        member.misses,
        member.suspect,
        member.suspect_since,
        member.last_seen,
    )


def test_suspicion_keeps_the_time_it_started() -> None:
    m = admitted(membership(probe_misses=1), ["s1"])
    for now in (1.0, 2.0, 3.0, 4.0):
        m.probe_round(now)
    assert 2.0 == m.members["s1"].suspect_since


def test_a_failed_request_makes_a_member_suspect_at_once() -> None:
    m = membership(known=["s1", "s2"])
    m.failed("s1", 5.0)
    assert not m.healthy("s1")
    assert m.healthy("s2")
    assert 5.0 == m.members["s1"].suspect_since
    m.failed("s1", 6.0)
    assert 5.0 == m.members["s1"].suspect_since


def test_strangers_are_never_healthy_and_their_news_is_ignored() -> None:
    m = membership(known=["s1"])
    m.seen("ghost", 1.0)
    m.failed("ghost", 1.0)
    assert not m.healthy("ghost")
    assert ["s1"] == list(m.members)


def test_a_restored_member_is_not_charged_for_a_probe_never_sent() -> None:
    m = membership(probe_misses=3, known=["s1"])
    m.probe_round(1.0)  # the first probe goes out now: nothing was missed yet
    assert 0 == m.members["s1"].misses
