"""The server actor: stores lists, answers the proxy, joins and stays joined.

Writes of one bridge poll are merged and committed in a single transaction
(group commit) and only then acknowledged, one ``Stored`` each (by the
:class:`~actors.server.commit.Committer`). A write with a hint (the proxy's
stand-in for an owner that is down) goes to the hints table instead, in the
same transaction. Reads are answered after the writes of the same batch, so
they see them, and include hinted writes.

Joining: until the proxy acks it, the server sends ``S_HELLO`` every
``probe_interval_s``. Once a member, it expects the proxy's probes; if none
arrives for several probe intervals, it concludes the proxy is gone (or
restarted) and says hello again.

The ring: the proxy announces it (``RingUpdate``) after every change and to
every server it acks. The server groups its lists by replica set for
anti-entropy (:mod:`actors.server.digests`) and hands over the lists it no longer
owns (:mod:`actors.server.handoff`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from typing_extensions import override

import logs
from actors.kernel import (
    Bridge,
    BridgedActor,
    Channel,
    ClusterConfig,
    CrashHandler,
    Delivery,
    MsgIds,
)
from actors.server.commit import Committer, stored_batches
from actors.server.damage import RebuildWatch
from actors.server.digests import DigestIndex
from actors.server.gate import WriteGate
from actors.server.handoff import HandoffSender
from actors.server.hints import Hint
from actors.server.store import ListStore, Update
from crdt import ShoppingList
from logs import Tracer
from protocol import (
    Ack,
    DebugCrash,
    Digest,
    DigestRequest,
    ErrorCode,
    ErrorReply,
    Fetch,
    Fetched,
    Handoff,
    Keys,
    KeysRequest,
    MemberUp,
    Message,
    ProtocolError,
    RingUpdate,
    SHello,
    SOnline,
    SReach,
    Store,
    StoreBatch,
    Stored,
    reply_envelope,
)
from protocol.messages import ServerHealth
from ring import HashRing

# stored_batches lives in actors.server.commit; still importable from here.
__all__ = ["ServerActor", "stored_batches"]

log = logs.get_logger("server")

#: Probe intervals without a probe after which the proxy is presumed lost.
PROXY_LOST_AFTER_PROBES = 6


class CrashRequested(RuntimeError):
    """Raised on a DebugCrash: the test of in-process supervision."""


class ServerActor(BridgedActor):
    """See the module docstring. All methods run in the bridge thread, which hosts the actor."""

    def __init__(
        self,
        bridge: Bridge,
        server_id: str,
        cluster: ClusterConfig,
        data_dir: Path,
        on_crash: CrashHandler | None = None,
    ) -> None:
        super().__init__(bridge, server_id, on_crash)
        self.cluster = cluster
        self.data_dir = data_dir

    @property
    def db_path(self) -> Path:
        return self.data_dir / self.node_id / "lists.db"

    @override
    def started(self) -> None:
        c = self.cluster
        self.ids = MsgIds(self.node_id)
        self.tracer = Tracer(c.trace_level, c.trace_sample_rate, debug_hops=c.log_level == "DEBUG")
        self.store = ListStore(self.db_path, durability=c.durability, cache_lists=c.cache_lists)
        self.committer = Committer(
            self.store, self._send_backend, self.send_now, self.ids, self.node_id
        )
        #: checks the clients' frames before they are merged
        self.gate = WriteGate(self.store, self.node_id)
        #: when a store that started again empty is full again (see RebuildWatch)
        self.rebuild = RebuildWatch()
        self.index = DigestIndex(None, c.n)
        #: lists written since their digest was last filed in the index, by
        #: the replica group they are filed under (``None``: not indexed yet)
        self._unfiled: dict[tuple[str, ...] | None, set[str]] = {}
        self.epoch = 0  # the proxy's epochs start at 1: 0 means no ring yet
        self.handoff = HandoffSender(
            self.store,
            send=self._send_backend,
            new_id=self.ids,
            node_id=self.node_id,
            interval_s=c.handoff_interval_s,
        )
        self.member = False
        self.next_hello = 0.0
        self.last_probe = time.monotonic()
        self.hello_interval_s = c.probe_interval_s
        self.proxy_lost_after_s = c.probe_interval_s * PROXY_LOST_AFTER_PROBES
        log.info(
            "server.started",
            lists=self.store.count(),
            hints=self.store.hint_count(),
            db=str(self.db_path),
        )

    @override
    def stopping(self) -> None:
        self.store.close()

    # ---------------------------------------------------------------- batch

    @override
    def handle_batch(self, deliveries: list[Delivery]) -> None:
        stores: list[tuple[Delivery, Store]] = []
        for d in deliveries:
            if isinstance(d.msg, Store):
                stores.append((d, d.msg))
            elif isinstance(d.msg, StoreBatch):
                stores.extend((d, item) for item in d.msg.items)
        if stores:
            self._commit(stores)
        for delivery in deliveries:
            if not isinstance(delivery.msg, Store | StoreBatch):
                self._current = delivery
                self.handle(delivery)

    def _commit(self, stores: list[tuple[Delivery, Store]]) -> None:
        """Merge a poll's Stores in one transaction, then acknowledge them.

        A Store whose state does not decode, or belongs to another list, is
        refused here (``bad_request``); so is a client's frame that the
        :class:`~actors.server.gate.WriteGate` does not admit (``refused``,
        ``undecided``), which changes nothing. The others are committed by
        the :class:`~actors.server.commit.Committer`, which refuses them all
        on a full disk and isolates any other failure, so that a poison
        write is never re-delivered.
        """
        updates: list[Update] = []
        hints: list[Hint] = []
        accepted: list[Store] = []
        self.gate.begin()
        for delivery, msg in stores:
            self._current = delivery
            try:
                state = ShoppingList.decode(msg.state)
            except ProtocolError as exc:
                self._error(delivery.channel, msg, "bad_request", f"bad list state: {exc}")
                continue
            if state.list_id != msg.list_id:
                self._error(delivery.channel, msg, "bad_request", "state belongs to another list")
                continue
            # The bytes stay the delta row's unless the gate changes the access part.
            as_sent = msg.access is None and (state.access is None or not msg.writer)
            refusal = self.gate.admit(msg, state)
            if refusal is not None:
                self._error(delivery.channel, msg, *refusal)
                continue
            if msg.hint and msg.hint != self.node_id:
                hints.append((msg.hint, msg.list_id, state))
            elif as_sent:
                updates.append((msg.list_id, state, msg.state))
            else:
                updates.append((msg.list_id, state))
            accepted.append(msg)
        self._current = None
        if not accepted:
            return
        changed = self.committer.commit(accepted, updates, hints)
        if changed is not None:
            self._filed(changed, accepted)

    def _filed(self, changed: set[str], accepted: list[Store]) -> None:
        """After a commit: note the lists written since their digests were filed."""
        # The digests are filed when anti-entropy asks (_file_digests): a hot
        # list is written many times between two questions.
        group, unfiled = self.index.group, self._unfiled
        for list_id in changed:
            unfiled.setdefault(group(list_id), set()).add(list_id)
        for msg in accepted:
            if msg.traced:
                self.tracer.hop(log, "server.stored", msg, list_id=msg.list_id, hint=msg.hint)

    @property
    def health(self) -> ServerHealth:
        """What the probe answer says of the store (see :class:`SOnline`)."""
        if self.store.disk_full:
            return "disk_full"
        return "rebuilding" if self.store.rebuilding_since is not None else "ok"

    @override
    def handle(self, delivery: Delivery) -> None:
        msg = delivery.msg
        if isinstance(msg, Fetch):
            self._fetch(msg)
        elif isinstance(msg, SReach):
            self.last_probe = time.monotonic()
            health = self.health
            reply = SOnline(
                msg_id=self.ids(),
                sender=self.node_id,
                reply_to=msg.msg_id,
                seq=msg.seq,
                health=health,
                rebuilt_lists=self.store.count() if health == "rebuilding" else 0,
            )
            self.outbox.send("liveness", b"", reply)
        elif isinstance(msg, Stored | ErrorReply) and self.handoff.pending(msg.reply_to):
            self._handoff_answer(msg)
        elif isinstance(msg, Stored):
            pass  # a late answer to a handoff offer that timed out: offered again
        elif isinstance(msg, DigestRequest | KeysRequest):
            self._digests(msg)
        elif isinstance(msg, RingUpdate):
            self._ring(msg)
        elif isinstance(msg, MemberUp):
            self.handoff.owner_back()
        elif isinstance(msg, Ack):
            if not self.member:
                log.info("server.joined", epoch=msg.ring_epoch)
            self.member = True
            self.last_probe = time.monotonic()
        elif isinstance(msg, DebugCrash):
            raise CrashRequested(f"crash requested by {msg.sender}")
        elif isinstance(msg, ErrorReply):
            log.warning("server.error_from_proxy", code=msg.code, reason=msg.reason)
        else:
            reason = f"a server does not accept {type(msg).__name__}"
            self._error(delivery.channel, msg, "bad_request", reason)

    def _fetch(self, msg: Fetch) -> None:
        state = self.store.get_with_hints(msg.list_id)
        self.tracer.hop(log, "server.fetched", msg, list_id=msg.list_id, found=state is not None)
        self._send_backend(Fetched(**self._answer(msg), list_id=msg.list_id, state=state))

    def _handoff_answer(self, msg: Stored | ErrorReply) -> None:
        if isinstance(msg, ErrorReply):
            self.handoff.refused(msg.reply_to)  # the owner is still down: next round
            return
        dropped = self.handoff.accepted(msg.reply_to)
        if dropped is not None:
            self.index.update(dropped, None)
            for unfiled in self._unfiled.values():
                unfiled.discard(dropped)
        if not self.handoff.inflight:
            # One line per completed round of handoffs, not per list.
            log.info("server.handed_off", total=self.handoff.handed_over)

    def _digests(self, msg: DigestRequest | KeysRequest) -> None:
        group = tuple(sorted(msg.group))
        self._file_digests(group)
        if self.store.rebuilding_since is not None:
            kind: Literal["digest", "keys"] = "digest" if isinstance(msg, DigestRequest) else "keys"
            if self.rebuild.asked(group, kind):
                since = self.store.rebuilding_since
                log.info("server.rebuilt", lists=self.store.count(), took_s=time.time() - since)
                self.store.rebuilt()
        if isinstance(msg, DigestRequest):
            reply: Message = Digest(
                msg_id=self.ids(),
                sender=self.node_id,
                reply_to=msg.msg_id,
                epoch=self.epoch,
                buckets=self.index.digests(group),
                lists=self.index.count(group),
            )
        else:
            reply = Keys(
                msg_id=self.ids(),
                sender=self.node_id,
                reply_to=msg.msg_id,
                epoch=self.epoch,
                entries=self.index.entries(group, msg.buckets),
            )
        self._send_backend(reply)

    def _file_digests(self, group: tuple[str, ...]) -> None:
        """File the digests of ``group``'s lists written since they were last filed.

        Lists never filed (new here) are filed whatever their group: the
        index alone knows which group a list is in.
        """
        index = self.index
        due = self._unfiled.pop(group, set()) | self._unfiled.pop(None, set())
        for list_id in due:
            index.update(list_id, self.store.digest(list_id))

    def _ring(self, msg: RingUpdate) -> None:
        if msg.epoch == self.epoch:
            return
        ring = HashRing(msg.members, vnodes=msg.vnodes)
        self.epoch = msg.epoch
        self.index.n = msg.n
        self.index.rebuild(ring, self.store.digests())
        self.rebuild.ring(g for g in ring.replica_groups(msg.n) if self.node_id in g)
        self._unfiled.clear()  # the rebuild read every list's current digest
        strays = self.index.not_owned(self.node_id)
        self.handoff.set_strays(strays)
        log.info("server.ring", epoch=msg.epoch, members=len(msg.members), strays=len(strays))

    # --------------------------------------------------------------- timers

    @override
    def on_tick(self, now: float) -> None:
        # Between requests: join the deltas acknowledged since into the cache.
        self.store.maintain()
        if self.member and now - self.last_probe > self.proxy_lost_after_s:
            log.warning("server.proxy_lost", silent_s=round(now - self.last_probe, 2))
            self.member = False
        if not self.member and now >= self.next_hello:
            self.next_hello = now + self.hello_interval_s
            hello = SHello(msg_id=self.ids(), sender=self.node_id, server_id=self.node_id)
            self.outbox.send("hello", b"", hello)
        if self.member:
            self.handoff.tick(now)

    # -------------------------------------------------------------- helpers

    def _answer(self, msg: Message) -> dict[str, Any]:
        return reply_envelope(msg, self.ids(), self.node_id)

    def _send_backend(self, msg: Message | Handoff) -> None:
        self.outbox.send("backend", b"", msg)

    def _error(self, channel: Channel, msg: Message, code: ErrorCode, reason: str) -> None:
        log.warning(
            "server.request_refused", msg_id=msg.msg_id, trace_id=msg.trace_id, reason=reason
        )
        self.outbox.send(
            channel,
            b"",
            ErrorReply(**self._answer(msg), code=code, reason=reason),
        )
