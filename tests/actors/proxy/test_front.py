"""The proxy's client front: access decisions, lookups, sharing writes, watches.

Pure: the front is given callables for the coordinator's put and get and for
replies; the tests play the coordinator's answers back, as the proxy actor
would. No sockets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from zmq.utils import z85

import logs
from actors.proxy.access import AccessCache, decide
from actors.proxy.front import INTERNAL, ClientFront
from actors.proxy.watchers import Watchers
from crdt import AccessList, ShoppingList
from protocol import (
    AccessReply,
    AccessState,
    ErrorReply,
    Get,
    Invite,
    Join,
    ListReply,
    Members,
    Message,
    Put,
    Revoke,
    Saved,
    Share,
    Update,
    Watch,
    Watching,
)

LIST = "c0ffee00-0000-4000-8000-000000000000"
OTHER = "c0ffee00-0000-4000-8000-000000000001"


def key(n: int) -> str:
    return z85.encode(bytes([n]) * 32).decode()


ALICE, BOB, MALLORY = key(1), key(2), key(3)


def peer(k: str, suffix: bytes = b"000000000000") -> bytes:
    return k.encode() + suffix


@dataclass
class Rig:
    """A front with its coordinator calls and replies recorded."""

    puts: list[tuple[bytes, Put, str, AccessState | None]] = field(default_factory=list)
    gets: list[tuple[bytes, Get]] = field(default_factory=list)
    replies: list[tuple[bytes, Message]] = field(default_factory=list)
    now_s: float = 1_000_000.0
    front: ClientFront = field(init=False)

    def __post_init__(self) -> None:
        counter = iter(range(1, 10**9))
        self.front = ClientFront(
            put=lambda p, m, now, w, a, o: self.puts.append((p, m, w, a)),
            get=lambda p, m, now: self.gets.append((p, m)),
            reply=lambda p, m: self.replies.append((p, m)),
            new_id=lambda: f"id{next(counter)}",
            log=logs.get_logger("test"),
            wall_s=lambda: self.now_s,
        )

    def answer_lookup(self, state: ShoppingList | None) -> None:
        """The coordinator answers the last lookup with ``state``."""
        p, get = self.gets[-1]
        reply = ListReply(
            msg_id="r", reply_to=get.msg_id, list_id=get.list_id,
            state=state.encode() if state is not None else None,
        )  # fmt: skip
        assert self.front.answered(p, reply, 0.0)

    def save_last_put(self) -> None:
        p, put, _, _ = self.puts[-1]
        assert self.front.answered(
            p, Saved(msg_id="s", reply_to=put.msg_id, list_id=LIST, acks=2), 0
        )

    def last_reply(self) -> Message:
        return self.replies[-1][1]


def owned_by(owner: str, **members: str) -> ShoppingList:
    state = ShoppingList(LIST, "x.1")
    state.add("milk")
    state.access = AccessList(owner)
    for k, role in members.items():
        state.access.share(k, role)  # type: ignore[arg-type]
    return state


def code_of(msg: Message) -> str:
    return msg.code if isinstance(msg, ErrorReply) else type(msg).__name__


# ------------------------------------------------------------------ decide


def test_decide_lets_the_first_writer_claim_a_list_without_owner() -> None:
    """A Put to a list with no access list claims it; a Get of one is forbidden."""
    claim = decide(None, ALICE, Put(list_id=LIST, state=b""), 0)
    assert claim.allowed
    assert claim.change is not None
    assert ALICE == claim.change.owner
    assert not decide(None, ALICE, Get(list_id=LIST), 0).allowed


def test_decide_gives_each_grant_what_it_may_do() -> None:
    access = AccessList(ALICE)
    access.share(BOB, "viewer")
    put, get = Put(list_id=LIST, state=b""), Get(list_id=LIST)
    share = Share(list_id=LIST, key=MALLORY, role="editor")
    expected = {
        ALICE: (True, True, True),
        BOB: (False, True, False),
        MALLORY: (False, False, False),
    }
    actual = {
        k: tuple(decide(access, k, m, 0).allowed for m in (put, get, share)) for k in expected
    }
    assert expected == actual


def test_decide_never_revokes_the_owner_and_joins_only_open_invites() -> None:
    access = AccessList(ALICE)
    secret = b"s" * 32
    access.invite(hashlib.sha256(secret).digest(), "viewer", 100)
    assert not decide(access, ALICE, Revoke(list_id=LIST, key=ALICE), 0).allowed
    joined = decide(access, BOB, Join(list_id=LIST, secret=secret), 50)
    assert joined.change is not None
    assert "viewer" == joined.change.grant_of(BOB)
    assert not decide(access, BOB, Join(list_id=LIST, secret=secret), 100).allowed
    assert not decide(access, BOB, Join(list_id=LIST, secret=b"t" * 32), 50).allowed


# ----------------------------------------------------------------- the front


def test_a_request_about_an_unknown_list_waits_for_one_lookup() -> None:
    """Requests queue behind one lookup, then are decided with what it found."""
    rig = Rig()
    rig.front.request(peer(BOB), Get(msg_id="g1", list_id=LIST), 0)
    rig.front.request(peer(MALLORY), Get(msg_id="g2", list_id=LIST), 0)
    assert 1 == len(rig.gets)
    assert rig.gets[0][0].startswith(INTERNAL)
    rig.answer_lookup(owned_by(ALICE, **{BOB: "viewer"}))
    assert [(peer(BOB), "g1")] == [(p, g.msg_id) for p, g in rig.gets[1:]]
    assert [(peer(MALLORY), "forbidden")] == [(p, code_of(m)) for p, m in rig.replies]


def test_a_failed_lookup_fails_the_requests_that_waited() -> None:
    rig = Rig()
    rig.front.request(peer(BOB), Get(msg_id="g1", list_id=LIST), 0)
    p, get = rig.gets[0]
    error = ErrorReply(msg_id="e", reply_to=get.msg_id, code="unavailable", reason="r")
    assert rig.front.answered(p, error, 0)
    assert [(peer(BOB), "unavailable")] == [(q, code_of(m)) for q, m in rig.replies]


def test_the_first_write_carries_the_claim_until_a_write_is_saved() -> None:
    rig = Rig()
    rig.front.request(peer(ALICE), Put(msg_id="p1", list_id=LIST, state=b"x"), 0)
    rig.answer_lookup(None)
    rig.front.request(peer(ALICE), Put(msg_id="p2", list_id=LIST, state=b"x"), 0)
    claims = [(w, a.owner if a else None) for _, _, w, a in rig.puts]
    assert [(ALICE, ALICE), (ALICE, ALICE)] == claims
    assert not rig.front.answered(peer(ALICE), Saved(reply_to="p1", list_id=LIST, acks=2), 0)
    rig.front.request(peer(ALICE), Put(msg_id="p3", list_id=LIST, state=b"x"), 0)
    assert rig.puts[-1][3] is None
    # Meanwhile another key is refused at once: the claim is the proxy's.
    rig.front.request(peer(MALLORY), Put(msg_id="p4", list_id=LIST, state=b"x"), 0)
    assert "forbidden" == code_of(rig.last_reply())


def test_a_share_is_written_then_answered_with_the_members() -> None:
    rig = Rig()
    rig.front.cache.learn(LIST, AccessList(ALICE))
    rig.front.request(peer(ALICE), Share(msg_id="s1", list_id=LIST, key=BOB, role="editor"), 0)
    p, _, writer, access = rig.puts[-1]
    assert p.startswith(INTERNAL)
    assert "" == writer
    assert access is not None
    assert [(BOB, 1, 0)] == access.members
    assert "" == access.owner
    assert [] == rig.replies  # not before the cluster saved it
    rig.save_last_put()
    reply = rig.last_reply()
    assert isinstance(reply, AccessReply)
    assert ("s1", "owner", [(BOB, "editor")]) == (reply.reply_to, reply.grant, reply.members)
    rig.front.request(peer(BOB), Members(msg_id="m1", list_id=LIST), 0)
    members = rig.last_reply()
    assert isinstance(members, AccessReply)
    assert ("editor", []) == (members.grant, members.invites)


def test_an_unsaved_change_changes_nothing_and_the_error_reaches_the_owner() -> None:
    rig = Rig()
    rig.front.cache.learn(LIST, AccessList(ALICE))
    rig.front.request(peer(ALICE), Share(msg_id="s1", list_id=LIST, key=BOB, role="editor"), 0)
    p, put, _, _ = rig.puts[-1]
    assert rig.front.answered(p, ErrorReply(reply_to=put.msg_id, code="unavailable", reason="r"), 0)
    assert ("unavailable", "s1") == (code_of(rig.last_reply()), rig.last_reply().reply_to)  # type: ignore[union-attr]
    rig.front.request(peer(BOB), Get(msg_id="g1", list_id=LIST), 0)
    assert "forbidden" == code_of(rig.last_reply())


def test_an_invite_expires_by_the_wall_clock() -> None:
    rig = Rig()
    rig.front.cache.learn(LIST, AccessList(ALICE))
    secret = b"k" * 32
    invite = Invite(
        msg_id="i1", list_id=LIST, secret_hash=hashlib.sha256(secret).digest(), role="editor",
        expires_in_s=60,
    )  # fmt: skip
    rig.front.request(peer(ALICE), invite, 0)
    rig.save_last_put()
    rig.now_s += 61
    rig.front.request(peer(BOB), Join(msg_id="j1", list_id=LIST, secret=secret), 0)
    assert "forbidden" == code_of(rig.last_reply())


def test_updates_reach_only_watchers_that_may_read() -> None:
    rig = Rig()
    rig.front.cache.learn(LIST, AccessList(ALICE))
    rig.front.cache.learn(OTHER, AccessList(MALLORY))
    for k in (ALICE, MALLORY):
        rig.front.request(peer(k), Watch(msg_id="w", list_ids=[LIST, OTHER]), 0)
    watching = {p: m for p, m in rig.replies if isinstance(m, Watching)}
    assert [LIST] == watching[peer(ALICE)].list_ids
    assert [LIST] == watching[peer(MALLORY)].refused
    rig.replies.clear()
    rig.front.publish(LIST, lambda: Update(list_id=LIST, state=b"d"))
    assert [peer(ALICE)] == [p for p, _ in rig.replies]


def test_an_update_is_made_only_for_a_watched_list() -> None:
    """With nobody watching the list, publishing makes no update (a saved
    write without watchers costs nothing more)."""
    rig = Rig()
    rig.front.cache.learn(LIST, AccessList(ALICE))
    made: list[str] = []

    def make() -> Update:
        made.append(LIST)
        return Update(list_id=LIST, state=b"d")

    rig.front.publish(LIST, make)
    assert ([], []) == (made, rig.replies)


def test_a_revoked_watcher_stops_receiving_updates() -> None:
    rig = Rig()
    access = AccessList(ALICE)
    access.share(BOB, "viewer")
    rig.front.cache.learn(LIST, access)
    rig.front.request(peer(BOB), Watch(msg_id="w", list_ids=[LIST]), 0)
    rig.front.request(peer(ALICE), Revoke(msg_id="r", list_id=LIST, key=BOB), 0)
    rig.save_last_put()
    rig.replies.clear()
    rig.front.publish(LIST, lambda: Update(list_id=LIST, state=b"d"))
    assert [] == rig.replies
    assert [] == rig.front.watchers.of(LIST)


# ------------------------------------------------------------ bookkeeping


def test_the_cache_and_the_parked_requests_are_bounded() -> None:
    cache = AccessCache(size=2, max_parked=1)
    for n in range(3):
        cache.learn(f"c0ffee00-0000-4000-8000-00000000000{n}", None)
    assert 2 == len(cache)
    waiting: Any = (b"p", Get(list_id=LIST), 0.0)
    assert "first" == cache.park(LIST, waiting)
    assert "full" == cache.park(LIST, waiting)


def test_watches_lapse_and_are_bounded() -> None:
    watchers = Watchers(lapse_s=10, max_watching=1)
    assert watchers.watch(b"a", [LIST], 0)
    assert not watchers.watch(b"b", [LIST], 0)
    assert [b"a"] == watchers.of(LIST)
    assert 1 == watchers.expire(10)
    assert [] == watchers.of(LIST)
    assert watchers.watch(b"b", [LIST], 10)
