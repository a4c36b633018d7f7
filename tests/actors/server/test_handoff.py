"""Handoff sender: hints and strays offered to the proxy, dropped once accepted.

A real :class:`ListStore` in ``tmp_path``, a recording ``send`` and explicit
times; the proxy's answers are the ``accepted``/``refused`` calls.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from actors.server import HandoffSender, ListStore
from crdt import ShoppingList
from protocol import Handoff

ME = "s2"
INTERVAL = 1.0
TIMEOUT = 5.0


def list_id(i: int) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(f"handoff-{i}".encode()).digest(), version=4))


LISTS = [list_id(i) for i in range(8)]


@dataclass
class Server:
    """A server's store and handoff sender, and the Handoffs it sent."""

    store: ListStore
    sender: HandoffSender
    sent: list[Handoff] = field(default_factory=list)

    def offered(self) -> list[Handoff]:
        """The Handoffs sent since the last call."""
        out, self.sent[:] = list(self.sent), []
        return out

    def hint(self, owner: str, lid: str, item: str = "milk") -> bytes:
        """Merge a write for ``owner`` into the hints; returns the held state."""
        shopping = ShoppingList(lid, f"writer-{item}")
        self.store.merge_many([], [(owner, lid, shopping.add(item))])
        return self.held(owner, lid)

    def keep(self, lid: str, item: str = "bread") -> bytes:
        """Merge a write into the server's own copy of ``lid``; returns the stored state."""
        shopping = ShoppingList(lid, f"writer-{item}")
        self.store.merge_many([(lid, shopping.add(item))])
        state = self.store.get(lid)
        assert state is not None
        return state

    def held(self, owner: str, lid: str) -> bytes:
        [state] = [s for o, i, s in self.store.hints(1000) if (o, i) == (owner, lid)]
        return state

    def hint_keys(self) -> list[tuple[str, str]]:
        return [(o, i) for o, i, _ in self.store.hints(1000)]


MakeServer = Callable[..., Server]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[MakeServer]:
    stores: list[ListStore] = []
    counter = itertools.count()

    def make(max_inflight: int = 16, timeout_s: float = TIMEOUT) -> Server:
        store = ListStore(tmp_path / f"server{next(counter)}" / "lists.db")
        stores.append(store)
        ids = itertools.count(1)
        sent: list[Handoff] = []
        sender = HandoffSender(
            store,
            send=sent.append,
            new_id=lambda: f"{ME}.{next(ids)}",
            node_id=ME,
            interval_s=INTERVAL,
            max_inflight=max_inflight,
            timeout_s=timeout_s,
        )
        return Server(store, sender, sent)

    yield make
    for store in stores:
        store.close()


# ------------------------------------------------------------------- hints


def test_held_hints_are_offered_with_their_owner_and_state(make_server: MakeServer) -> None:
    server = make_server()
    held = {
        ("s1", LISTS[0]): server.hint("s1", LISTS[0]),
        ("s1", LISTS[1]): server.hint("s1", LISTS[1]),
        ("s4", LISTS[0]): server.hint("s4", LISTS[0], "eggs"),
    }
    server.sender.tick(0.0)
    offers = server.offered()
    assert held == {(h.owner, h.list_id): h.state for h in offers}
    assert all(ME == h.sender for h in offers)
    assert 3 == len({h.msg_id for h in offers})
    assert all(server.sender.pending(h.msg_id) for h in offers)
    assert 3 == server.sender.inflight
    # Offering is not handing over: the hints are still held.
    assert sorted(held) == server.hint_keys()


def test_nothing_held_nothing_offered(make_server: MakeServer) -> None:
    server = make_server()
    server.sender.tick(0.0)
    assert [] == server.offered()
    assert 0 == server.sender.inflight


def test_at_most_max_inflight_offers_are_unanswered(make_server: MakeServer) -> None:
    server = make_server(max_inflight=2)
    for lid in LISTS[:5]:
        server.hint("s1", lid)
    server.sender.tick(0.0)
    first = server.offered()
    assert 2 == len(first)
    server.sender.tick(INTERVAL)
    assert [] == server.offered()
    server.sender.accepted(first[0].msg_id)
    server.sender.tick(2 * INTERVAL)
    second = server.offered()
    assert 1 == len(second)
    assert second[0].list_id not in {h.list_id for h in first}
    assert 2 == server.sender.inflight


def test_every_hint_is_handed_over_in_rounds_of_max_inflight(make_server: MakeServer) -> None:
    server = make_server(max_inflight=2)
    for lid in LISTS[:5]:
        server.hint("s1", lid)
    now, rounds, seen = 0.0, 0, []
    while server.hint_keys():
        server.sender.tick(now)
        offers = server.offered()
        assert len(offers) <= 2
        for h in offers:
            server.sender.accepted(h.msg_id)
        seen += [h.list_id for h in offers]
        now += INTERVAL
        rounds += 1
        assert rounds <= 3
    assert sorted(LISTS[:5]) == sorted(seen)
    assert 5 == server.sender.handed_over


def test_after_a_refusal_no_offers_before_the_interval(make_server: MakeServer) -> None:
    """An owner still down is not asked again before the next round."""
    server = make_server(max_inflight=1)
    for lid in LISTS[:3]:
        server.hint("s1", lid)
    server.sender.tick(0.0)
    [first] = server.offered()
    server.sender.refused(first.msg_id)
    server.sender.tick(INTERVAL - 0.01)
    assert [] == server.offered()
    server.sender.tick(INTERVAL)
    assert 1 == len(server.offered())


def test_after_an_acceptance_the_next_offer_goes_out_at_once(make_server: MakeServer) -> None:
    """While the owner takes what it is offered, handoff does not wait for the
    interval: a backlog of hints drains at the pace of the answers."""
    server = make_server(max_inflight=1)
    for lid in LISTS[:3]:
        server.hint("s1", lid)
    server.sender.tick(0.0)
    [first] = server.offered()
    server.sender.accepted(first.msg_id)
    server.sender.tick(0.01)
    [second] = server.offered()
    assert first.list_id != second.list_id


def test_an_early_round_skips_an_owner_that_refused_until_the_interval(
    make_server: MakeServer,
) -> None:
    """Hints for an owner that is back drain at the pace of the answers; the
    hints of one still down are not offered again in those early rounds, only
    on the interval (or once the proxy says it is back)."""
    server = make_server(max_inflight=2)
    server.hint("s1", LISTS[0])  # s1 is down
    for lid in LISTS[1:4]:
        server.hint("s3", lid)
    server.sender.tick(0.0)
    offers = server.offered()
    assert ["s1", "s3"] == [o.owner for o in offers]
    down, up = offers
    server.sender.refused(down.msg_id)
    server.sender.accepted(up.msg_id)
    server.sender.tick(0.01)  # an early round: the rest of s3's hints, not s1's
    early = server.offered()
    assert ["s3", "s3"] == [o.owner for o in early]
    for offer in early:
        server.sender.accepted(offer.msg_id)
    server.sender.tick(0.02)
    assert [] == server.offered()
    server.sender.tick(INTERVAL)
    assert ["s1"] == [o.owner for o in server.offered()]


def test_an_owner_back_starts_a_round_at_once(make_server: MakeServer) -> None:
    server = make_server(max_inflight=1)
    server.hint("s1", LISTS[0])
    server.sender.tick(0.0)
    [first] = server.offered()
    server.sender.refused(first.msg_id)  # s1 is down
    server.sender.owner_back()  # the proxy says s1 answers again
    server.sender.tick(0.01)
    [again] = server.offered()
    assert first.list_id == again.list_id


def test_an_offer_in_flight_is_not_made_twice(make_server: MakeServer) -> None:
    server = make_server()
    server.hint("s1", LISTS[0])
    server.sender.tick(0.0)
    assert 1 == len(server.offered())
    server.sender.tick(INTERVAL)
    server.sender.tick(2 * INTERVAL)
    assert [] == server.offered()
    assert 1 == server.sender.inflight


def test_an_accepted_hint_is_dropped(make_server: MakeServer) -> None:
    server = make_server()
    server.hint("s1", LISTS[0])
    server.hint("s4", LISTS[1])
    server.sender.tick(0.0)
    offers = {h.list_id: h for h in server.offered()}
    assert server.sender.accepted(offers[LISTS[0]].msg_id) is None
    assert [("s4", LISTS[1])] == server.hint_keys()
    assert not server.sender.pending(offers[LISTS[0]].msg_id)
    assert 1 == server.sender.handed_over
    assert 1 == server.sender.inflight


def test_a_hint_written_to_meanwhile_stays_and_is_offered_again(make_server: MakeServer) -> None:
    server = make_server()
    server.hint("s1", LISTS[0], "milk")
    server.sender.tick(0.0)
    [offer] = server.offered()
    merged = server.hint("s1", LISTS[0], "eggs")
    assert merged != offer.state
    assert server.sender.accepted(offer.msg_id) is None
    assert [("s1", LISTS[0])] == server.hint_keys()
    assert merged == server.held("s1", LISTS[0])
    server.sender.tick(INTERVAL)
    [again] = server.offered()
    assert ("s1", LISTS[0], merged) == (again.owner, again.list_id, again.state)
    server.sender.accepted(again.msg_id)
    assert [] == server.hint_keys()


def test_a_refused_hint_is_kept_for_the_next_round(make_server: MakeServer) -> None:
    server = make_server()
    state = server.hint("s1", LISTS[0])
    server.sender.tick(0.0)
    [offer] = server.offered()
    assert server.sender.refused(offer.msg_id)
    assert 0 == server.sender.inflight
    assert [("s1", LISTS[0])] == server.hint_keys()
    assert 0 == server.sender.handed_over
    server.sender.tick(INTERVAL)
    [again] = server.offered()
    assert ("s1", LISTS[0], state) == (again.owner, again.list_id, again.state)
    assert offer.msg_id != again.msg_id


def test_answers_to_unknown_offers_are_ignored(make_server: MakeServer) -> None:
    server = make_server()
    server.hint("s1", LISTS[0])
    server.sender.tick(0.0)
    assert not server.sender.refused("nobody")
    assert server.sender.accepted("nobody") is None
    assert not server.sender.pending("nobody")
    assert 1 == server.sender.inflight
    assert [("s1", LISTS[0])] == server.hint_keys()


def test_an_unanswered_offer_may_be_made_again_after_the_timeout(make_server: MakeServer) -> None:
    server = make_server(max_inflight=1, timeout_s=2.0)
    server.hint("s1", LISTS[0])
    server.hint("s1", LISTS[1])
    server.sender.tick(0.0)
    [first] = server.offered()
    server.sender.tick(1.0)
    server.sender.tick(2.0)  # exactly the timeout: still waiting
    assert [] == server.offered()
    assert server.sender.pending(first.msg_id)
    server.sender.tick(3.0)
    [again] = server.offered()
    assert not server.sender.pending(first.msg_id)
    assert (first.owner, first.list_id, first.state) == (again.owner, again.list_id, again.state)
    assert first.msg_id != again.msg_id
    # The late answer to the first offer changes nothing; the current one counts.
    assert server.sender.accepted(first.msg_id) is None
    assert 2 == len(server.hint_keys())
    server.sender.accepted(again.msg_id)
    assert [("s1", LISTS[1])] == server.hint_keys()


# ------------------------------------------------------------------ strays


def test_strays_are_offered_without_an_owner(make_server: MakeServer) -> None:
    server = make_server()
    states = {lid: server.keep(lid) for lid in LISTS[:3]}
    server.sender.set_strays(LISTS[:3])
    server.sender.tick(0.0)
    offers = server.offered()
    assert states == {h.list_id: h.state for h in offers}
    assert all("" == h.owner for h in offers)
    assert 3 == server.store.count()


def test_an_accepted_stray_is_dropped_and_its_id_returned(make_server: MakeServer) -> None:
    server = make_server()
    server.keep(LISTS[0])
    server.keep(LISTS[1])
    server.sender.set_strays([LISTS[0]])
    server.sender.tick(0.0)
    [offer] = server.offered()
    assert LISTS[0] == server.sender.accepted(offer.msg_id)
    assert server.store.get(LISTS[0]) is None
    assert [LISTS[1]] == list(server.store.list_ids())
    assert 1 == server.sender.handed_over


def test_a_stray_written_to_meanwhile_is_kept(make_server: MakeServer) -> None:
    server = make_server()
    server.keep(LISTS[0], "bread")
    server.sender.set_strays([LISTS[0]])
    server.sender.tick(0.0)
    [offer] = server.offered()
    newer = server.keep(LISTS[0], "jam")
    assert newer != offer.state
    assert server.sender.accepted(offer.msg_id) is None
    assert newer == server.store.get(LISTS[0])


def test_a_stray_no_longer_held_is_not_offered(make_server: MakeServer) -> None:
    server = make_server()
    server.keep(LISTS[0])
    server.sender.set_strays([LISTS[0], LISTS[1]])
    server.sender.tick(0.0)
    assert [LISTS[0]] == [h.list_id for h in server.offered()]


def test_hints_and_strays_share_max_inflight_hints_first(make_server: MakeServer) -> None:
    server = make_server(max_inflight=3)
    server.hint("s1", LISTS[0])
    server.hint("s1", LISTS[1])
    for lid in LISTS[2:5]:
        server.keep(lid)
    server.sender.set_strays(LISTS[2:5])
    server.sender.tick(0.0)
    offers = server.offered()
    assert ["s1", "s1", ""] == [h.owner for h in offers]
    for h in offers:
        server.sender.accepted(h.msg_id)
    server.sender.tick(INTERVAL)
    offers = server.offered()
    assert 2 == len(offers)
    assert all("" == h.owner for h in offers)
    for h in offers:
        server.sender.accepted(h.msg_id)
    assert 0 == server.store.count()
    assert [] == server.hint_keys()


def test_set_strays_replaces_the_previous_strays(make_server: MakeServer) -> None:
    server = make_server()
    for lid in LISTS[:3]:
        server.keep(lid)
    server.sender.set_strays(LISTS[:2])
    server.sender.set_strays([LISTS[2]])
    server.sender.tick(0.0)
    assert [LISTS[2]] == [h.list_id for h in server.offered()]


def test_a_refused_stray_is_offered_again(make_server: MakeServer) -> None:
    server = make_server()
    state = server.keep(LISTS[0])
    server.sender.set_strays([LISTS[0]])
    server.sender.tick(0.0)
    [offer] = server.offered()
    assert server.sender.refused(offer.msg_id)
    server.sender.tick(INTERVAL)
    assert [("", LISTS[0], state)] == [(h.owner, h.list_id, h.state) for h in server.offered()]


def test_a_timed_out_stray_is_offered_again(make_server: MakeServer) -> None:
    server = make_server(timeout_s=2.0)
    server.keep(LISTS[0])
    server.sender.set_strays([LISTS[0]])
    server.sender.tick(0.0)
    assert 1 == len(server.offered())
    server.sender.tick(3.0)
    assert [LISTS[0]] == [h.list_id for h in server.offered()]
