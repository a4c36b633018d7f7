"""Fault injection: which messages a rule drops, delays or duplicates, and for how long;
and what a FaultyLink does to the messages crossing it.

Expiry is tested on a fake clock: the module's ``time`` is replaced by one
whose ``monotonic`` the test sets, so nothing waits on the real clock.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from actors.kernel import Channel, Delivery, FaultInjector, Inbound, faults, rules_from_env
from actors.kernel.faults import FaultyLink
from protocol import FaultRule
from tests.actors.rig import request

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


# -------------------------------------------------------------- FaultyLink


@dataclass
class FakeLink:
    """A link whose socket holds ``inbox`` and records what it sent."""

    channel: Channel = "backend"
    inbox: list[Delivery] = field(default_factory=list)
    sent: list[tuple[bytes, bytes]] = field(default_factory=list)

    def read(self, batch: list[Delivery]) -> None:
        batch.extend(self.inbox)
        self.inbox.clear()

    def send(self, peer: bytes, payload: bytes) -> None:
        self.sent.append((peer, payload))


@dataclass
class Faulty:
    """A FaultyLink around a FakeLink, with the bridge's timers and actor faked."""

    rules: list[FaultRule]
    link: FakeLink = field(default_factory=FakeLink)
    #: (delay_s, action) of every action put off
    later: list[tuple[float, Callable[[], None]]] = field(default_factory=list)
    delivered: list[Inbound] = field(default_factory=list)

    def __post_init__(self) -> None:
        injector = FaultInjector(self.rules)
        self.faulty = FaultyLink(
            self.link,
            injector,
            lambda delay_s, action: self.later.append((delay_s, action)),
            self.delivered.append,
        )

    def read(self, *deliveries: Delivery) -> list[Delivery]:
        self.link.inbox.extend(deliveries)
        batch: list[Delivery] = []
        self.faulty.read(batch)
        return batch


def delivery(msg_id: str, peer: bytes = S1) -> Delivery:
    return Delivery("backend", peer, request(msg_id))


def test_a_faulty_link_without_rules_passes_everything_through_in_order() -> None:
    faulty = Faulty([])
    one, two = delivery("1"), delivery("2", S2)
    assert [one, two] == faulty.read(one, two)
    faulty.faulty.send(S1, b"payload")
    assert [(S1, b"payload")] == faulty.link.sent
    assert ([], []) == (faulty.later, faulty.delivered)
    assert "backend" == faulty.faulty.channel


def test_a_faulty_link_drops_and_duplicates_inbound_in_place() -> None:
    faulty = Faulty([FaultRule(peer="s1", direction="in", drop=1.0), FaultRule(duplicate=1.0)])
    dropped, kept, other = delivery("1"), delivery("2", S2), delivery("3", S2)
    assert [kept, kept, other, other] == faulty.read(dropped, kept, other)


def test_a_delayed_inbound_message_reaches_the_actor_later_on_its_own() -> None:
    faulty = Faulty([FaultRule(peer="s1", direction="in", delay_s=0.25, duplicate=1.0)])
    late, now = delivery("late"), delivery("now", S2)
    assert [now] == faulty.read(late, now)
    assert [0.25] == [delay_s for delay_s, _ in faulty.later]
    assert [] == faulty.delivered
    faulty.later[0][1]()
    assert [Inbound([late, late])] == faulty.delivered


def test_a_faulty_link_drops_and_duplicates_outbound_by_peer() -> None:
    faulty = Faulty([FaultRule(peer="s1", direction="out", drop=1.0), FaultRule(duplicate=1.0)])
    faulty.faulty.send(S1, b"dropped")
    faulty.faulty.send(S2, b"twice")
    assert [(S2, b"twice"), (S2, b"twice")] == faulty.link.sent
    # A rule for the other direction leaves inbound messages alone.
    assert [delivery("in")] * 2 == faulty.read(delivery("in"))


def test_a_delayed_outbound_message_is_sent_later_with_its_copies() -> None:
    faulty = Faulty([FaultRule(direction="out", delay_s=1.5, duplicate=1.0)])
    faulty.faulty.send(S1, b"late")
    assert ([], [1.5]) == (faulty.link.sent, [delay_s for delay_s, _ in faulty.later])
    faulty.later[0][1]()
    assert [(S1, b"late"), (S1, b"late")] == faulty.link.sent


def test_a_faulty_link_asks_about_its_own_channel_only() -> None:
    rules = [FaultRule(channel="hello", drop=1.0)]
    backend, hello = Faulty(rules), Faulty(rules, link=FakeLink(channel="hello"))
    backend.faulty.send(S1, b"kept")
    hello.faulty.send(S1, b"dropped")
    assert ([(S1, b"kept")], []) == (backend.link.sent, hello.link.sent)
