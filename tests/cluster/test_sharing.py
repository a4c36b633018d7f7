"""Who may read and change a list, on a real secured cluster.

The key that first saves a list owns it; others have no access until the
owner shares it, by key or by invite. Without access, every request about
the list is ``forbidden`` (exit code 5), whether the list exists or not;
updates reach only clients that may read the list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq

from actors.client import Forbidden, ListChange
from actors.kernel import CurveClient, apply_curve
from crdt import ShoppingList
from protocol import (
    DebugCrash,
    Get,
    ListReply,
    Message,
    Put,
    StatusReply,
    StatusRequest,
    Update,
    Watch,
    Watching,
    decode,
    encode,
)
from supervisor.probe import ask_proxy
from supervisor.transport import ephemeral_keys
from tests.harness import ClusterHarness, wait_until
from ui.contract import EXIT_FORBIDDEN, EXIT_OK

DEADLINE_S = 10.0


@contextmanager
def raw_client(cluster: ClusterHarness, routing_id: bytes = b"") -> Iterator[zmq.Socket[bytes]]:
    """A DEALER on the frontend with a key of the test's own (and, if given,
    a routing id other than the one its key makes)."""
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    apply_curve(sock, outsider(cluster))
    if routing_id:
        sock.setsockopt(zmq.ROUTING_ID, routing_id)  # after apply_curve: this one wins
    sock.connect(cluster.endpoints()["frontend"])
    try:
        yield sock
    finally:
        sock.close(linger=0)
        ctx.term()


def ask(sock: zmq.Socket[bytes], msg: Message) -> Message:
    """Send ``msg`` and return the first answer (within the deadline)."""
    sock.send(encode(msg))
    assert sock.poll(DEADLINE_S * 1000), f"no answer to {type(msg).__name__}"
    return decode(sock.recv())


def outsider(cluster: ClusterHarness) -> CurveClient:
    """A key of the test's own, a client of nobody's lists, as a client connects."""
    curve = cluster.curve()
    assert curve is not None, "the cluster runs secured by default"
    return CurveClient(ephemeral_keys(), curve.server_public, keyed=True)


def test_a_client_without_access_is_forbidden_on_every_command(
    cluster: ClusterHarness,
) -> None:
    with cluster.session("alice") as alice:
        state, pushed = alice.create("alice's")
        assert pushed
        alice.add(state.list_id, "milk", 2)
    list_id = state.list_id
    missing = "00000000-0000-4000-8000-000000000000"
    for args in (
        ("pull", list_id),
        ("add", list_id, "eggs", "1"),
        ("members", list_id),
        ("invite", list_id),
        ("share", list_id, "--with", cluster.key_of("carol")),
        ("revoke", list_id, cluster.key_of("carol")),
        ("pull", missing),
    ):
        result = cluster.client("mallory", *args)
        assert EXIT_FORBIDDEN == result.code, (args, result)
        # The same words for "no access" and "no such list": nothing leaks.
        assert "milk" not in result.stdout
    with cluster.session("mallory") as mallory:
        with pytest.raises(Forbidden):
            mallory.pull(list_id)
        with pytest.raises(Forbidden):
            mallory.pull(missing)
    with cluster.session("alice") as alice:
        assert 2 == alice.pull(list_id).needed("milk")
        assert "eggs" not in alice.pull(list_id)


def test_a_shared_editor_writes_a_viewer_reads_and_a_revoked_member_is_refused(
    cluster: ClusterHarness,
) -> None:
    with cluster.session("alice") as alice:
        state, _ = alice.create("shared")
        list_id = state.list_id
        alice.share(list_id, cluster.key_of("bob"), "editor")
        alice.share(list_id, cluster.key_of("vera"), "viewer")
        members = alice.members(list_id)
        assert "owner" == members.grant
        assert {cluster.key_of("bob"): "editor", cluster.key_of("vera"): "viewer"} == dict(
            members.members
        )
    assert EXIT_OK == cluster.client("bob", "add", list_id, "bread", "3").code
    seen = cluster.client("vera", "pull", list_id)
    assert EXIT_OK == seen.code, seen
    assert 3 == {row["id"]: row["needed"] for row in seen.out["list"]["list"]}["bread"]
    # A viewer's write is refused; its edit stays pending on its machine.
    with cluster.session("vera") as vera:
        _, pushed = vera.add(list_id, "cake", 1)
        assert not pushed
        with pytest.raises(Forbidden):
            vera.push(list_id)
    with cluster.session("alice") as alice:
        assert "cake" not in alice.pull(list_id)
        alice.revoke(list_id, cluster.key_of("bob"))
    assert EXIT_FORBIDDEN == cluster.client("bob", "pull", list_id).code
    refused = cluster.client("bob", "add", list_id, "jam", "1")
    assert EXIT_FORBIDDEN == refused.code
    assert "forbidden" == refused.out["refused"]
    with cluster.session("alice") as alice:
        assert "jam" not in alice.pull(list_id)
        assert cluster.key_of("bob") not in dict(alice.members(list_id).members)


def test_invites_grant_their_role_until_cancelled_or_expired(cluster: ClusterHarness) -> None:
    with cluster.session("alice") as alice:
        state, _ = alice.create("party")
        list_id = state.list_id
        editor_link, _ = alice.invite(list_id, "editor")
        viewer_link, _ = alice.invite(list_id, "viewer")
        cancelled_link, reply = alice.invite(list_id, "editor")
        assert 3 == len(reply.invites)  # each listed until cancelled or expired
        alice.cancel_invite(list_id, cancelled_link.secret_hash)
        # Made last and not counted: the proxy counts whole seconds, so an
        # invite for 1 s may lapse at once (it did, on a busy machine).
        short_link, _ = alice.invite(list_id, "editor", expires_in_s=1)
        expired_at = time.time() + 2.0
    joined = cluster.client("carol", "join", str(editor_link))
    assert EXIT_OK == joined.code, joined
    assert EXIT_OK == cluster.client("carol", "add", list_id, "cups", "10").code
    assert EXIT_OK == cluster.client("dave", "join", str(viewer_link)).code
    assert EXIT_FORBIDDEN == cluster.client("dave", "push", list_id).code
    assert EXIT_FORBIDDEN == cluster.client("erin", "join", str(cancelled_link)).code
    # Expiry is wall-clock time: wait for the clock, not for a condition of ours.
    wait_until(lambda: time.time() >= expired_at, 5.0, "the invite's expiry")
    assert EXIT_FORBIDDEN == cluster.client("frank", "join", str(short_link)).code
    # A link to the list with a made-up secret is no invite.
    forged = str(editor_link)[:-8] + "AAAAAAAA"
    assert EXIT_FORBIDDEN == cluster.client("mallory", "join", forged).code
    with cluster.session("alice") as alice:
        members = dict(alice.members(list_id).members)
    assert {cluster.key_of("carol"): "editor", cluster.key_of("dave"): "viewer"} == members


def test_a_subscriber_without_access_receives_no_update(cluster: ClusterHarness) -> None:
    """Even a raw connection that asks to watch every list it can name gets none."""
    with cluster.session("alice") as alice:
        state, _ = alice.create("private")
    list_id = state.list_id
    got: list[ShoppingList] = []
    arrived = threading.Event()

    def on_update(change: ListChange) -> None:
        got.append(change.state)
        arrived.set()

    with raw_client(cluster) as spy:
        watching = ask(spy, Watch(msg_id="w1", list_ids=[list_id]))
        assert isinstance(watching, Watching)
        assert [list_id] == watching.refused
        assert [] == watching.list_ids
        cluster.share("alice", list_id, "bob")
        with cluster.session("bob", subscribe=True, on_update=on_update) as bob:
            bob.pull(list_id)
            bob.watch([list_id])
            with cluster.session("alice") as alice:
                # The watch is sent on connect; an update may race it: add until one lands.
                wait_until(
                    lambda: alice.add(list_id, "tea", 1) and arrived.wait(0.5),
                    DEADLINE_S,
                    "an update at bob",
                )
        assert got
        assert list_id == got[-1].list_id
        # Nothing, in all that time, reached the spy but its Watching answer.
        assert 0 == spy.poll(200)


def test_forbidden_requests_are_logged_with_the_key_and_no_contents(
    cluster: ClusterHarness,
) -> None:
    with cluster.session("alice") as alice:
        state, _ = alice.create("secret")
        alice.add(state.list_id, "diamonds", 1)
    with cluster.session("mallory") as mallory:
        key = mallory.whoami()
        with pytest.raises(Forbidden):
            mallory.pull(state.list_id)

    def logged() -> dict[str, Any] | None:
        for event in cluster.log_events("proxy*.jsonl"):
            if event.get("event") == "proxy.forbidden" and event.get("key") == key:
                return event
        return None

    event = wait_until(logged, DEADLINE_S, "the proxy's log line")
    assert "Get" == event["request"]
    assert not any("diamonds" in line for line in _log_lines(cluster))


def _log_lines(cluster: ClusterHarness) -> list[str]:
    return [p.read_text(errors="replace") for p in cluster.log_dir.glob("*.jsonl")]


def test_a_raw_put_to_a_list_of_someone_else_is_forbidden_and_changes_nothing(
    cluster: ClusterHarness,
) -> None:
    with cluster.session("alice") as alice:
        state, _ = alice.create("mine")
        alice.add(state.list_id, "milk", 1)
    list_id = state.list_id
    attacker = ShoppingList(list_id, "attacker.1")
    attacker.add("poison", 99)
    with raw_client(cluster) as sock:
        for msg in (
            Put(msg_id="p1", list_id=list_id, state=attacker.encode()),
            Get(msg_id="g1", list_id=list_id),
        ):
            answer = ask(sock, msg)
            assert "forbidden" == getattr(answer, "code", None), answer
            assert not isinstance(answer, ListReply | Update)
    with cluster.session("alice") as alice:
        assert "poison" not in alice.pull(list_id)


def test_a_connection_cannot_speak_under_another_keys_routing_id(
    cluster: ClusterHarness,
) -> None:
    """The routing id names the client; one that is not its own key's is refused."""
    victim = cluster.key_of("alice").encode()
    with raw_client(cluster, routing_id=victim + b"000000000000") as sock:
        answer = ask(sock, Get(msg_id="g1", list_id="00000000-0000-4000-8000-000000000000"))
        assert "bad_frame" == getattr(answer, "code", None), answer


def test_status_and_debugging_are_for_operators_only(cluster: ClusterHarness) -> None:
    """A client's key may not see the ring; the operator's (a supervisor's) may."""
    endpoint = cluster.endpoints()["frontend"]
    for msg in (StatusRequest(msg_id="s1"), DebugCrash(msg_id="c1", target="proxy")):
        answer = ask_proxy(endpoint, msg, timeout_s=5.0, curve=outsider(cluster))
        assert "forbidden" == getattr(answer, "code", None), answer
    status = ask_proxy(endpoint, StatusRequest(msg_id="s2"), 5.0, cluster.operator_curve())
    assert isinstance(status, StatusReply)
    assert "curve" == status.security
