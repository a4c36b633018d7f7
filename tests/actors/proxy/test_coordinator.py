"""Quorum requests: N slots, W/R quorums, retries with hints, read repair.

The coordinator is driven by hand: a real :class:`Membership` (and its
ring), recording callables as the transport, and explicit times.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
import structlog

from actors.proxy import Coordinator, Membership, QuorumConfig
from crdt import ShoppingList
from logs import Tracer
from protocol import (
    ErrorReply,
    Fetch,
    Fetched,
    Get,
    Handoff,
    ListReply,
    Message,
    Put,
    Saved,
    Store,
    Stored,
    Update,
)

LIST_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
PEER = b"client-peer"
TIMEOUT = 0.5
FIVE = [f"s{i}" for i in range(1, 6)]
SEVEN = [f"s{i}" for i in range(1, 8)]


@dataclass
class Proxy:
    """A coordinator, its membership, and everything it sent, in order."""

    coordinator: Coordinator
    membership: Membership
    sent: list[tuple[str, Message]] = field(default_factory=list)
    replies: list[tuple[bytes, Message]] = field(default_factory=list)
    #: the channel of each reply: frontend (clients) or backend (servers)
    channels: list[str] = field(default_factory=list)
    published: list[tuple[str, Message]] = field(default_factory=list)

    def reply(self, channel: str, peer: bytes, msg: Message) -> None:
        self.channels.append(channel)
        self.replies.append((peer, msg))

    def clockwise(self) -> list[str]:
        """Every member in preference order for LIST_ID: owners first, then spares."""
        return self.membership.ring.get_replicas(LIST_ID, len(self.membership.ring))

    def owners(self) -> list[str]:
        return self.membership.ring.get_replicas(LIST_ID, self.coordinator.config.n)

    def stores(self) -> list[tuple[str, Store]]:
        return [(node, m) for node, m in self.sent if isinstance(m, Store)]

    def fetches(self) -> list[tuple[str, Fetch]]:
        return [(node, m) for node, m in self.sent if isinstance(m, Fetch)]

    def last_to(self, node: str) -> Message:
        return [m for to, m in self.sent if to == node][-1]

    def stored(self, node: str, now: float = 0.1) -> None:
        """``node`` acknowledges the last Store it was sent."""
        store = self.last_to(node)
        assert isinstance(store, Store)
        self.coordinator.on_reply(node, stored_reply(node, store), now)

    def refused(self, node: str, now: float = 0.01) -> None:
        """``node`` refuses the last Store it was sent as malformed."""
        store = self.last_to(node)
        assert isinstance(store, Store)
        refusal = ErrorReply(
            msg_id=f"e-{node}", sender=node, reply_to=store.msg_id, code="bad_request", reason="no"
        )
        self.coordinator.on_reply(node, refusal, now)

    def fetched(self, node: str, state: bytes | None, now: float = 0.1) -> None:
        """``node`` answers the last Fetch it was sent with ``state``."""
        fetch = self.last_to(node)
        assert isinstance(fetch, Fetch)
        reply = Fetched(
            msg_id=f"{node}-r", sender=node, reply_to=fetch.msg_id, list_id=LIST_ID, state=state
        )
        self.coordinator.on_reply(node, reply, now)


def stored_reply(node: str, store: Store) -> Stored:
    return Stored(msg_id=f"{node}-r", sender=node, reply_to=store.msg_id, list_id=LIST_ID)


def make_proxy(
    nodes: list[str] | None = None, n: int = 3, r: int = 2, w: int = 2, vnodes: int = 64
) -> Proxy:
    membership = Membership(
        vnodes=vnodes, batch_size=5, batch_timeout_s=1.0, probe_misses=3, known=nodes
    )
    counter = itertools.count(1)
    proxy = Proxy(coordinator=None, membership=membership)  # type: ignore[arg-type]
    proxy.coordinator = Coordinator(
        QuorumConfig(n=n, r=r, w=w, request_timeout_s=TIMEOUT),
        membership,
        send=lambda node, msg: proxy.sent.append((node, msg)),
        reply=proxy.reply,
        publish=lambda list_id, make: proxy.published.append((list_id, make())),
        new_id=lambda: f"proxy.{next(counter)}",
        node_id="proxy",
        tracer=Tracer(),
        log=structlog.get_logger(),
    )
    return proxy


def delta() -> bytes:
    shopping = ShoppingList(LIST_ID, "alice")
    return shopping.add("milk", 2).encode()


def put(traced: bool = False) -> Put:
    return Put(
        msg_id="put-1",
        trace_id="trace-1",
        sender="c1",
        traced=traced,
        list_id=LIST_ID,
        state=delta(),
    )


def get(traced: bool = False) -> Get:
    return Get(msg_id="get-1", trace_id="trace-2", sender="c1", traced=traced, list_id=LIST_ID)


@dataclass(frozen=True)
class Copies:
    """Two concurrent copies of one list, their join, and their encodings."""

    alice: ShoppingList
    bob: ShoppingList
    joined: ShoppingList

    @classmethod
    def make(cls) -> Copies:
        base = ShoppingList(LIST_ID, "alice", "groceries")
        base.add("milk")
        alice = base.copy()
        alice.add("eggs", 6)
        bob = base.copy(replica_id="bob")
        bob.add("bread")
        joined = alice.copy()
        joined.merge(bob)
        return cls(alice, bob, joined)


# ---------------------------------------------------------------------- put


def test_put_sends_one_store_to_each_owner_in_preference_order() -> None:
    proxy = make_proxy(FIVE)
    msg = put()
    proxy.coordinator.put(PEER, msg, 0.0)
    stores = proxy.stores()
    assert proxy.owners() == [node for node, _ in stores]
    assert proxy.clockwise()[:3] == proxy.owners()
    for _, store in stores:
        assert (LIST_ID, msg.state, "", "trace-1", "proxy") == (
            store.list_id,
            store.state,
            store.hint,
            store.trace_id,
            store.sender,
        )
    assert 3 == len({store.msg_id for _, store in stores})
    assert [] == proxy.replies


@pytest.mark.parametrize("w", [1, 2, 3])
def test_saved_is_replied_once_after_exactly_w_stored(w: int) -> None:
    proxy = make_proxy(FIVE, w=w)
    msg = put()
    proxy.coordinator.put(PEER, msg, 0.0)
    owners = proxy.owners()
    for node in owners[: w - 1]:
        proxy.stored(node)
    assert [] == proxy.replies
    assert [] == proxy.published
    proxy.stored(owners[w - 1])
    assert 1 == len(proxy.replies)
    peer, saved = proxy.replies[0]
    assert PEER == peer
    assert isinstance(saved, Saved)
    assert ("put-1", LIST_ID, w, "trace-1") == (
        saved.reply_to,
        saved.list_id,
        saved.acks,
        saved.trace_id,
    )
    for node in owners[w:]:
        proxy.stored(node)
    assert 1 == len(proxy.replies)
    assert ["frontend"] == proxy.channels


def test_an_acknowledgement_counts_only_from_the_server_the_store_went_to() -> None:
    """A peer that learned a Store's id and answers it, or acks it in a
    StoredBatch, in another server's place acknowledges nothing; the real
    server's answer still counts."""
    proxy = make_proxy(FIVE, w=2)
    proxy.coordinator.put(PEER, put(), 0.0)
    (first, store), (second, _), *_ = proxy.stores()
    outsider = next(n for n in FIVE if n not in proxy.owners())
    proxy.coordinator.on_reply(outsider, stored_reply(outsider, store), 0.1)
    proxy.coordinator.on_stored(second, store.msg_id, 0.1)  # another owner, the same id
    proxy.stored(second)
    assert [] == proxy.replies  # one real acknowledgement of the two needed
    proxy.stored(first)
    assert [Saved] == [type(m) for _, m in proxy.replies]


def test_a_saved_write_is_published_once_with_its_state() -> None:
    proxy = make_proxy(FIVE)
    msg = put()
    proxy.coordinator.put(PEER, msg, 0.0)
    for node in proxy.owners():
        proxy.stored(node)
    assert 1 == len(proxy.published)
    topic, update = proxy.published[0]
    assert LIST_ID == topic
    assert isinstance(update, Update)
    assert (LIST_ID, msg.state, "trace-1") == (update.list_id, update.state, update.trace_id)
    assert msg.sender == update.sender  # the writer, whom watchers name (no key: plaintext)


def test_an_update_names_its_writer_by_the_key_the_proxy_authenticated() -> None:
    """The name the writer gave itself cannot pass for another key: the
    update carries the first characters of the writer's key beside it."""
    proxy = make_proxy(FIVE)
    msg = put()
    key = "K" * 40
    proxy.coordinator.put(PEER, msg, 0.0, writer=key)
    for node in proxy.owners():
        proxy.stored(node)
    _, update = proxy.published[0]
    assert f"{msg.sender} (KKKKKKKK)" == update.sender


def test_every_slot_finished_leaves_nothing_in_flight() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    assert 1 == proxy.coordinator.inflight
    for node in proxy.owners():
        proxy.stored(node)
    assert 0 == proxy.coordinator.inflight
    assert {} == proxy.coordinator.pending


def test_a_timed_out_slot_moves_to_the_next_unused_node_with_a_hint() -> None:
    proxy = make_proxy(FIVE)
    msg = put()
    proxy.coordinator.put(PEER, msg, 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.stored(o1)
    proxy.stored(o2)
    proxy.coordinator.expire(TIMEOUT - 0.01)
    assert 3 == len(proxy.stores())
    proxy.coordinator.expire(TIMEOUT)
    stand_in = proxy.clockwise()[3]
    node, store = proxy.stores()[-1]
    assert (stand_in, o0, msg.state) == (node, store.hint, store.state)
    assert not proxy.membership.healthy(o0)
    proxy.stored(stand_in, now=0.6)
    assert 0 == proxy.coordinator.inflight


def test_an_undeliverable_store_moves_to_the_next_unused_node_at_once() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    o0 = proxy.owners()[0]
    first = proxy.stores()[0][1]
    proxy.coordinator.on_undeliverable(first.msg_id, 0.01)
    node, store = proxy.stores()[-1]
    assert (proxy.clockwise()[3], o0) == (node, store.hint)
    assert not proxy.membership.healthy(o0)


def test_an_error_reply_moves_the_slot_to_the_next_unused_node() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    o0 = proxy.owners()[0]
    first = proxy.stores()[0][1]
    error = ErrorReply(msg_id="e", sender=o0, reply_to=first.msg_id, code="internal", reason="disk")
    proxy.coordinator.on_reply(o0, error, 0.01)
    node, store = proxy.stores()[-1]
    assert (proxy.clockwise()[3], o0) == (node, store.hint)


def test_a_bad_request_refusal_fails_the_slot_without_a_retry() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.refused(proxy.owners()[0])
    assert 3 == len(proxy.stores())


def test_a_write_every_owner_refuses_as_malformed_is_answered_bad_request() -> None:
    # Not "unavailable": the client would retry what no replica will take.
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    for node in proxy.owners():
        proxy.refused(node)
    [(_, answer)] = proxy.replies
    assert isinstance(answer, ErrorReply)
    assert ("bad_request", "refused by a replica: no") == (answer.code, answer.reason)


def test_one_refusal_among_unanswered_attempts_is_still_unavailable() -> None:
    # One replica's refusal (e.g. a stricter version mid-upgrade) does not make
    # the write malformed while the others might have taken it: retry later.
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.refused(proxy.owners()[0])
    for now in (TIMEOUT, 2 * TIMEOUT, 3 * TIMEOUT, 4 * TIMEOUT):
        proxy.coordinator.expire(now)
    [(_, answer)] = proxy.replies
    assert isinstance(answer, ErrorReply)
    assert "unavailable" == answer.code


def test_retries_of_several_slots_take_successive_unused_nodes_clockwise() -> None:
    proxy = make_proxy(SEVEN)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.coordinator.expire(TIMEOUT)
    retries = proxy.stores()[3:]
    assert proxy.clockwise()[3:6] == [node for node, _ in retries]
    assert sorted(proxy.owners()) == sorted(store.hint for _, store in retries)


def test_a_slot_makes_at_most_three_attempts() -> None:
    proxy = make_proxy(SEVEN)
    proxy.coordinator.put(PEER, put(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.stored(o1)
    proxy.stored(o2)
    for now in (TIMEOUT, 2 * TIMEOUT, 3 * TIMEOUT, 4 * TIMEOUT):
        proxy.coordinator.expire(now)
    order = proxy.clockwise()
    slot0 = [node for node, store in proxy.stores() if node == o0 or store.hint == o0]
    assert [o0, order[3], order[4]] == slot0
    assert 5 == len(proxy.stores())  # order[5] and order[6] were never tried
    assert 1 == len(proxy.replies)
    assert 0 == proxy.coordinator.inflight


def test_unavailable_is_replied_exactly_once_when_fewer_than_w_can_succeed() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.coordinator.expire(TIMEOUT)
    # Two slots moved to the two spares; the third found none. 0 ok + 2 active >= W.
    assert 5 == len(proxy.stores())
    assert [] == proxy.replies
    proxy.coordinator.expire(2 * TIMEOUT)
    assert 1 == len(proxy.replies)
    peer, error = proxy.replies[0]
    assert PEER == peer
    assert isinstance(error, ErrorReply)
    assert ("unavailable", "put-1") == (error.code, error.reply_to)
    assert ["frontend"] == proxy.channels
    assert [] == proxy.published
    assert 0 == proxy.coordinator.inflight
    # Stragglers change nothing.
    for node, store in proxy.stores():
        proxy.coordinator.on_reply(node, stored_reply(node, store), 2.0)
    assert 1 == len(proxy.replies)
    assert [] == proxy.published


def test_unavailable_as_soon_as_w_is_out_of_reach() -> None:
    proxy = make_proxy(["s1", "s2", "s3"], w=3)
    proxy.coordinator.put(PEER, put(), 0.0)
    first = proxy.stores()[0][1]
    proxy.coordinator.on_undeliverable(first.msg_id, 0.01)
    assert 1 == len(proxy.replies)
    error = proxy.replies[0][1]
    assert isinstance(error, ErrorReply)
    assert "unavailable" == error.code


def test_a_suspect_owner_is_skipped_from_the_first_attempt() -> None:
    proxy = make_proxy(FIVE)
    o0, o1, o2 = proxy.owners()
    proxy.membership.failed(o1, 0.0)
    proxy.coordinator.put(PEER, put(), 0.0)
    stand_in = proxy.clockwise()[3]
    assert [(o0, ""), (stand_in, o1), (o2, "")] == [
        (node, store.hint) for node, store in proxy.stores()
    ]
    # A hinted write counts towards W (sloppy quorum).
    proxy.stored(o0)
    proxy.stored(stand_in)
    assert isinstance(proxy.replies[0][1], Saved)


def test_a_suspect_spare_is_passed_over_for_a_healthy_one() -> None:
    proxy = make_proxy(FIVE)
    o0, o1, o2 = proxy.owners()
    order = proxy.clockwise()
    proxy.membership.failed(o1, 0.0)
    proxy.membership.failed(order[3], 0.0)
    proxy.coordinator.put(PEER, put(), 0.0)
    assert [(o0, ""), (order[4], o1), (o2, "")] == [
        (node, store.hint) for node, store in proxy.stores()
    ]


def test_late_replies_to_timed_out_attempts_are_ignored() -> None:
    proxy = make_proxy(SEVEN)
    proxy.coordinator.put(PEER, put(), 0.0)
    first = proxy.stores()
    proxy.coordinator.expire(TIMEOUT)
    for node, store in first:
        proxy.coordinator.on_reply(node, stored_reply(node, store), 0.6)
    assert [] == proxy.replies
    for node, _ in proxy.stores()[3:5]:
        proxy.stored(node, now=0.7)
    assert 1 == len(proxy.replies)
    assert isinstance(proxy.replies[0][1], Saved)


def test_the_empty_ring_replies_unavailable() -> None:
    proxy = make_proxy(None)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.coordinator.get(PEER, get(), 0.0)
    assert [] == proxy.sent
    assert [("unavailable", "put-1"), ("unavailable", "get-1")] == [
        (m.code, m.reply_to) for _, m in proxy.replies if isinstance(m, ErrorReply)
    ]
    assert 0 == proxy.coordinator.inflight


def test_traced_requests_run_the_same_way() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(traced=True), 0.0)
    proxy.coordinator.expire(TIMEOUT)
    assert 5 == len(proxy.stores())
    assert all(store.traced for _, store in proxy.stores())


# ---------------------------------------------------------------------- get


def test_get_fetches_from_each_owner_in_preference_order() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    assert proxy.owners() == [node for node, _ in proxy.fetches()]
    assert all(f.list_id == LIST_ID for _, f in proxy.fetches())


def test_get_replies_the_join_of_r_copies() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, _ = proxy.owners()
    proxy.fetched(o0, copies.alice.encode())
    assert [] == proxy.replies
    proxy.fetched(o1, copies.bob.encode())
    assert 1 == len(proxy.replies)
    peer, answer = proxy.replies[0]
    assert PEER == peer
    assert isinstance(answer, ListReply)
    assert ("get-1", LIST_ID) == (answer.reply_to, answer.list_id)
    assert answer.state is not None
    merged = ShoppingList.decode(answer.state)
    assert copies.joined == merged
    assert ["bread", "eggs", "milk"] == merged.items()


def test_get_of_a_list_no_one_has_replies_none() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    for node in proxy.owners():
        proxy.fetched(node, None)
    answer = proxy.replies[0][1]
    assert isinstance(answer, ListReply)
    assert answer.state is None
    assert [] == proxy.stores()


def test_get_skips_replicas_without_a_copy_in_the_join() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.fetched(o0, None)
    proxy.fetched(o1, copies.alice.encode())
    proxy.fetched(o2, copies.bob.encode())
    answer = proxy.replies[0][1]
    assert isinstance(answer, ListReply)
    assert answer.state is not None
    assert copies.joined == ShoppingList.decode(answer.state)


def test_a_not_found_waits_for_the_owners_that_have_not_answered() -> None:
    # A write acknowledged by W=2 of 3 may have reached o2 alone among the
    # two that answer first: the read must not call the list unknown.
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.fetched(o0, None)
    proxy.fetched(o1, None)
    assert [] == proxy.replies
    proxy.fetched(o2, copies.alice.encode())
    answer = proxy.replies[0][1]
    assert isinstance(answer, ListReply)
    assert copies.alice.encode() == answer.state
    assert {o0, o1} == {node for node, _ in proxy.stores()}


def test_one_copy_and_not_founds_answer_with_the_copy_when_the_rest_time_out() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, _ = proxy.owners()
    proxy.fetched(o0, None)
    proxy.fetched(o1, copies.alice.encode())
    assert [] == proxy.replies
    proxy.coordinator.expire(TIMEOUT)
    answer = proxy.replies[0][1]
    assert isinstance(answer, ListReply)
    assert copies.alice.encode() == answer.state


def test_a_copy_without_r_answers_is_unavailable() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, _, _ = proxy.owners()
    proxy.fetched(o0, copies.alice.encode())
    proxy.coordinator.expire(TIMEOUT)
    answer = proxy.replies[0][1]
    assert isinstance(answer, ErrorReply)
    assert "unavailable" == answer.code


def test_read_repair_sends_the_join_to_owners_that_were_behind_once_all_slots_finished() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.fetched(o0, copies.alice.encode())
    proxy.fetched(o1, copies.joined.encode())
    assert 1 == len(proxy.replies)
    assert [] == proxy.stores()  # o2 has not answered yet
    proxy.fetched(o2, copies.bob.encode())
    repairs = proxy.stores()
    assert [o0, o2] == sorted(node for node, _ in repairs)
    for _, store in repairs:
        assert (LIST_ID, copies.joined.encode(), "") == (store.list_id, store.state, store.hint)
        assert copies.joined == ShoppingList.decode(store.state)


def test_a_read_while_a_write_of_the_list_is_in_flight_does_not_repair() -> None:
    """Copies that differ while the list is being written differ by that
    write: no read repair then; once the write is done, a read repairs."""
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    o0, o1, o2 = proxy.owners()
    proxy.coordinator.put(PEER, put(), 0.0)
    assert {LIST_ID: 1} == proxy.coordinator.writing
    proxy.coordinator.get(PEER, get(), 0.0)
    proxy.fetched(o0, copies.alice.encode())
    proxy.fetched(o1, copies.joined.encode())
    proxy.fetched(o2, copies.bob.encode())
    assert [ListReply] == [type(m) for _, m in proxy.replies]  # answered all the same
    writes = proxy.stores()  # the put's three Stores, no repair
    assert 3 == len(writes)
    for node, store in writes:
        proxy.coordinator.on_reply(node, stored_reply(node, store), 0.1)
    assert {} == proxy.coordinator.writing
    proxy.coordinator.get(PEER, get(), 0.0)
    proxy.fetched(o0, copies.alice.encode())
    proxy.fetched(o1, copies.joined.encode())
    proxy.fetched(o2, copies.bob.encode())
    assert [o0, o2] == sorted(node for node, _ in proxy.stores()[len(writes) :])


def test_read_repair_gives_an_owner_without_a_copy_the_join() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.fetched(o0, copies.joined.encode())
    proxy.fetched(o1, None)
    proxy.fetched(o2, copies.joined.encode())
    assert [(o1, copies.joined.encode())] == [(n, s.state) for n, s in proxy.stores()]


def test_no_read_repair_when_every_owner_is_up_to_date() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    for node in proxy.owners():
        proxy.fetched(node, copies.joined.encode())
    assert [] == proxy.stores()
    assert 0 == proxy.coordinator.inflight


def test_a_read_is_never_retried_on_a_stand_in_and_still_repairs() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.fetched(o0, copies.alice.encode())
    proxy.fetched(o1, copies.joined.encode())
    proxy.coordinator.expire(TIMEOUT)  # o2 timed out
    # A stand-in has no copy: its empty answer must not count toward R.
    assert {o0, o1, o2} == {node for node, _ in proxy.fetches()}
    # Every slot is done now: the owner that was behind is repaired.
    assert [o0] == [node for node, _ in proxy.stores()]


def test_a_replica_sending_a_bad_state_fails_the_read() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    proxy.coordinator.get(PEER, get(), 0.0)
    o0, o1, o2 = proxy.owners()
    proxy.fetched(o0, copies.alice.encode())
    proxy.fetched(o1, b"\xc1 not a state")
    answer = proxy.replies[0][1]
    assert isinstance(answer, ErrorReply)
    assert ("internal", "get-1") == (answer.code, answer.reply_to)
    proxy.fetched(o2, copies.bob.encode())
    assert 1 == len(proxy.replies)
    assert [] == proxy.stores()


def test_a_proxy_past_its_inflight_bound_turns_requests_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a limit of 1, two requests of different clients are taken on
    (each under its share), a third is refused at once: no Fetch goes out."""
    monkeypatch.setattr("actors.proxy.admission.MAX_INFLIGHT", 1)
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.coordinator.get(b"second", get(), 0.0)
    sent = len(proxy.sent)
    proxy.coordinator.get(b"third", get(), 0.0)
    assert sent == len(proxy.sent)
    error = proxy.replies[0][1]
    assert isinstance(error, ErrorReply)
    assert ("overloaded", "get-1") == (error.code, error.reply_to)


def test_one_client_at_its_own_limit_is_turned_away_and_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client pipelining as fast as it can is bounded; another client is
    served meanwhile, and the first is served again once its requests end."""
    monkeypatch.setattr("actors.proxy.admission.MAX_INFLIGHT_PER_CLIENT", 1)
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, put(), 0.0)
    proxy.coordinator.get(PEER, get(), 0.0)
    refused = proxy.replies[-1][1]
    assert isinstance(refused, ErrorReply)
    assert ("overloaded", "get-1") == (refused.code, refused.reply_to)
    other = b"other-client"
    proxy.coordinator.get(other, get(), 0.0)
    assert not any(peer == other for peer, _ in proxy.replies)  # its Fetches went out
    for node, store in proxy.stores()[:2]:
        proxy.coordinator.on_reply(node, stored_reply(node, store), 0.1)
    saved = proxy.replies[-1][1]
    assert isinstance(saved, Saved)
    proxy.coordinator.put(PEER, put(), 0.2)
    assert 1 == sum(isinstance(m, ErrorReply) for _, m in proxy.replies)


# ------------------------------------------------------ handoff and repair


def handoff(owner: str) -> Handoff:
    state = ShoppingList(LIST_ID, "alice").add("milk").encode()
    return Handoff(msg_id="h-1", sender="s9", owner=owner, list_id=LIST_ID, state=state)


def test_a_hint_is_handed_to_its_owner_alone_and_acknowledged_on_the_backend() -> None:
    proxy = make_proxy(FIVE)
    owner = proxy.owners()[1]
    msg = handoff(owner)
    proxy.coordinator.handoff(b"s9", msg, 0.0)
    assert [(owner, "", msg.state)] == [(n, s.hint, s.state) for n, s in proxy.stores()]
    proxy.stored(owner)
    assert ["backend"] == proxy.channels
    peer, done = proxy.replies[0]
    assert b"s9" == peer
    assert isinstance(done, Stored)
    assert ("h-1", LIST_ID) == (done.reply_to, done.list_id)
    assert [] == proxy.published


def test_a_hint_for_a_suspect_owner_is_refused_and_kept() -> None:
    proxy = make_proxy(FIVE)
    owner = proxy.owners()[0]
    proxy.membership.failed(owner, 0.0)
    proxy.coordinator.handoff(b"s9", handoff(owner), 0.0)
    assert [] == proxy.sent
    error = proxy.replies[0][1]
    assert isinstance(error, ErrorReply)
    assert ("unavailable", "h-1", ["backend"]) == (error.code, error.reply_to, proxy.channels)


def test_a_stray_list_is_written_to_its_current_owners() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.handoff(b"s9", handoff(""), 0.0)
    assert proxy.owners() == [node for node, _ in proxy.stores()]
    o0, o1, _ = proxy.owners()
    proxy.stored(o0)
    assert [] == proxy.replies
    proxy.stored(o1)
    assert isinstance(proxy.replies[0][1], Stored)
    assert ["backend"] == proxy.channels


def test_a_repair_reads_the_given_replicas_and_brings_those_behind_to_the_join() -> None:
    copies = Copies.make()
    proxy = make_proxy(FIVE)
    o0, o1, o2 = proxy.owners()
    proxy.coordinator.repair(LIST_ID, [o0, o1, o2], 0.0)
    assert [o0, o1, o2] == [node for node, _ in proxy.fetches()]
    assert 1 == proxy.coordinator.repairs_inflight
    proxy.fetched(o0, copies.joined.encode())
    proxy.fetched(o1, copies.alice.encode())
    assert [] == proxy.stores()
    proxy.fetched(o2, None)
    assert [o1, o2] == sorted(node for node, _ in proxy.stores())
    assert all(s.state == copies.joined.encode() for _, s in proxy.stores())
    assert [] == proxy.replies
    assert (0, 2, 0) == (
        proxy.coordinator.repairs_inflight,
        proxy.coordinator.repairs_sent,
        proxy.coordinator.inflight,
    )


def test_a_repair_on_an_empty_ring_is_not_left_in_flight() -> None:
    proxy = make_proxy(None)
    proxy.coordinator.repair(LIST_ID, ["s1"], 0.0)
    assert 0 == proxy.coordinator.repairs_inflight
    assert [] == proxy.replies  # a repair has no client to answer


def test_attempts_time_out_in_deadline_order_even_if_started_out_of_order() -> None:
    """An attempt started at an earlier time than the last one (a clock a
    test sets back) still times out at its own deadline, not the later one's."""
    proxy = make_proxy(FIVE)
    late = Get(msg_id="late", sender="c1", list_id=LIST_ID)
    early = Get(msg_id="early", sender="c1", list_id=LIST_ID)
    proxy.coordinator.get(PEER, late, 1.0)
    proxy.coordinator.get(PEER, early, 0.0)
    proxy.coordinator.expire(TIMEOUT + 0.01)
    assert ["early"] == [getattr(m, "reply_to", None) for _, m in proxy.replies]
