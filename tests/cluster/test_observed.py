"""No one, not even an editor, makes the cluster forget what they were not shown.

An empty state whose context covers exactly a list's dots claims only
dots that exist: on the wire it is an honest "remove everything". Only the
proxy's record of what it showed the sender tells the two apart
(``Store.observed``, rule 3 of ``crdt.validation``).
"""

from __future__ import annotations

import os
import signal
from typing import Any

import zmq

from actors.kernel import CurveClient, CurveKeys, apply_curve
from crdt import ShoppingList, observed_blob
from protocol import ErrorReply, Get, ListReply, Put, Saved, decode, encode
from tests.harness import ClusterHarness, wait_until

DEADLINE_S = 10.0


def covering(list_id: str, state: ShoppingList) -> ShoppingList:
    """An empty state whose context is exactly ``state``'s."""
    return ShoppingList.decode(observed_blob(list_id, state.context))


def ask(sock: zmq.Socket[bytes], msg: Put | Get) -> Any:
    sock.send(encode(msg))
    while True:
        assert sock.poll(DEADLINE_S * 1000), f"no answer to {msg.msg_id}"
        reply = decode(sock.recv())
        if getattr(reply, "reply_to", None) == msg.msg_id:
            return reply


def test_an_editor_cannot_wipe_what_it_was_never_shown(cluster: ClusterHarness) -> None:
    with cluster.session("alice") as alice:
        state, _ = alice.create("groceries")
        list_id = state.list_id
        for item in ("milk", "eggs"):
            alice.add(list_id, item)
        alice.share(list_id, cluster.key_of("mallory"), "editor")
        known = alice.pull(list_id)  # the dots mallory learned somehow (a leaked copy)
    with cluster.session("mallory") as mallory:
        keys = CurveKeys(*mallory.store.curve_keys())
        replica = mallory.store.replica_id
    proxy_key = cluster.proxy_key()
    assert proxy_key is not None
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    apply_curve(sock, CurveClient(keys, proxy_key, keyed=True))
    sock.connect(cluster.endpoints()["frontend"])
    try:
        wipe = Put(msg_id="wipe", list_id=list_id, state=covering(list_id, known).encode())
        answer = ask(sock, wipe)
        assert isinstance(answer, ErrorReply)
        assert ("refused", "unobserved") == (answer.code, answer.reason.split(":", 1)[0])
        with cluster.session("alice") as alice:
            assert ["eggs", "milk"] == alice.pull(list_id).items()
        # Once shown the list (a read), mallory's removes of alice's items pass.
        shown = ask(sock, Get(msg_id="read", list_id=list_id))
        assert isinstance(shown, ListReply)
        assert shown.state is not None
        copy = ShoppingList.decode(shown.state, replica)
        remove = Put(msg_id="rm", list_id=list_id, state=copy.remove("milk").encode())
        assert isinstance(ask(sock, remove), Saved)
    finally:
        sock.close(linger=0)
        ctx.term()
    with cluster.session("alice") as alice:
        assert ["eggs"] == alice.pull(list_id).items()


def test_a_member_removes_what_it_pulled_and_recovers_after_a_proxy_restart(
    cluster: ClusterHarness,
) -> None:
    """Removes of others' items pass; after a proxy restart (which forgets what
    it showed) the client reads the list again by itself and the remove passes."""
    with cluster.session("alice") as alice:
        state, _ = alice.create("shared")
        list_id = state.list_id
        for item in ("milk", "eggs", "tea"):
            alice.add(list_id, item)
        alice.share(list_id, cluster.key_of("bob"), "editor")
    with cluster.session("bob") as bob:
        bob.pull(list_id)
        assert bob.remove(list_id, "milk")[1]
    old = cluster.child_pids()["proxy"]
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: cluster.child_pids().get("proxy", old) != old, 30.0, "the proxy restarted")
    cluster.wait_ring(5)
    with cluster.session("bob") as bob:
        assert bob.remove(list_id, "eggs")[1]
    with cluster.session("alice") as alice:
        assert ["tea"] == alice.pull(list_id).items()
