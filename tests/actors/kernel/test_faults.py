"""Fault injection: which messages a rule drops, delays or duplicates, and for how long.

Expiry is tested on a fake clock: the module's ``time`` is replaced by one
whose ``monotonic`` the test sets, so nothing waits on the real clock.
"""

from __future__ import annotations

import types

import pytest

from actors.kernel import FaultInjector, faults, rules_from_env
from protocol import FaultRule

S1, S2 = b"s1", b"s2"


class Clock:
    """A stand-in for the ``time`` module as ``actors.kernel.faults`` uses it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(faults, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


# ----------------------------------------------------------------- matching


def test_no_rules_pass_every_message_once_at_once() -> None:
    for injector in (FaultInjector(), FaultInjector([])):
        assert (1, 0.0) == injector.decide("out", "backend", S1)
        assert (1, 0.0) == injector.decide("in", "liveness", b"")
        assert [] == injector.rules


def test_dropping_everything_to_one_peer_spares_the_others() -> None:
    injector = FaultInjector([FaultRule(peer="s1", drop=1.0)])
    for direction in ("in", "out"):
        for channel in ("backend", "liveness", "hello"):
            assert (0, 0.0) == injector.decide(direction, channel, S1)
            assert (1, 0.0) == injector.decide(direction, channel, S2)
    # The peer is matched exactly, not as a prefix.
    assert (1, 0.0) == injector.decide("out", "backend", b"s10")


def test_a_wildcard_peer_matches_every_peer() -> None:
    injector = FaultInjector([FaultRule(drop=1.0)])
    assert (0, 0.0) == injector.decide("out", "backend", S1)
    assert (0, 0.0) == injector.decide("in", "frontend", b"client-7")


@pytest.mark.parametrize(
    ("rule_direction", "dropped"),
    [("in", {"in"}), ("out", {"out"}), ("both", {"in", "out"})],
)
def test_a_rule_matches_its_direction_only(rule_direction: str, dropped: set[str]) -> None:
    rule = FaultRule(peer="s1", direction=rule_direction, drop=1.0)  # type: ignore[arg-type]
    injector = FaultInjector([rule])
    for direction in ("in", "out"):
        expected = (0, 0.0) if direction in dropped else (1, 0.0)
        assert expected == injector.decide(direction, "backend", S1)


def test_a_rule_matches_its_channel_only() -> None:
    injector = FaultInjector([FaultRule(channel="liveness", drop=1.0)])
    assert (0, 0.0) == injector.decide("out", "liveness", S1)
    assert (1, 0.0) == injector.decide("out", "backend", S1)
    assert (1, 0.0) == injector.decide("in", "hello", S1)


def test_duplicate_one_gives_two_copies() -> None:
    injector = FaultInjector([FaultRule(peer="s1", duplicate=1.0)])
    assert (2, 0.0) == injector.decide("out", "backend", S1)
    assert (1, 0.0) == injector.decide("out", "backend", S2)


def test_the_delay_is_returned() -> None:
    injector = FaultInjector([FaultRule(peer="s1", delay_s=0.25)])
    assert (1, 0.25) == injector.decide("in", "backend", S1)
    assert (1, 0.0) == injector.decide("in", "backend", S2)


def test_duplicates_are_delayed_too() -> None:
    injector = FaultInjector([FaultRule(duplicate=1.0, delay_s=1.5)])
    assert (2, 1.5) == injector.decide("out", "backend", S1)


def test_a_dropped_message_is_neither_delayed_nor_duplicated() -> None:
    injector = FaultInjector([FaultRule(drop=1.0, duplicate=1.0, delay_s=3.0)])
    assert (0, 0.0) == injector.decide("out", "backend", S1)


def test_the_first_matching_rule_decides() -> None:
    injector = FaultInjector(
        [FaultRule(peer="s1", delay_s=0.5), FaultRule(drop=1.0), FaultRule(duplicate=1.0)]
    )
    assert (1, 0.5) == injector.decide("out", "backend", S1)
    assert (0, 0.0) == injector.decide("out", "backend", S2)


def test_a_rule_that_does_not_match_lets_later_rules_decide() -> None:
    injector = FaultInjector(
        [FaultRule(channel="hello", drop=1.0), FaultRule(peer="s2", duplicate=1.0)]
    )
    assert (2, 0.0) == injector.decide("out", "backend", S2)
    assert (1, 0.0) == injector.decide("out", "backend", S1)
    assert (0, 0.0) == injector.decide("out", "hello", S2)


def test_a_rule_with_no_effect_still_shields_the_message_from_later_rules() -> None:
    injector = FaultInjector([FaultRule(peer="s1"), FaultRule(drop=1.0)])
    assert (1, 0.0) == injector.decide("out", "backend", S1)
    assert (0, 0.0) == injector.decide("out", "backend", S2)


# ------------------------------------------------------------ installation


def test_install_replaces_the_rules() -> None:
    injector = FaultInjector([FaultRule(peer="s1", drop=1.0)])
    injector.install([FaultRule(peer="s2", drop=1.0)])
    assert [FaultRule(peer="s2", drop=1.0)] == injector.rules
    assert (1, 0.0) == injector.decide("out", "backend", S1)
    assert (0, 0.0) == injector.decide("out", "backend", S2)


def test_install_of_no_rules_clears_them() -> None:
    injector = FaultInjector([FaultRule(drop=1.0)])
    injector.install([FaultRule(duplicate=1.0)], duration_s=60.0)
    injector.install([])
    assert [] == injector.rules
    assert (1, 0.0) == injector.decide("out", "backend", S1)


def test_installed_rules_expire_after_their_duration(clock: Clock) -> None:
    injector = FaultInjector()
    rule = FaultRule(peer="s1", drop=1.0)
    injector.install([rule], duration_s=2.0)
    clock.now += 1.99
    assert [rule] == injector.rules
    assert (0, 0.0) == injector.decide("out", "backend", S1)
    clock.now += 0.01
    assert [] == injector.rules
    assert (1, 0.0) == injector.decide("out", "backend", S1)
    clock.now += 1000.0
    assert (1, 0.0) == injector.decide("out", "backend", S1)


def test_only_the_expired_rules_stop_matching(clock: Clock) -> None:
    injector = FaultInjector()
    injector.install([FaultRule(peer="s1", drop=1.0)], duration_s=1.0)
    clock.now += 5.0
    # A later install starts a new window for its own rules.
    injector.install([FaultRule(peer="s2", drop=1.0)], duration_s=1.0)
    assert (1, 0.0) == injector.decide("out", "backend", S1)
    assert (0, 0.0) == injector.decide("out", "backend", S2)


def test_a_zero_duration_lasts_until_replaced(clock: Clock) -> None:
    injector = FaultInjector()
    injector.install([FaultRule(drop=1.0)], duration_s=0.0)
    clock.now += 1e9
    assert 1 == len(injector.rules)
    assert (0, 0.0) == injector.decide("out", "backend", S1)


def test_rules_given_at_construction_never_expire(clock: Clock) -> None:
    injector = FaultInjector([FaultRule(duplicate=1.0)])
    clock.now += 1e9
    assert (2, 0.0) == injector.decide("in", "backend", S1)


# ---------------------------------------------------------------- sampling


def test_a_seeded_half_drop_drops_about_half() -> None:
    injector = FaultInjector([FaultRule(drop=0.5)], seed=1234)
    decisions = [injector.decide("out", "backend", S1) for _ in range(10_000)]
    dropped = sum(1 for copies, _ in decisions if copies == 0)
    assert 4500 <= dropped <= 5500
    assert {(0, 0.0), (1, 0.0)} == set(decisions)


def test_a_seeded_half_duplicate_duplicates_about_half() -> None:
    injector = FaultInjector([FaultRule(duplicate=0.5)], seed=99)
    copies = [injector.decide("out", "backend", S1)[0] for _ in range(10_000)]
    assert 4500 <= copies.count(2) <= 5500
    assert {1, 2} == set(copies)


def test_the_same_seed_makes_the_same_decisions() -> None:
    rules = [FaultRule(drop=0.3, duplicate=0.3)]
    one, two = FaultInjector(rules, seed=7), FaultInjector(rules, seed=7)
    assert [one.decide("out", "backend", S1) for _ in range(500)] == [
        two.decide("out", "backend", S1) for _ in range(500)
    ]


# ---------------------------------------------------------------- from env


def test_rules_from_an_unset_or_blank_variable_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPLIST_FAULTS", raising=False)
    assert [] == rules_from_env()
    monkeypatch.setenv("SHOPLIST_FAULTS", "  \n")
    assert [] == rules_from_env()


def test_rules_from_env_parse_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SHOPLIST_FAULTS",
        '[{"peer": "s1", "drop": 0.25, "direction": "out"},'
        ' {"channel": "liveness", "delay_s": 0.5}, {}]',
    )
    assert [
        FaultRule(peer="s1", drop=0.25, direction="out"),
        FaultRule(channel="liveness", delay_s=0.5),
        FaultRule(),
    ] == rules_from_env()


def test_rules_from_env_read_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPLIST_FAULTS", "garbage")
    monkeypatch.setenv("MY_FAULTS", '[{"duplicate": 1.0}]')
    assert [FaultRule(duplicate=1.0)] == rules_from_env("MY_FAULTS")


def test_an_empty_json_list_is_no_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPLIST_FAULTS", "[]")
    assert [] == rules_from_env()


@pytest.mark.parametrize(
    "raw",
    [
        "drop everything",  # not JSON
        '{"drop": 1.0}',  # not a list
        "[1, 2]",  # not rules
        '[{"drop": 1.5}]',  # out of range
        '[{"delay_s": -1}]',
        '[{"direction": "sideways"}]',
        '[{"peer": "s1", "dorp": 1.0}]',  # unknown field
        '[{"drop": 0.5}',  # truncated
    ],
)
def test_garbage_in_the_variable_is_a_clear_value_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("SHOPLIST_FAULTS", raw)
    with pytest.raises(ValueError, match=r"^\$SHOPLIST_FAULTS: not a JSON list of fault rules: "):
        rules_from_env()


def test_the_error_names_the_variable_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_FAULTS", "nope")
    with pytest.raises(ValueError, match=r"^\$MY_FAULTS: "):
        rules_from_env("MY_FAULTS")
