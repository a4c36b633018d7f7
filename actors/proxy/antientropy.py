"""Anti-entropy, driven by the proxy: replicas that drifted apart converge.

Round after round (one every ``interval_s``), the proxy takes the next
*replica group* (the servers that share a set of key ranges) and asks each
of them for the 64 bucket digests of the lists they hold for that group
(:mod:`actors.server.digests`). Equal digests end the round. Otherwise it asks for
the per-list digests of the differing buckets only, and every list whose
digests differ (or that some member lacks) is queued for a *repair*: the
coordinator reads it from every member and writes the join to those behind.

Repairs are throttled (``concurrency`` in flight); they share the proxy
actor with client requests, so the throttle is what keeps re-replication
from starving clients. After a ring change (a server removed or joined),
the groups that changed are compared first: that is re-replication, which
brings the new owners of a dead server's ranges up to N copies.

Groups with a suspect member are skipped until it answers again; hinted
handoff covers its writes meanwhile.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from actors.proxy.coordinator import Coordinator
from actors.proxy.membership import Membership
from logs import Logger
from protocol import Digest, DigestRequest, Keys, KeysRequest, Message

__all__ = ["AntiEntropy"]

#: Lists waiting for a repair; beyond this, later rounds find them again.
MAX_QUEUED_REPAIRS: Final = 100_000
#: How long one exchange may wait for its replies.
SESSION_TIMEOUT_S: Final = 5.0

Group = tuple[str, ...]
#: An exchange first compares the group's digests, then, where they differ,
#: the keys (list ids and digests) of each replica.
Stage = Literal["digest", "keys"]


@dataclass(eq=False)
class _Session:
    group: Group
    stage: Stage
    deadline: float
    waiting: dict[str, str] = field(default_factory=dict)  # msg_id -> node
    digests: dict[str, list[bytes]] = field(default_factory=dict)
    keys: dict[str, dict[str, bytes]] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)


class AntiEntropy:
    """The proxy's anti-entropy manager; owned by the proxy actor (on its bridge's thread)."""

    def __init__(
        self,
        membership: Membership,
        coordinator: Coordinator,
        send: Callable[[str, Message], None],
        announce_ring: Callable[[str], None],
        new_id: Callable[[], str],
        n: int,
        interval_s: float,
        concurrency: int,
        log: Logger,
    ) -> None:
        self.membership = membership
        self.coordinator = coordinator
        self.send = send
        self.announce_ring = announce_ring
        self.new_id = new_id
        self.n = n
        self.interval_s = interval_s
        self.concurrency = concurrency
        self.log = log
        self.groups: deque[Group] = deque()
        #: groups to compare now, back to back, without waiting for the
        #: interval: those of a server that has just come back
        self.urgent: deque[Group] = deque()
        self.queue: deque[tuple[str, tuple[str, ...]]] = deque()
        self.queued: set[str] = set()
        self.session: _Session | None = None
        self.next_round = 0.0
        self.rounds = 0
        self.in_sync_rounds = 0
        self.repairs_started = 0

    # -------------------------------------------------------------- schedule

    def ring_changed(self) -> None:
        """Recompute the groups; the new ones go first (re-replication)."""
        old = set(self.groups)
        groups = self.membership.ring.replica_groups(self.n)
        fresh = [g for g in groups if g not in old]
        self.groups = deque(fresh + [g for g in groups if g in old])
        self.urgent = deque(g for g in self.urgent if g in set(groups))
        self.session = None

    def member_back(self, node: str) -> None:
        """``node`` answers again after being suspect: compare each of its
        groups now, one after another, so that what it missed reaches it
        without waiting for the rotation of every group of the ring."""
        for group in self.groups:
            if node in group and group not in self.urgent:
                self.urgent.append(group)

    def tick(self, now: float) -> None:
        self._start_repairs(now)
        if self.session is not None and now >= self.session.deadline:
            self.log.info("ae.timeout", group=list(self.session.group), stage=self.session.stage)
            self.session = None
        if self.session is None and self.urgent:
            self._begin(now, self.urgent.popleft())
        elif self.session is None and now >= self.next_round and self.groups:
            self.next_round = now + self.interval_s
            self._begin(now)

    def _start_repairs(self, now: float) -> None:
        while self.queue and self.coordinator.repairs_inflight < self.concurrency:
            list_id, nodes = self.queue.popleft()
            self.queued.discard(list_id)
            live = [n for n in nodes if self.membership.healthy(n)]
            if len(live) >= 2 or (live and len(nodes) == 1):
                self.repairs_started += 1
                self.coordinator.repair(list_id, live, now)

    def _begin(self, now: float, urgent: Group | None = None) -> None:
        if urgent is not None:
            group = urgent
            if not self._ready(group):
                return  # a member went down again: the rotation comes back to it
        else:
            # Take the next group whose members are all healthy; rotate the rest.
            for _ in range(len(self.groups)):
                group = self.groups[0]
                self.groups.rotate(-1)
                if self._ready(group):
                    break
            else:
                return
        self.rounds += 1
        session = _Session(group, "digest", now + SESSION_TIMEOUT_S)
        epoch = self.membership.epoch
        for node in group:
            msg_id = self.new_id()
            session.waiting[msg_id] = node
            self.send(
                node, DigestRequest(msg_id=msg_id, sender="proxy", epoch=epoch, group=list(group))
            )
        self.session = session

    def _ready(self, group: Group) -> bool:
        """Every member of ``group`` is in the ring and healthy."""
        return all(m in self.membership.members for m in group) and all(
            self.membership.healthy(m) for m in group
        )

    # --------------------------------------------------------------- replies

    def owns(self, reply_to: str) -> bool:
        return self.session is not None and reply_to in self.session.waiting

    def on_reply(self, msg: Digest | Keys, now: float) -> None:
        session = self.session
        if session is None:
            return
        node = session.waiting.pop(msg.reply_to, None)
        if node is None:
            return
        if msg.epoch != self.membership.epoch:
            session.stale.add(node)
        elif isinstance(msg, Digest):
            # The protocol guarantees 64 buckets; a node that sent fewer is
            # treated as differing everywhere rather than trusted.
            buckets = list(msg.buckets)
            session.digests[node] = buckets if len(buckets) == 64 else [b""] * 64
        else:
            session.keys[node] = dict(msg.entries)
        if not session.waiting:
            self._advance(session, now)

    def _advance(self, session: _Session, now: float) -> None:
        if session.stale:
            # It has not heard of the current ring: tell it, compare next time.
            for node in session.stale:
                self.announce_ring(node)
            self.session = None
            return
        group = session.group
        if session.stage == "digest":
            columns = list(session.digests.values())
            differing = [b for b in range(64) if len({c[b] for c in columns}) > 1]
            if not differing:
                self.in_sync_rounds += 1
                self.session = None
                return
            session.stage = "keys"
            session.deadline = now + SESSION_TIMEOUT_S
            epoch = self.membership.epoch
            for node in group:
                msg_id = self.new_id()
                session.waiting[msg_id] = node
                self.send(
                    node,
                    KeysRequest(
                        msg_id=msg_id,
                        sender="proxy",
                        epoch=epoch,
                        group=list(group),
                        buckets=differing,
                    ),
                )
            return
        every: set[str] = set()
        for entries in session.keys.values():
            every.update(entries)
        diverged = [
            list_id
            for list_id in sorted(every)
            if len({session.keys[node].get(list_id) for node in group}) > 1
        ]
        for list_id in diverged:
            if list_id not in self.queued and len(self.queue) < MAX_QUEUED_REPAIRS:
                self.queued.add(list_id)
                self.queue.append((list_id, group))
        self.log.info("ae.diverged", group=list(group), lists=len(diverged))
        self.session = None
        self._start_repairs(now)
