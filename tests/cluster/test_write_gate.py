"""The write gate in a real cluster: frames that forge or over-claim are refused and change nothing.

The attacks are replayed as a hostile client would make them: a small
CurveZMQ DEALER of the test's own, speaking the project's messages to the
proxy's frontend, with the list owner's own key (the owner may edit the
list; what it may not do is claim operations that never happened, or mint
dots under another key's replica ids). Every write the owner had
acknowledged, before the attacks and after them, stays readable.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq
from zmq.utils import z85

from actors.client import ClientSession
from actors.kernel import CurveClient, CurveKeys, apply_curve
from crdt import COUNTER_CEILING, ShoppingList, replica_id_for
from protocol import ErrorReply, Get, ListReply, Message, Put, decode, encode, encode_state
from protocol.state import ListState
from tests.harness import ClusterHarness

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

DEADLINE_S = 10.0
_ids = itertools.count(1)


@contextmanager
def hostile_client(cluster: ClusterHarness, owner: ClientSession) -> Iterator[zmq.Socket[bytes]]:
    """A DEALER on the frontend with the owner's own key pair."""
    proxy_key = cluster.proxy_key()
    assert proxy_key is not None, "the cluster runs secured by default"
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(DEADLINE_S * 1000))
    apply_curve(sock, CurveClient(CurveKeys(*owner.store.curve_keys()), proxy_key, keyed=True))
    sock.connect(cluster.endpoints()["frontend"])
    try:
        yield sock
    finally:
        sock.close(linger=0)
        ctx.term()


def ask(sock: zmq.Socket[bytes], msg: Put | Get) -> Message:
    """Send ``msg`` and return the answer to it (each read bounded by RCVTIMEO)."""
    sock.send(encode(msg))
    while True:
        reply = decode(sock.recv())
        if getattr(reply, "reply_to", None) == msg.msg_id:
            return reply


def put(list_id: str, state: ShoppingList) -> Put:
    return Put(msg_id=f"evil-{next(_ids)}", sender="mallory", list_id=list_id, state=state.encode())


def claims(list_id: str, vv: dict[str, int]) -> ShoppingList:
    """An empty state whose causal context is ``vv``: no items, huge claims."""
    order = sorted(vv)
    return ShoppingList.decode(
        encode_state(ListState(list_id, order, [vv[r] for r in order], [], [], []))
    )


def refusal_kind(answer: Message) -> str:
    assert isinstance(answer, ErrorReply), answer
    assert "refused" == answer.code, answer.reason
    return answer.reason.split(":", 1)[0]


def cluster_copy(sock: zmq.Socket[bytes], list_id: str) -> ShoppingList:
    reply = ask(sock, Get(msg_id=f"read-{next(_ids)}", sender="mallory", list_id=list_id))
    assert isinstance(reply, ListReply)
    assert reply.state is not None
    return ShoppingList.decode(reply.state)


def test_wipes_and_forged_dots_are_refused_and_every_acknowledged_write_stays(
    cluster: ClusterHarness,
) -> None:
    owner = cluster.session("alice")
    try:
        created, pushed = owner.create("groceries")
        assert pushed
        list_id = created.list_id
        for item in ("milk", "eggs", "bread"):
            assert owner.add(list_id, item)[1], item
        mine = owner.store.replica_id
        stranger = replica_id_for(z85.decode(zmq.curve_keypair()[0]), "phone")
        forged = ShoppingList(list_id, stranger)
        with hostile_client(cluster, owner) as sock:
            before = cluster_copy(sock, list_id)
            assert ["bread", "eggs", "milk"] == before.items()
            # 1. hide every later add of the owner's device behind a huge claim
            wipe = claims(list_id, {mine: 10**12})
            assert "counter_jump" == refusal_kind(ask(sock, put(list_id, wipe)))
            # 2. push the owner's counter to the codec's ceiling
            ceiling = claims(list_id, {mine: COUNTER_CEILING - 1})
            assert "counter_ceiling" == refusal_kind(ask(sock, put(list_id, ceiling)))
            # 3. an add under another key's replica id
            assert "forged_dot" == refusal_kind(ask(sock, put(list_id, forged.add("poison"))))
            assert before == cluster_copy(sock, list_id)
            for item in ("tea", "jam"):
                assert owner.add(list_id, item)[1], item
            after = cluster_copy(sock, list_id)
        assert ["bread", "eggs", "jam", "milk", "tea"] == after.items()
        assert {mine} == after.context.replicas()
        assert after.context.max_counter(mine) < 10
        # A normal pull, into a local store that no longer has the list.
        assert owner.delete(list_id)
        pulled = owner.pull(list_id)
        assert ["bread", "eggs", "jam", "milk", "tea"] == pulled.items()
    finally:
        owner.close()
