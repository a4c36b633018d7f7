"""Quorum requests, coordinated by the proxy: Dynamo's put and get.

A client request becomes N *slots*, one per replica of the list's preference
list. A slot sends one attempt at a time; an attempt fails on a timeout, an
unroutable send or an error reply, and tenacity's policy (three attempts in
all, no wait) decides whether the slot tries again, always on the next
server clockwise that the request has not used yet. When the owner of a slot
is suspect, its first attempt already goes to such a stand-in, with a hint
naming the owner (sloppy quorum with hinted handoff).

* A write is answered ``Saved`` once W slots committed, and published to
  subscribers; the other slots still run to completion. A client's write
  names its writer in every Store, and each replica checks the frame before
  it stores it: a replica's refusal is the client's answer (``refused``, not
  retried elsewhere); replicas that cannot decide (their copy may lag) are
  resolved by :mod:`actors.proxy.verification` when fewer than W accepted.
* A read is answered once R slots replied, with the join of their copies;
  when every slot is done, owners whose copy was behind the join get it
  (read repair), unless a write of the list is in flight (it is what the
  copies differ by, most likely; anti-entropy repairs what stays behind).
* A handoff (a server passing on a hinted write or a list it no longer
  owns) is a write to the owner alone, or to the current preference list
  if that owner left the ring; the server is answered ``Stored``.
* A repair (anti-entropy, re-replication) is a read of given replicas with
  no client: when all answered, those behind get the join. Repairs are
  throttled by the caller.

No I/O here: the proxy actor passes callables to send, and calls in with
replies, failures and the time. What a decided request answers (replies,
the join of the copies, read repair) is sent by its
:class:`~actors.proxy.responder.Responder`.
"""

from __future__ import annotations

from collections.abc import Callable

import tenacity

from actors.kernel import Channel
from actors.proxy.admission import Admission
from actors.proxy.deadlines import Deadlines
from actors.proxy.membership import Membership
from actors.proxy.quorum import (
    AttemptFailed,
    QuorumConfig,
    Request,
    RequestKind,
    Slot,
    attempt_policy,
)
from actors.proxy.responder import Publish, Reply, Responder, Send
from actors.proxy.verification import Verifier
from logs import Logger, Tracer
from protocol import (
    AccessState,
    ErrorReply,
    Fetch,
    Fetched,
    Get,
    Handoff,
    Message,
    Put,
    Store,
    Stored,
    next_envelope,
)
from ring import key_position

__all__ = ["Coordinator"]

#: An answer slower than this fraction of the request time-out tells admission
#: control that the replicas have more than they finish in time.
CONGESTED_LATENCY = 0.5

#: Called when a request finished (every slot done); e.g. to start the next repair.
Finished = Callable[[str], None]


class Coordinator:
    """Runs every quorum request of the proxy; owned by the proxy actor (on its bridge's thread)."""

    def __init__(
        self,
        config: QuorumConfig,
        membership: Membership,
        send: Send,
        reply: Reply,
        publish: Publish,
        new_id: Callable[[], str],
        node_id: str,
        tracer: Tracer,
        log: Logger,
    ) -> None:
        self.config = config
        self.membership = membership
        self._send = send
        self._reply = reply
        self._new_id = new_id
        self.node_id = node_id
        self.tracer = tracer
        self.log = log
        self.responder = Responder(send, reply, publish, new_id, node_id, tracer, log)
        self.policy = attempt_policy(config.attempts)
        # tenacity keeps its statistics per thread and expects begin() first;
        # the coordinator lives in one thread (the proxy actor's).
        self.policy.begin()
        self.pending: dict[str, tuple[Request, Slot]] = {}
        self._timers = Deadlines()
        self.inflight = 0
        self.repairs_inflight = 0
        #: writes in flight (not every slot done) by list: a read of such a
        #: list does not repair (see :meth:`_settle`)
        self.writing: dict[str, int] = {}
        #: clients' requests not yet answered, bounded (``overloaded`` beyond)
        self.admission = Admission(log, target_s=config.request_timeout_s * CONGESTED_LATENCY)
        #: resolves the writes that replicas could not decide
        self.verifier = Verifier(self)

    @property
    def repairs_sent(self) -> int:
        """Read repairs sent so far."""
        return self.responder.repairs_sent

    # -------------------------------------------------------------- requests

    def put(
        self,
        peer: bytes,
        msg: Put,
        now: float,
        writer: str = "",
        access: AccessState | None = None,
        observed: bytes | None = None,
    ) -> None:
        """A client's write. ``writer``: its authenticated public key (Z85), named
        in every Store so the replicas check the frame (``docs/security.md``;
        empty: unchecked). ``access``: the proxy's change to the list's access
        list, sent with every Store (the frame's own access part is ignored).
        ``observed``: what the cluster has shown the writer of the list (an
        encoded state holding that context; ``None``: not tracked)."""
        self._start("put", peer, msg, now, writer=writer, access=access, observed=observed)

    def get(self, peer: bytes, msg: Get, now: float) -> None:
        self._start("get", peer, msg, now)

    def handoff(self, peer: bytes, msg: Handoff, now: float) -> None:
        """A server hands over a hint or a stray list; answered on the backend."""
        if msg.owner and msg.owner in self.membership.members:
            if not self.membership.healthy(msg.owner):
                self.responder.error(
                    peer, msg, "unavailable", f"{msg.owner} is still down", "backend"
                )
                return
            self._start("handoff", peer, msg, now, targets=[msg.owner])
        else:
            # A stray, or a hint for a server that has left the ring: its
            # current owners take it, like any write.
            self._start("handoff", peer, msg, now)

    def repair(self, list_id: str, nodes: list[str], now: float) -> None:
        """Bring ``nodes`` (replicas of ``list_id``) to the join of their copies."""
        if not nodes or not len(self.membership.ring):
            return
        msg = Get(msg_id=self._new_id(), sender=self.node_id, list_id=list_id)
        self.repairs_inflight += 1
        self._start("repair", b"", msg, now, targets=nodes)

    def _start(
        self,
        kind: RequestKind,
        peer: bytes,
        msg: Put | Get | Handoff,
        now: float,
        targets: list[str] | None = None,
        writer: str = "",
        access: AccessState | None = None,
        observed: bytes | None = None,
    ) -> None:
        ring = self.membership.ring
        channel: Channel = "backend" if kind == "handoff" else "frontend"
        if not len(ring):
            self.responder.error(
                peer, msg, "unavailable", "no server has joined the ring yet", channel
            )
            return
        if kind in ("put", "get"):
            refusal = self.admission.admit(peer, now)
            if refusal is not None:
                answer = ErrorReply(
                    **self.responder.envelope(msg), code="overloaded", reason=refusal
                )
                self._reply("frontend", peer, answer)
                return
        n = self.config.n
        if targets is not None:
            owners, spares, need = targets, [], len(targets) if kind == "repair" else 1
        else:
            # The preference list, then enough spares for two retries per slot.
            walk = ring.walk(key_position(msg.list_id), n * self.config.attempts)
            owners, spares = walk[:n], walk[n:]
            need = self.config.r if kind == "get" else self.config.w
        req = Request(kind, peer, msg, owners, spares, set(owners), min(need, len(owners)))
        req.started_s, req.writer, req.access, req.observed = now, writer, access, observed
        self.inflight += 1
        if kind in ("put", "handoff"):
            self.writing[msg.list_id] = self.writing.get(msg.list_id, 0) + 1
        if msg.traced:
            self.tracer.hop(self.log, f"proxy.{kind}", msg, list_id=msg.list_id, owners=owners)
        req.slots = [Slot(owner) for owner in owners]
        req.active = len(owners)
        for slot in req.slots:
            healthy = self.membership.healthy(slot.owner)
            target = slot.owner if healthy or targets is not None else self._spare(req)
            self._attempt(req, slot, target or slot.owner, now)
        self._settle(req, now)

    def _spare(self, req: Request) -> str | None:
        """The next unused server clockwise, healthy ones first."""
        for want_healthy in (True, False):
            for node in req.spares:
                if node not in req.used and self.membership.healthy(node) == want_healthy:
                    req.used.add(node)
                    return node
        return None

    def _attempt(self, req: Request, slot: Slot, node: str, now: float) -> None:
        slot.node = node
        slot.msg_id = self._new_id()
        m = req.msg
        out: Message
        if isinstance(m, Put | Handoff):
            hint = slot.owner if node != slot.owner else ""
            out = Store(
                **next_envelope(m, slot.msg_id, self.node_id),
                list_id=m.list_id,
                state=m.state,
                hint=hint,
                writer=req.writer,
                access=req.access,
                observed=req.observed,
            )
        else:
            out = Fetch(**next_envelope(m, slot.msg_id, self.node_id), list_id=m.list_id)
        if m.traced:
            self.tracer.hop(
                self.log, "proxy.attempt", out, to=node, owner=slot.owner, attempt=slot.attempt
            )
        self._dispatch(req, slot, out, now)

    def _dispatch(self, req: Request, slot: Slot, out: Message, now: float) -> None:
        """Send ``slot``'s attempt ``out`` to ``slot.node``; its answer or time-out is awaited."""
        self.pending[slot.msg_id] = (req, slot)
        self._timers.add(now + self.config.request_timeout_s, slot.msg_id)
        self._send(slot.node, out)

    # ------------------------------------------------------------- outcomes

    def on_reply(self, node: str, msg: Stored | Fetched | ErrorReply, now: float) -> None:
        entry = self._answered(node, msg.reply_to)
        if entry is None:
            return  # late answer to an attempt that already timed out, or a repair
        req, slot = entry
        self.membership.seen(node, now)
        if slot.check:
            slot.blob = msg.state if isinstance(msg, Fetched) else None
            self.verifier.checked(req, slot, "ok" if isinstance(msg, Fetched) else "failed", now)
            return
        if isinstance(msg, ErrorReply):
            if msg.code in ("refused", "undecided"):
                self.verifier.gated(req, slot, msg, now)
                return
            if msg.code == "bad_request":
                # Another replica would refuse it too: fail the slot, don't retry.
                req.refusals += 1
                req.refused = msg.reason
                req.finish(slot, "failed")
                self._settle(req, now)
                return
            self._failed(req, slot, f"{msg.code}: {msg.reason}", now)
            return
        if isinstance(msg, Fetched):
            slot.blob = msg.state
            if msg.state is not None:
                req.found += 1
        self._ok(node, req, slot, now)

    def on_stored(self, node: str, reply_to: str, now: float) -> None:
        """One Store of a StoredBatch was committed."""
        entry = self._answered(node, reply_to)
        if entry is not None:
            self.membership.seen(node, now)
            if entry[1].check:  # a Fetch is not answered so
                self.verifier.checked(*entry, "failed", now)
            else:
                self._ok(node, *entry, now)

    def _answered(self, node: str, reply_to: str) -> tuple[Request, Slot] | None:
        """The attempt ``reply_to`` answers, if ``node`` is the server it was
        sent to: an answer counts only from there (``node`` is who the
        connection is, not a field of the message), so no other peer can
        acknowledge a write it never stored."""
        entry = self.pending.get(reply_to)
        if entry is None or entry[1].node != node:
            return None
        del self.pending[reply_to]
        return entry

    def _ok(self, node: str, req: Request, slot: Slot, now: float) -> None:
        req.finish(slot, "ok")
        if req.msg.traced:
            self.tracer.hop(self.log, "proxy.replica_ok", req.msg, replica=node, owner=slot.owner)
        self._settle(req, now)

    def on_undeliverable(self, msg_id: str, now: float) -> None:
        entry = self.pending.pop(msg_id, None)
        if entry is not None:
            req, slot = entry
            self.membership.failed(slot.node, now)
            self._failed(req, slot, "unreachable", now)

    def expire(self, now: float) -> None:
        for msg_id in self._timers.expired(now):
            entry = self.pending.pop(msg_id, None)
            if entry is not None:
                req, slot = entry
                self.membership.timed_out(slot.node, now, self.config.quiet_s)
                self._failed(req, slot, "timeout", now)

    def _failed(self, req: Request, slot: Slot, reason: str, now: float) -> None:
        self.tracer.hop(self.log, "proxy.replica_failed", req.msg, replica=slot.node, reason=reason)
        if slot.check:
            self.verifier.checked(req, slot, "failed", now)
            return
        if slot.retry is None:
            slot.retry = tenacity.RetryCallState(self.policy, None, (), {})
        slot.retry.set_exception((AttemptFailed, AttemptFailed(reason), None))
        try:
            action = self.policy.iter(slot.retry)
        except tenacity.RetryError:
            action = None
        # A read retried on a spare would count an empty answer toward R: a
        # spare holds no copy (only hints, and those only for suspect owners,
        # whose reads start on a spare). So only writes move on to spares.
        retry = isinstance(action, tenacity.DoSleep) and req.kind in ("put", "handoff")
        node = self._spare(req) if retry else None
        if node is None:
            req.finish(slot, "failed")
        else:
            slot.retry.prepare_for_next_attempt()
            slot.attempt = slot.retry.attempt_number
            self._attempt(req, slot, node, now)
        self._settle(req, now)

    # ------------------------------------------------------------- settling

    def _settle(self, req: Request, now: float) -> None:
        if not req.replied and req.kind != "repair":
            outcome = req.outcome()
            if outcome == "answer":
                self._replied(req, now, congested=False)
                self.responder.succeed(req, req.ok)
            elif outcome == "escalate":
                self.verifier.escalate(req, now)
                return
            elif outcome == "verifying":
                return  # the verification decides
            elif outcome == "fail":
                self._replied(req, now, congested=req.refusals == 0)
                code, reason = req.failure()
                channel: Channel = "backend" if req.kind == "handoff" else "frontend"
                self.responder.error(req.peer, req.msg, code, reason, channel)
        if req.active == 0 and req.checking == 0:
            self._finished(req)

    def _finished(self, req: Request) -> None:
        """Every slot of ``req`` is done: repair what it found behind, and
        count it out."""
        self.inflight -= 1
        list_id = req.msg.list_id
        if req.kind == "repair":
            self.repairs_inflight -= 1
            self.responder.repair(req)
        elif req.kind == "get":
            # Copies that differ while a write of the list is in flight
            # differ by that write, most likely: it is on its way to the
            # replica behind. A read repair would send the whole list (and
            # the replica decode it) for nothing; a difference that stays
            # is repaired by a later read or by anti-entropy.
            if req.replied and list_id not in self.writing:
                self.responder.repair(req)
        else:
            left = self.writing[list_id] - 1
            if left:
                self.writing[list_id] = left
            else:
                del self.writing[list_id]

    def _replied(self, req: Request, now: float, congested: bool) -> None:
        """The client has its answer: the request no longer counts against it
        (its last replicas may still answer: those count in ``inflight``).
        ``congested``: it failed for want of answers from replicas."""
        req.replied = True
        if req.kind in ("put", "get"):
            self.admission.answered(req.peer, now, now - req.started_s, congested)
