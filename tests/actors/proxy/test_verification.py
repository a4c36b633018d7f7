"""The coordinator and the write gate: what a client's write is answered when replicas refuse it
or cannot decide it (``docs/security.md``, "The coordinator, per write").

Driven by hand as the coordinator tests are: a real membership and ring,
recording callables as the transport, explicit times; the replicas'
answers are made here.
"""

from __future__ import annotations

import zmq
from zmq.utils import z85

from crdt import ShoppingList, replica_id_for
from crdt.access import AccessList
from protocol import ErrorReply, Fetch, Put, Saved, Store, encode_state
from protocol.state import ListState
from tests.actors.proxy.test_coordinator import FIVE, LIST_ID, PEER, TIMEOUT, Proxy, make_proxy

ALICE, BOB = (zmq.curve_keypair()[0].decode() for _ in range(2))
A = replica_id_for(z85.decode(ALICE), "phone")
B = replica_id_for(z85.decode(BOB), "laptop")


def client_put(state: ShoppingList) -> Put:
    return Put(
        msg_id="put-1", trace_id="trace-1", sender="c1", list_id=LIST_ID, state=state.encode()
    )


def groceries() -> ShoppingList:
    """Alice's list, with milk, and the bread Bob added."""
    alice = ShoppingList(LIST_ID, A, "groceries")
    alice.add("milk")
    bob = alice.copy(replica_id=B)
    alice.merge(bob.add("bread"))
    return alice


def wipe() -> ShoppingList:
    """An empty state claiming a huge counter of Alice's replica."""
    return ShoppingList.decode(encode_state(ListState(LIST_ID, [A], [10**12], [], [], [])))


def gate_answer(proxy: Proxy, node: str, code: str, reason: str = "forged_context: unseen") -> None:
    """``node`` answers the last Store it was sent with an error from its gate."""
    store = [m for to, m in proxy.sent if to == node and isinstance(m, Store)][-1]
    answer = ErrorReply(
        msg_id=f"e-{node}",
        sender=node,
        reply_to=store.msg_id,
        code=code,  # type: ignore[arg-type]
        reason=reason,
    )
    proxy.coordinator.on_reply(node, answer, 0.01)


def sent_since(proxy: Proxy, mark: int) -> list[tuple[str, Store | Fetch]]:
    return [(n, m) for n, m in proxy.sent[mark:] if isinstance(m, Store | Fetch)]


def answers(proxy: Proxy) -> list[tuple[str, str]]:
    """(type, code) of every reply to the client."""
    return [
        (type(m).__name__, m.code if isinstance(m, ErrorReply) else "") for _, m in proxy.replies
    ]


def settled(proxy: Proxy) -> bool:
    return 0 == proxy.coordinator.inflight and {} == proxy.coordinator.pending


# ------------------------------------------------------------------ plumbing


def test_every_store_of_a_clients_write_names_its_writer_and_the_proxys_access_change() -> None:
    proxy = make_proxy(FIVE)
    access = AccessList().claim(ALICE).to_state()
    proxy.coordinator.put(PEER, client_put(groceries()), 0.0, writer=ALICE, access=access)
    proxy.coordinator.expire(TIMEOUT)  # every slot moves to a stand-in
    stores = proxy.stores()
    assert 5 == len(stores)
    assert [(ALICE, access)] * 5 == [(s.writer, s.access) for _, s in stores]


def test_a_write_without_a_writer_sends_stores_that_name_none() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, client_put(groceries()), 0.0)
    assert [("", None)] * 3 == [(s.writer, s.access) for _, s in proxy.stores()]


# ------------------------------------------------------------------- refusal


def test_a_replicas_refusal_is_the_clients_answer_and_is_not_retried() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, client_put(wipe()), 0.0, writer=ALICE)
    o0, o1, o2 = proxy.owners()
    gate_answer(proxy, o0, "refused", "counter_ceiling: too high")
    assert [("ErrorReply", "refused")] == answers(proxy)
    [(_, refusal)] = proxy.replies
    assert isinstance(refusal, ErrorReply)
    assert "counter_ceiling: too high" == refusal.reason
    gate_answer(proxy, o1, "refused", "counter_ceiling: too high")
    gate_answer(proxy, o2, "refused", "counter_ceiling: too high")
    assert 3 == len(proxy.stores())  # none moved to a stand-in
    assert [] == proxy.published
    assert [("ErrorReply", "refused")] == answers(proxy)
    assert settled(proxy)


# ----------------------------------------------------------------- undecided


def test_w_acceptances_answer_saved_and_leave_the_undecided_copy_to_anti_entropy() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, client_put(groceries()), 0.0, writer=ALICE)
    o0, o1, o2 = proxy.owners()
    gate_answer(proxy, o0, "undecided")
    proxy.stored(o1)
    proxy.stored(o2)
    assert [("Saved", "")] == answers(proxy)
    assert [] == proxy.fetches()
    assert settled(proxy)


def test_one_acceptance_repairs_the_undecided_copies_and_sends_them_the_frame_again() -> None:
    proxy = make_proxy(FIVE)
    msg = client_put(groceries())
    proxy.coordinator.put(PEER, msg, 0.0, writer=ALICE)
    o0, o1, o2 = proxy.owners()
    proxy.stored(o0)
    gate_answer(proxy, o1, "undecided")
    mark = len(proxy.sent)
    gate_answer(proxy, o2, "undecided")
    assert sorted(proxy.owners()) == sorted(n for n, m in sent_since(proxy, mark))
    assert all(isinstance(m, Fetch) for _, m in sent_since(proxy, mark))
    acceptor = groceries()
    behind = ShoppingList(LIST_ID, A, "groceries")
    mark = len(proxy.sent)
    proxy.fetched(o0, acceptor.encode())
    proxy.fetched(o1, behind.encode())
    proxy.fetched(o2, None)
    joined = acceptor.copy()
    joined.merge(behind)
    expected = [
        (node, kind)
        for node in (o1, o2)
        for kind in (("repair", joined.encode(), ""), ("frame", msg.state, ALICE))
    ]
    resent = [
        (n, ("repair" if not m.writer else "frame", m.state, m.writer))
        for n, m in sent_since(proxy, mark)
        if isinstance(m, Store)
    ]
    assert expected == resent
    assert [] == proxy.replies
    proxy.stored(o1)
    assert [("Saved", "")] == answers(proxy)
    [(_, saved)] = proxy.replies
    assert isinstance(saved, Saved)
    assert 2 == saved.acks
    proxy.stored(o2)
    assert settled(proxy)


def test_no_acceptance_a_genuine_frame_is_accepted_by_the_proxys_check_and_resent() -> None:
    """Bob's bread reached only o0's copy (through a path the others missed):
    Alice's remove of it is undecided everywhere it went, and genuine."""
    proxy = make_proxy(FIVE)
    shown = groceries()
    remove = shown.remove("bread")
    proxy.coordinator.put(PEER, client_put(remove), 0.0, writer=ALICE)
    o0, o1, o2 = proxy.owners()
    for node in (o0, o1, o2):
        gate_answer(proxy, node, "undecided")
    assert 3 == len(proxy.fetches())
    mark = len(proxy.sent)
    proxy.fetched(o0, groceries().encode())
    proxy.fetched(o1, ShoppingList(LIST_ID, A, "groceries").encode())
    proxy.fetched(o2, ShoppingList(LIST_ID, A, "groceries").encode())
    resent = [(n, bool(m.writer)) for n, m in sent_since(proxy, mark)]
    assert [(node, w) for node in (o0, o1, o2) for w in (False, True)] == resent
    proxy.stored(o0)
    proxy.stored(o2)
    assert [("Saved", "")] == answers(proxy)
    proxy.stored(o1)
    assert settled(proxy)


def test_no_acceptance_and_every_owner_answered_a_forgery_is_refused() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, client_put(wipe()), 0.0, writer=ALICE)
    owners = proxy.owners()
    for node in owners:
        gate_answer(proxy, node, "undecided", "counter_jump: beyond")
    mark = len(proxy.sent)
    for node in owners:
        proxy.fetched(node, groceries().encode())
    assert [("ErrorReply", "refused")] == answers(proxy)
    [(_, refusal)] = proxy.replies
    assert isinstance(refusal, ErrorReply)
    assert refusal.reason.startswith("counter_jump: ")
    assert [] == sent_since(proxy, mark)  # nothing stored anywhere
    assert [] == proxy.published
    assert settled(proxy)


def test_no_acceptance_and_an_owner_silent_is_unavailable_not_refused() -> None:
    """A write the silent owner holds may be what the frame relies on."""
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, client_put(wipe()), 0.0, writer=ALICE)
    o0, o1, o2 = proxy.owners()
    for node in (o0, o1, o2):
        gate_answer(proxy, node, "undecided")
    proxy.fetched(o0, groceries().encode())
    proxy.fetched(o1, groceries().encode())
    proxy.coordinator.expire(TIMEOUT + 0.01)
    assert [("ErrorReply", "unavailable")] == answers(proxy)
    assert settled(proxy)


def test_a_copy_undecided_again_after_its_repair_fails_its_slot_without_a_second_round() -> None:
    proxy = make_proxy(FIVE)
    proxy.coordinator.put(PEER, client_put(groceries()), 0.0, writer=ALICE)
    o0, o1, o2 = proxy.owners()
    proxy.stored(o0)
    gate_answer(proxy, o1, "undecided")
    gate_answer(proxy, o2, "undecided")
    for node in (o0, o1, o2):
        proxy.fetched(node, groceries().encode())
    gate_answer(proxy, o1, "undecided")
    gate_answer(proxy, o2, "undecided")
    assert 3 == len(proxy.fetches())
    assert [("ErrorReply", "unavailable")] == answers(proxy)
    assert settled(proxy)


def test_a_stand_in_that_could_not_decide_is_asked_too_and_repaired_as_a_hint() -> None:
    """o1 is suspect: its copy goes to a stand-in, whose hints are asked with
    the healthy owners' copies; without o1's own answer the proxy's check is
    not complete, but the stand-in's hint vouches for Bob's bread."""
    proxy = make_proxy(FIVE)
    o0, o1, o2 = proxy.owners()
    proxy.membership.failed(o1, 0.0)
    shown = groceries()
    proxy.coordinator.put(PEER, client_put(shown.remove("bread")), 0.0, writer=ALICE)
    stand_in = proxy.clockwise()[3]
    for node in (o0, stand_in, o2):
        gate_answer(proxy, node, "undecided")
    assert sorted([o0, o2, stand_in]) == sorted(n for n, _ in proxy.fetches())
    mark = len(proxy.sent)
    empty = ShoppingList(LIST_ID, A, "groceries").encode()
    proxy.fetched(o0, empty)
    proxy.fetched(o2, empty)
    proxy.fetched(stand_in, groceries().encode())
    hinted = [(m.hint, bool(m.writer)) for n, m in sent_since(proxy, mark) if n == stand_in]
    assert [(o1, False), (o1, True)] == hinted
    proxy.stored(stand_in)
    proxy.stored(o0)
    assert [("Saved", "")] == answers(proxy)
