"""The proxy actor: routes client requests to the ring, admits, probes and removes servers.

A thin shell: membership rules live in :mod:`actors.proxy.membership`, quorum
requests and handoff in :mod:`actors.proxy.coordinator`, anti-entropy in
:mod:`actors.proxy.antientropy`; this actor dispatches what the bridge delivers and
drives their timers from the bridge's ticks.

Channels (sockets of the proxy's bridge):

``frontend`` (ROUTER)  client requests and replies, and updates to the
                       clients watching a list (:mod:`actors.proxy.front`)
``backend`` (ROUTER)   Store/Fetch to servers and their replies; ring
                       announcements, anti-entropy, handoff
``hello`` (ROUTER)     S_HELLO in, ACK out: one reliable request/reply pair
                       (the seed design's SUB for acks could lose them)
``liveness`` (ROUTER)  S_REACH out to each server, S_ONLINE back; a probe
                       to a disconnected server fails at once (ROUTER_MANDATORY)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from typing_extensions import override

import logs
from actors.kernel import (
    Bridge,
    BridgedActor,
    Channel,
    ClusterConfig,
    CrashHandler,
    Delivery,
    FaultInjector,
    MsgIds,
    Undeliverable,
)
from actors.proxy.antientropy import AntiEntropy
from actors.proxy.coordinator import Coordinator
from actors.proxy.front import ClientFront, client_key
from actors.proxy.joining import MembershipMixin, node_of
from actors.proxy.membership import Membership
from actors.proxy.membership_store import MembershipFile
from actors.proxy.quorum import QuorumConfig
from actors.proxy.status import status_reply
from logs import Tracer
from protocol import (
    AccessState,
    Archive,
    CancelInvite,
    DebugCrash,
    DebugFaults,
    Digest,
    Done,
    ErrorReply,
    Fetched,
    Get,
    Handoff,
    Invite,
    Join,
    Keys,
    Members,
    Message,
    Put,
    Revoke,
    Share,
    SHello,
    SOnline,
    SReach,
    StatusReply,
    StatusRequest,
    Store,
    StoreBatch,
    Stored,
    StoredBatch,
    Update,
    Watch,
    batching,
    reply_envelope,
)
from protocol.limits import MAX_ID_CHARS

__all__ = ["ProxyActor"]

log = logs.get_logger("proxy")

#: A Store's bytes in a batch frame beyond its state: the envelope's ids (at
#: most MAX_ID_CHARS each), the list id and msgpack's framing.
STORE_OVERHEAD_BYTES: Final = 5 * MAX_ID_CHARS
#: What the client front decides (see actors.proxy.front).
CLIENT_REQUESTS: Final = (
    Put,
    Get,
    Share,
    Revoke,
    Invite,
    CancelInvite,
    Join,
    Members,
    Archive,
    Watch,
)


class CrashRequested(RuntimeError):
    """Raised on a DebugCrash aimed at the proxy: tests in-process supervision."""


class ProxyActor(MembershipMixin, BridgedActor):
    """See the module docstring. All methods run in the bridge thread, which hosts the actor."""

    def __init__(
        self,
        bridge: Bridge,
        cluster: ClusterConfig,
        data_dir: Path,
        faults: FaultInjector | None = None,
        on_crash: CrashHandler | None = None,
        servers: frozenset[str] | None = None,
        operators: frozenset[str] | None = None,
    ) -> None:
        super().__init__(bridge, "proxy", on_crash)
        self.cluster = cluster
        self.data_dir = data_dir
        self.faults = faults
        #: the cluster's servers, when the transport admits only them (a
        #: hello for any other id is refused, whoever vouches); None: any
        self.servers = servers
        #: the public keys (Z85) that may ask for status and debugging, when
        #: the transport is secured; None: anyone (security off)
        self.operators = operators

    @override
    def started(self) -> None:
        c = self.cluster
        self.ids = MsgIds("proxy")
        self.tracer = Tracer(c.trace_level, c.trace_sample_rate, debug_hops=c.log_level == "DEBUG")
        #: each server's last probe answer, for its store's health in status
        self.health: dict[str, SOnline] = {}
        self.membership_file = MembershipFile(self.data_dir / "proxy" / "membership.json")
        known, epoch = self.membership_file.load()
        self.membership = Membership(
            vnodes=c.vnodes,
            batch_size=c.join_batch_size,
            batch_timeout_s=c.join_batch_timeout_s,
            probe_misses=c.probe_misses,
            known=known,
        )
        self.membership.epoch = epoch
        self.coordinator = Coordinator(
            QuorumConfig(
                n=c.n,
                r=c.r,
                w=c.w,
                request_timeout_s=c.request_timeout_s,
                quiet_s=c.probe_interval_s * c.probe_misses,
            ),
            self.membership,
            send=self._send_server,
            reply=self._reply,
            publish=self._publish,
            new_id=self.ids,
            node_id="proxy",
            tracer=self.tracer,
            log=log,
        )
        self.ae = AntiEntropy(
            self.membership,
            self.coordinator,
            send=self._send_server,
            announce_ring=self._announce_ring,
            new_id=self.ids,
            n=c.n,
            interval_s=c.ae_interval_s,
            concurrency=c.repair_concurrency,
            log=log,
        )
        self.front = ClientFront(
            put=self._put,
            get=self.coordinator.get,
            reply=lambda peer, msg: self.outbox.send("frontend", peer, msg),
            new_id=self.ids,
            log=log,
            enforce=c.security == "curve",
        )
        if known:
            log.info("proxy.membership_restored", members=known, epoch=epoch)
            self.ae.ring_changed()
        self.probe_seq = 0
        self.next_probe = time.monotonic()
        self._stores: dict[str, list[Store]] = {}

    # ------------------------------------------------------------- outbound

    @override
    def _send_server(self, node: str, msg: Message) -> None:
        if isinstance(msg, Store):
            # Held until the end of this batch, then sent as one StoreBatch per
            # server (see _flush_stores): one frame instead of one per write.
            self._stores.setdefault(node, []).append(msg)
        else:
            self.outbox.send("backend", node.encode(), msg)

    def _flush_stores(self) -> None:
        stores, self._stores = self._stores, {}
        for node, batch in stores.items():
            peer = node.encode()
            if len(batch) == 1:
                self.outbox.send("backend", peer, batch[0])
                continue
            # Under load one poll can gather more than one frame may carry.
            for run in batching.split(batch, _store_bytes):
                out: Message = (
                    run[0]
                    if len(run) == 1
                    else StoreBatch(msg_id=self.ids(), sender="proxy", items=run)
                )
                self.outbox.send("backend", peer, out)

    @override
    def handle_batch(self, deliveries: list[Delivery]) -> None:
        try:
            super().handle_batch(deliveries)
        finally:
            self._flush_stores()

    def _reply(self, channel: Channel, peer: bytes, msg: Message) -> None:
        if channel == "frontend" and self.front.answered(peer, msg, time.monotonic()):
            return
        self.outbox.send(channel, peer, msg)

    def _publish(self, list_id: str, make: Callable[[], Update]) -> None:
        self.front.publish(list_id, make)

    def _put(
        self,
        peer: bytes,
        msg: Put,
        now: float,
        writer: str,
        access: AccessState | None,
        observed: bytes | None,
    ) -> None:
        self.coordinator.put(peer, msg, now, writer=writer, access=access, observed=observed)

    # -------------------------------------------------------------- inbound

    @override
    def handle(self, delivery: Delivery) -> None:
        msg, channel, peer, now = delivery.msg, delivery.channel, delivery.peer, time.monotonic()
        if channel == "frontend":
            self._frontend(peer, msg, now)
        elif channel == "backend":
            node = node_of(peer)
            if isinstance(msg, Digest | Keys):
                self.membership.seen(node, now)
                self.ae.on_reply(msg, now)
            elif isinstance(msg, StoredBatch):
                for reply_to in msg.reply_to:
                    self.coordinator.on_stored(node, reply_to, now)
            elif isinstance(msg, Stored | Fetched | ErrorReply):
                self.coordinator.on_reply(node, msg, now)
            elif isinstance(msg, Handoff):
                self.coordinator.handoff(peer, msg, now)
            else:
                self._refuse(channel, peer, msg)
        elif channel == "hello" and isinstance(msg, SHello):
            self._hello(peer, msg, now)
        elif channel == "liveness" and isinstance(msg, SOnline):
            node = node_of(peer)
            self.membership.seen(node, now)
            self.health[node] = msg
        else:
            self._refuse(channel, peer, msg)

    def _frontend(self, peer: bytes, msg: Message, now: float) -> None:
        if isinstance(msg, CLIENT_REQUESTS):
            # A Put's state blob is the replicas' to check: they decode it
            # anyway, and their refusal reaches the client. A decode here too
            # cost the proxy, every write's one hub, ~12% of its time.
            self.front.request(peer, msg, now)
        elif isinstance(msg, StatusRequest | DebugFaults | DebugCrash) and not self._operator(peer):
            # The ring's members and addresses are the operators' business.
            self.front.forbid(peer, msg, "status and debugging are for the cluster's operators")
        elif isinstance(msg, StatusRequest):
            self._reply("frontend", peer, self._status(msg, now))
        elif isinstance(msg, DebugFaults | DebugCrash) and self.cluster.debug:
            self._debug(peer, msg)
        else:
            self._refuse("frontend", peer, msg)

    def _operator(self, peer: bytes) -> bool:
        return self.operators is None or client_key(peer) in self.operators

    def _debug(self, peer: bytes, msg: DebugFaults | DebugCrash) -> None:
        done = Done(**reply_envelope(msg, self.ids(), "proxy"))
        if isinstance(msg, DebugFaults):
            if self.faults is None:
                self._refuse("frontend", peer, msg)
                return
            self.faults.install(msg.rules, msg.duration_s)
            log.warning("proxy.faults_installed", rules=len(msg.rules), duration_s=msg.duration_s)
            self._reply("frontend", peer, done)
            return
        log.warning("proxy.crash_requested", target=msg.target)
        self._reply("frontend", peer, done)
        if msg.target == "proxy":
            raise CrashRequested(f"crash requested by {msg.sender}")
        self._send_server(
            msg.target, DebugCrash(msg_id=self.ids(), sender="proxy", target=msg.target)
        )

    @override
    def _refuse(self, channel: Channel, peer: bytes, msg: Message) -> None:
        if isinstance(msg, ErrorReply):
            return  # never answer an error with an error
        log.warning("proxy.unexpected_message", channel=channel, type=type(msg).__name__)
        reason = f"{type(msg).__name__} is not accepted on the {channel} socket"
        self._bad_request(channel, peer, msg, reason)

    def _bad_request(self, channel: Channel, peer: bytes, msg: Message, reason: str) -> None:
        answer = reply_envelope(msg, self.ids(), "proxy")
        self._reply(channel, peer, ErrorReply(**answer, code="bad_request", reason=reason))

    # --------------------------------------------------------------- timers

    @override
    def on_tick(self, now: float) -> None:
        try:
            self._on_tick(now)
        finally:
            self._flush_stores()

    def _on_tick(self, now: float) -> None:
        c = self.cluster
        self.coordinator.expire(now)
        self.front.expire(now)
        self._admit(now)
        if now >= self.next_probe:
            self.next_probe = now + c.probe_interval_s
            self.probe_seq += 1
            for server_id in self.membership.probe_round(now):
                probe = SReach(msg_id=self.ids(), sender="proxy", seq=self.probe_seq)
                self.outbox.send("liveness", server_id.encode(), probe)
            self._remove_dead(now)
        self._liveness_events()
        self.ae.tick(now)

    @override
    def on_undeliverable(self, event: Undeliverable) -> None:
        now = time.monotonic()
        if event.channel == "backend":
            self.membership.failed(node_of(event.peer), now)
            items = event.msg.items if isinstance(event.msg, StoreBatch) else [event.msg]
            for item in items:
                self.coordinator.on_undeliverable(item.msg_id, now)
            self._flush_stores()  # retries go out now, not at the next batch
        elif event.channel == "liveness":
            self.membership.failed(node_of(event.peer), now)
        elif event.channel == "frontend":
            # The client left before its answer: nothing to do, but stop
            # sending it updates.
            self.front.gone(event.peer)

    # --------------------------------------------------------------- status

    def _status(self, msg: StatusRequest, now: float) -> StatusReply:
        return status_reply(msg, self.membership, self.health, self.cluster, self.ids(), now)


def _store_bytes(store: Store) -> int:
    """What a Store adds to a batch frame: its state and its ids, with room to spare."""
    return len(store.state) + STORE_OVERHEAD_BYTES
