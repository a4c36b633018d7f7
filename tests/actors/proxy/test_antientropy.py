"""Anti-entropy rounds, driven by hand with explicit times.

A real :class:`Membership` (five servers admitted by hello and a batch), a
real :class:`Coordinator` for the repairs, recording callables as the
transport, and one :class:`DigestIndex` per server to answer the proxy's
DigestRequest and KeysRequest as a server would.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from actors.proxy import AntiEntropy, Coordinator, Membership, QuorumConfig
from actors.proxy.antientropy import SESSION_TIMEOUT_S, _Session
from actors.server import DigestIndex
from actors.server.digests import BUCKETS, bucket_of, group_of
from crdt import ShoppingList
from logs import Tracer
from protocol import (
    Digest,
    DigestRequest,
    Fetch,
    Fetched,
    Keys,
    KeysRequest,
    Message,
    Store,
)
from ring import HashRing

FIVE = [f"s{i}" for i in range(1, 6)]
N = 3
VNODES = 64
INTERVAL = 1.0
Group = tuple[str, ...]
M = TypeVar("M", bound=Message)


def list_id(i: int) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(f"ae-list-{i}".encode()).digest(), version=4))


def digest_of(text: str) -> bytes:
    return hashlib.md5(text.encode()).digest()


class Log:
    """Records the anti-entropy manager's log events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def names(self) -> list[str]:
        return [event for event, _ in self.events]


@dataclass
class Proxy:
    """An anti-entropy manager, its coordinator and membership, and what they sent."""

    membership: Membership
    coordinator: Coordinator
    ae: AntiEntropy
    log: Log
    sent: list[tuple[str, Message]] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)

    def take(self, kind: type[M]) -> list[tuple[str, M]]:
        """The messages of ``kind`` sent so far, removed from ``sent``."""
        taken: list[tuple[str, M]] = []
        kept: list[tuple[str, Message]] = []
        for node, m in self.sent:
            if isinstance(m, kind):
                taken.append((node, m))
            else:
                kept.append((node, m))
        self.sent[:] = kept
        return taken

    def session(self) -> _Session | None:
        """The round in progress (a call, so that type narrowing does not stick)."""
        return self.ae.session

    def groups(self) -> list[Group]:
        return self.membership.ring.replica_groups(N)


def make_proxy(concurrency: int = 100, interval_s: float = INTERVAL) -> Proxy:
    membership = Membership(vnodes=VNODES, batch_size=5, batch_timeout_s=1.0, probe_misses=3)
    for node in FIVE:
        assert not membership.hello(node, 0.0)
    assert FIVE == membership.admit_due(0.0)
    for node in FIVE:
        membership.seen(node, 0.0)
    ids = itertools.count(1)
    sent: list[tuple[str, Message]] = []
    coordinator = Coordinator(
        QuorumConfig(n=N, r=2, w=2, request_timeout_s=0.5),
        membership,
        send=lambda node, msg: sent.append((node, msg)),
        reply=lambda channel, peer, msg: None,
        publish=lambda list_id, make: None,
        new_id=lambda: f"proxy.{next(ids)}",
        node_id="proxy",
        tracer=Tracer(),
        log=structlog.get_logger(),
    )
    announced: list[str] = []
    log = Log()
    ae = AntiEntropy(
        membership,
        coordinator,
        send=lambda node, msg: sent.append((node, msg)),
        announce_ring=announced.append,
        new_id=lambda: f"ae.{next(ids)}",
        n=N,
        interval_s=interval_s,
        concurrency=concurrency,
        log=log,
    )
    ae.ring_changed()
    return Proxy(membership, coordinator, ae, log, sent, announced)


class Servers:
    """The digest indexes of the five servers, answering as a server would."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.ring = HashRing(FIVE, vnodes=VNODES)
        self.index = {node: DigestIndex(self.ring, N) for node in FIVE}
        self.epoch = {node: proxy.membership.epoch for node in FIVE}

    def hold(self, nodes: Group | list[str], lid: str, digest: bytes) -> None:
        for node in nodes:
            self.index[node].update(lid, digest)

    def reply(self, node: str, msg: DigestRequest | KeysRequest) -> Digest | Keys:
        index, group = self.index[node], tuple(msg.group)
        if isinstance(msg, DigestRequest):
            return Digest(
                msg_id=f"{node}.r",
                sender=node,
                reply_to=msg.msg_id,
                epoch=self.epoch[node],
                buckets=index.digests(group),
                lists=index.count(group),
            )
        return Keys(
            msg_id=f"{node}.r",
            sender=node,
            reply_to=msg.msg_id,
            epoch=self.epoch[node],
            entries=index.entries(group, msg.buckets),
        )

    def answer(self, kind: type[DigestRequest] | type[KeysRequest], now: float) -> Group:
        """Answer every request of ``kind`` the proxy sent; returns who was asked."""
        requests = self.proxy.take(kind)
        for node, msg in requests:
            self.proxy.ae.on_reply(self.reply(node, msg), now)
        return tuple(sorted(node for node, _ in requests))


def lists_of(group: Group, count: int) -> list[str]:
    """``count`` list ids whose replica group is ``group``, in distinct buckets."""
    ring = HashRing(FIVE, vnodes=VNODES)
    found: dict[int, str] = {}
    for i in itertools.count():
        lid = list_id(i)
        if group_of(ring, lid, N) == group and bucket_of(lid) not in found:
            found[bucket_of(lid)] = lid
            if len(found) == count:
                return sorted(found.values())
    raise AssertionError("unreachable")


def in_sync(proxy: Proxy, servers: Servers, group: Group, count: int = 6) -> list[str]:
    """Every member of ``group`` holds the same ``count`` lists."""
    lids = lists_of(group, count)
    for lid in lids:
        servers.hold(group, lid, digest_of(lid))
    return lids


def start_round(proxy: Proxy, now: float = 0.0) -> Group:
    """Tick until a round starts; returns its group."""
    assert proxy.session() is None
    proxy.ae.tick(now)
    session = proxy.session()
    assert session is not None
    return session.group


# -------------------------------------------------------------- scheduling


def test_ring_changed_builds_the_replica_groups_in_ring_order() -> None:
    proxy = make_proxy()
    assert proxy.groups() == list(proxy.ae.groups)
    assert len(proxy.groups()) > 1
    assert all(N == len(g) and list(g) == sorted(g) for g in proxy.ae.groups)


def test_after_a_join_the_new_groups_come_first() -> None:
    proxy = make_proxy()
    old = set(proxy.ae.groups)
    proxy.membership.hello("s6", 1.0)
    assert ["s6"] == proxy.membership.admit_due(2.0)
    proxy.ae.ring_changed()
    groups = proxy.groups()
    fresh = [g for g in groups if g not in old]
    kept = [g for g in groups if g in old]
    assert fresh
    assert all("s6" in g for g in fresh)
    assert fresh + kept == list(proxy.ae.groups)
    assert set(groups) == set(proxy.ae.groups)


def test_after_a_removal_groups_with_the_removed_server_are_gone() -> None:
    proxy = make_proxy()
    start_round(proxy)
    proxy.membership.remove("s5")
    proxy.ae.ring_changed()
    assert proxy.session() is None
    assert set(proxy.groups()) == set(proxy.ae.groups)
    assert all("s5" not in g for g in proxy.ae.groups)


def test_a_tick_starts_a_round_by_asking_every_member_of_one_group_for_digests() -> None:
    proxy = make_proxy()
    first = proxy.ae.groups[0]
    assert first == start_round(proxy)
    requests = proxy.take(DigestRequest)
    assert sorted(first) == sorted(node for node, _ in requests)
    for _, msg in requests:
        assert (list(first), proxy.membership.epoch, "proxy") == (msg.group, msg.epoch, msg.sender)
        assert proxy.ae.owns(msg.msg_id)
    assert N == len({msg.msg_id for _, msg in requests})
    assert [] == proxy.sent
    assert 1 == proxy.ae.rounds


def test_the_next_round_waits_for_the_interval_and_takes_the_next_group() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    order = list(proxy.ae.groups)
    assert order[0] == start_round(proxy, 0.0)
    servers.answer(DigestRequest, 0.1)
    assert proxy.session() is None
    proxy.ae.tick(INTERVAL - 0.01)
    assert [] == proxy.take(DigestRequest)
    assert proxy.session() is None
    proxy.ae.tick(INTERVAL)
    assert order[1] == servers.answer(DigestRequest, INTERVAL)
    assert 2 == proxy.ae.rounds


def test_one_round_at_a_time() -> None:
    proxy = make_proxy()
    start_round(proxy, 0.0)
    asked = proxy.take(DigestRequest)
    proxy.ae.tick(INTERVAL)
    proxy.ae.tick(2 * INTERVAL)
    assert [] == proxy.take(DigestRequest)
    assert N == len(asked)


def test_rounds_visit_every_group_in_turn() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    visited = []
    for i in range(len(proxy.ae.groups)):
        now = i * INTERVAL
        proxy.ae.tick(now)
        visited.append(servers.answer(DigestRequest, now))
    assert proxy.groups() == visited
    assert len(visited) == proxy.ae.in_sync_rounds


def test_a_server_back_has_its_groups_compared_at_once_and_back_to_back() -> None:
    """What a returning server missed reaches it without waiting for the
    rotation: each of its groups is compared next, without the interval."""
    proxy = make_proxy()
    servers = Servers(proxy)
    start_round(proxy, 0.0)
    servers.answer(DigestRequest, 0.1)
    proxy.ae.member_back("s3")
    theirs = [g for g in proxy.groups() if "s3" in g]
    compared = []
    for i in range(len(theirs)):
        now = 0.2 + i * 0.01  # well inside the interval
        proxy.ae.tick(now)
        compared.append(servers.answer(DigestRequest, now))
    assert sorted(theirs) == sorted(compared)
    proxy.ae.tick(0.5)
    assert [] == proxy.take(DigestRequest)  # then the rotation waits again


def test_no_groups_no_rounds() -> None:
    proxy = make_proxy()
    proxy.ae.groups.clear()
    proxy.ae.tick(0.0)
    assert [] == proxy.sent
    assert 0 == proxy.ae.rounds


# ------------------------------------------------------------ comparisons


def test_equal_digests_end_the_round_without_a_keys_request() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    in_sync(proxy, servers, group)
    servers.answer(DigestRequest, 0.1)
    assert proxy.session() is None
    assert 1 == proxy.ae.in_sync_rounds
    assert [] == proxy.sent
    assert 0 == proxy.coordinator.repairs_inflight


def test_differing_buckets_are_asked_for_their_keys_and_only_them() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    lids = in_sync(proxy, servers, group)
    a, _, c = group
    servers.hold([a], lids[0], digest_of("newer on a"))
    servers.index[c].update(lids[3], None)
    servers.answer(DigestRequest, 0.1)
    keys_requests = proxy.take(KeysRequest)
    assert sorted(group) == sorted(node for node, _ in keys_requests)
    for _, msg in keys_requests:
        assert sorted([bucket_of(lids[0]), bucket_of(lids[3])]) == msg.buckets
        assert (list(group), proxy.membership.epoch) == (msg.group, msg.epoch)
        assert proxy.ae.owns(msg.msg_id)
    assert 0 == proxy.ae.in_sync_rounds
    assert [] == proxy.sent


def test_lists_that_differ_or_are_missing_are_repaired_from_every_member() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    lids = in_sync(proxy, servers, group)
    a, _, c = group
    servers.hold([a], lids[0], digest_of("newer on a"))
    servers.index[c].update(lids[3], None)
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    assert proxy.session() is None
    fetches = proxy.take(Fetch)
    assert sorted((lid, node) for lid in (lids[0], lids[3]) for node in group) == sorted(
        (m.list_id, node) for node, m in fetches
    )
    assert 2 == proxy.ae.repairs_started
    assert 2 == proxy.coordinator.repairs_inflight
    assert ("ae.diverged", {"group": list(group), "lists": 2}) == proxy.log.events[-1]


def test_a_list_only_one_member_holds_is_repaired() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    [lone] = lists_of(group, 1)
    servers.hold([group[1]], lone, digest_of("lone"))
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    assert sorted((lone, node) for node in group) == sorted(
        (m.list_id, node) for node, m in proxy.take(Fetch)
    )


def test_a_repair_writes_the_join_to_the_members_behind() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    [lid] = lists_of(group, 1)
    shopping = ShoppingList(lid, "alice")
    shopping.add("milk", 2)
    blob = shopping.encode()
    servers.hold([group[0]], lid, hashlib.md5(blob).digest())
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    for node, fetch in proxy.take(Fetch):
        state = blob if node == group[0] else None
        reply = Fetched(
            msg_id=f"{node}.f", sender=node, reply_to=fetch.msg_id, list_id=lid, state=state
        )
        proxy.coordinator.on_reply(node, reply, 0.3)
    stores = proxy.take(Store)
    assert sorted(group[1:]) == sorted(node for node, _ in stores)
    assert all((lid, blob) == (m.list_id, m.state) for _, m in stores)
    assert 0 == proxy.coordinator.repairs_inflight


def test_a_list_already_queued_is_not_queued_twice() -> None:
    proxy = make_proxy(concurrency=0)
    servers = Servers(proxy)
    group = start_round(proxy)
    [lid] = lists_of(group, 1)
    servers.hold([group[0]], lid, digest_of("x"))
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    assert [(lid, group)] == list(proxy.ae.queue)
    # The group comes round again before the repair could start.
    compared = []
    for i in range(len(proxy.ae.groups)):
        now = (i + 1) * INTERVAL
        proxy.ae.tick(now)
        compared.append(servers.answer(DigestRequest, now))
        servers.answer(KeysRequest, now)
    assert group == compared[-1]
    assert 2 == proxy.ae.rounds - proxy.ae.in_sync_rounds
    assert [(lid, group)] == list(proxy.ae.queue)
    assert 0 == proxy.ae.repairs_started


# ------------------------------------------------------------- throttling


def finish_repair(proxy: Proxy, fetches: list[tuple[str, Fetch]], lid: str, now: float) -> None:
    for node, fetch in fetches:
        if fetch.list_id == lid:
            reply = Fetched(
                msg_id=f"{node}.f", sender=node, reply_to=fetch.msg_id, list_id=lid, state=None
            )
            proxy.coordinator.on_reply(node, reply, now)


def started_lists(fetches: list[tuple[str, Fetch]]) -> list[str]:
    """The lists of some Fetches, in the order their repairs started; N Fetches each."""
    order = list(dict.fromkeys(m.list_id for _, m in fetches))
    for lid in order:
        assert N == sum(1 for _, m in fetches if m.list_id == lid)
    return order


def test_repairs_in_flight_never_exceed_the_concurrency() -> None:
    proxy = make_proxy(concurrency=2)
    servers = Servers(proxy)
    group = start_round(proxy)
    lids = lists_of(group, 5)
    for lid in lids:
        servers.hold([group[0]], lid, digest_of(lid))
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    fetches = proxy.take(Fetch)
    active = started_lists(fetches)
    assert lids[:2] == active
    assert 2 == proxy.coordinator.repairs_inflight
    assert 3 == len(proxy.ae.queue)
    proxy.ae.tick(0.3)
    assert [] == proxy.take(Fetch)
    history = list(active)
    now = 0.3
    while active:
        now += 0.01
        finish_repair(proxy, fetches, active.pop(0), now)
        assert len(active) == proxy.coordinator.repairs_inflight
        proxy.ae.tick(now)
        new = proxy.take(Fetch)
        fetches += new
        active += started_lists(new)
        history += started_lists(new)
        assert len(active) == proxy.coordinator.repairs_inflight
        assert proxy.coordinator.repairs_inflight <= 2
    assert lids == history
    assert 5 == proxy.ae.repairs_started
    assert not proxy.ae.queue


def test_repairs_start_in_list_order_as_earlier_ones_finish() -> None:
    proxy = make_proxy(concurrency=1)
    servers = Servers(proxy)
    group = start_round(proxy)
    lids = lists_of(group, 3)
    for lid in lids:
        servers.hold([group[2]], lid, digest_of(lid))
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    order = []
    for step in range(3):
        fetches = proxy.take(Fetch)
        [lid] = {m.list_id for _, m in fetches}
        order.append(lid)
        assert 1 == proxy.coordinator.repairs_inflight
        finish_repair(proxy, fetches, lid, 0.3 + step)
        assert 0 == proxy.coordinator.repairs_inflight
        proxy.ae.tick(0.3 + step)
    assert lids == order
    assert [] == proxy.take(Fetch)


def test_a_queued_repair_skips_members_that_became_suspect() -> None:
    proxy = make_proxy(concurrency=1)
    servers = Servers(proxy)
    group = start_round(proxy)
    lids = lists_of(group, 3)
    for lid in lids:
        servers.hold([group[0]], lid, digest_of(lid))
    servers.answer(DigestRequest, 0.1)
    servers.answer(KeysRequest, 0.2)
    finish_repair(proxy, proxy.take(Fetch), lids[0], 0.3)
    proxy.membership.failed(group[2], 0.3)
    proxy.ae.tick(0.3)
    second = proxy.take(Fetch)
    assert [(lids[1], group[0]), (lids[1], group[1])] == sorted(
        (m.list_id, node) for node, m in second
    )
    # With two members down, nothing is left to compare: the repair is dropped.
    finish_repair(proxy, second, lids[1], 0.4)
    proxy.membership.failed(group[1], 0.4)
    proxy.ae.tick(0.4)
    assert [] == proxy.take(Fetch)
    assert not proxy.ae.queue
    assert 2 == proxy.ae.repairs_started


# --------------------------------------------------------- stale, suspect


def test_a_stale_epoch_gets_the_ring_announced_and_ends_the_round() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    [lid] = lists_of(group, 1)
    servers.hold([group[0]], lid, digest_of("differs"))
    servers.epoch[group[1]] = proxy.membership.epoch - 1
    servers.answer(DigestRequest, 0.1)
    assert [group[1]] == proxy.announced
    assert proxy.session() is None
    assert [] == proxy.take(KeysRequest)
    assert 0 == proxy.ae.in_sync_rounds


def test_a_stale_epoch_in_the_keys_stage_repairs_nothing() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    group = start_round(proxy)
    [lid] = lists_of(group, 1)
    servers.hold([group[0]], lid, digest_of("differs"))
    servers.answer(DigestRequest, 0.1)
    servers.epoch[group[2]] = proxy.membership.epoch + 7
    servers.answer(KeysRequest, 0.2)
    assert [group[2]] == proxy.announced
    assert proxy.session() is None
    assert [] == proxy.take(Fetch)
    assert not proxy.ae.queue


def test_a_group_with_a_suspect_member_is_skipped() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    proxy.membership.failed("s1", 0.0)
    healthy = [g for g in proxy.groups() if "s1" not in g]
    assert healthy
    assert len(healthy) < len(proxy.groups())
    visited = []
    for i in range(2 * len(proxy.groups())):
        now = i * INTERVAL
        proxy.ae.tick(now)
        group = servers.answer(DigestRequest, now)
        assert "s1" not in group
        visited.append(group)
    assert set(healthy) == set(visited)
    assert all(node != "s1" for node, _ in proxy.sent)


def test_a_recovered_member_is_compared_again() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    proxy.membership.failed("s1", 0.0)
    proxy.membership.seen("s1", 0.5)
    visited = set()
    for i in range(len(proxy.groups())):
        proxy.ae.tick(i * INTERVAL)
        visited.add(servers.answer(DigestRequest, i * INTERVAL))
    assert set(proxy.groups()) == visited


def test_no_round_when_every_group_has_a_suspect_member() -> None:
    proxy = make_proxy()
    for node in ("s1", "s2", "s3"):
        proxy.membership.failed(node, 0.0)
    proxy.ae.tick(0.0)
    assert proxy.session() is None
    assert [] == proxy.sent
    assert 0 == proxy.ae.rounds


# ---------------------------------------------------------------- timeouts


def test_a_session_times_out_after_session_timeout_s() -> None:
    proxy = make_proxy(interval_s=10 * SESSION_TIMEOUT_S)
    servers = Servers(proxy)
    group = start_round(proxy, 0.0)
    requests = proxy.take(DigestRequest)
    for node, msg in requests[:2]:
        proxy.ae.on_reply(servers.reply(node, msg), 0.1)
    proxy.ae.tick(SESSION_TIMEOUT_S - 0.01)
    assert proxy.session() is not None
    proxy.ae.tick(SESSION_TIMEOUT_S)
    assert proxy.session() is None
    assert ("ae.timeout", {"group": list(group), "stage": "digest"}) == proxy.log.events[-1]
    # The straggler is too late: it starts nothing.
    node, msg = requests[2]
    assert not proxy.ae.owns(msg.msg_id)
    proxy.ae.on_reply(servers.reply(node, msg), SESSION_TIMEOUT_S + 0.1)
    assert [] == proxy.sent
    assert 0 == proxy.ae.in_sync_rounds


def test_the_keys_stage_has_its_own_deadline() -> None:
    proxy = make_proxy(interval_s=100.0)
    servers = Servers(proxy)
    group = start_round(proxy, 0.0)
    [lid] = lists_of(group, 1)
    servers.hold([group[0]], lid, digest_of("x"))
    servers.answer(DigestRequest, 3.0)
    assert N == len(proxy.take(KeysRequest))
    proxy.ae.tick(3.0 + SESSION_TIMEOUT_S - 0.01)
    assert proxy.session() is not None
    proxy.ae.tick(3.0 + SESSION_TIMEOUT_S)
    assert proxy.session() is None
    assert "ae.timeout" == proxy.log.names()[-1]
    assert "keys" == proxy.log.events[-1][1]["stage"]


def test_a_timed_out_round_is_followed_by_the_next_one_on_schedule() -> None:
    proxy = make_proxy(interval_s=SESSION_TIMEOUT_S / 2)
    order = list(proxy.ae.groups)
    start_round(proxy, 0.0)
    proxy.take(DigestRequest)
    proxy.ae.tick(SESSION_TIMEOUT_S)
    # Timed out and, the interval being over, the next group asked at once.
    session = proxy.session()
    assert session is not None
    assert order[1] == session.group
    assert N == len(proxy.take(DigestRequest))


# ---------------------------------------------------------- odd replies


def test_a_duplicated_or_unknown_reply_is_ignored() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    start_round(proxy)
    requests = proxy.take(DigestRequest)
    node, msg = requests[0]
    reply = servers.reply(node, msg)
    proxy.ae.on_reply(reply, 0.1)
    proxy.ae.on_reply(reply, 0.1)
    stranger = Digest(
        msg_id="x", sender="s1", reply_to="nobody", epoch=1, buckets=[bytes(16)] * BUCKETS, lists=0
    )
    proxy.ae.on_reply(stranger, 0.1)
    session = proxy.session()
    assert session is not None
    assert 2 == len(session.waiting)


def test_replies_to_a_round_dropped_by_a_ring_change_are_ignored() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    start_round(proxy)
    requests = proxy.take(DigestRequest)
    proxy.ae.ring_changed()
    for node, msg in requests:
        proxy.ae.on_reply(servers.reply(node, msg), 0.1)
    assert proxy.session() is None
    assert 0 == proxy.ae.in_sync_rounds
    assert [] == proxy.sent


def test_a_short_digest_does_not_crash_the_round() -> None:
    proxy = make_proxy()
    servers = Servers(proxy)
    start_round(proxy)
    requests = proxy.take(DigestRequest)
    for node, msg in requests[:2]:
        proxy.ae.on_reply(servers.reply(node, msg), 0.1)
    node, msg = requests[2]
    short = Digest(msg_id="x", sender=node, reply_to=msg.msg_id, epoch=1, buckets=[], lists=0)
    proxy.ae.on_reply(short, 0.1)
    session = proxy.session()
    assert session is None or "keys" == session.stage
