"""The proxy's membership side: hello/ack, admission in batches, ring
announcements, and what the failure detector saw.

:class:`MembershipMixin` is the part of :class:`~actors.proxy.actor.ProxyActor`
that speaks to servers about the ring: it answers a server's hello (or the
supervisor's, vouching for the servers it started) with an ack once the
server is admitted (:class:`~actors.proxy.membership.Membership` decides,
in batches), announces every ring change to the members, tells the servers
holding hints for a member that is back to hand them over, and removes the
dead once enough members are left. The rules are ``Membership``'s; this is
the shell that sends what they decide.

It holds no state of its own: the attributes it declares are the actor's,
set as it starts. Runs on the proxy's bridge thread, which hosts the actor.
"""

from __future__ import annotations

import logs
from actors.kernel import Channel, ClusterConfig, MsgIds, Outbox
from actors.proxy.antientropy import AntiEntropy
from actors.proxy.membership import Membership
from actors.proxy.membership_store import MembershipFile
from protocol import Ack, MemberUp, Message, RingUpdate, SHello

__all__ = ["MembershipMixin", "node_of"]

log = logs.get_logger("proxy")


def node_of(peer: bytes) -> str:
    """The server id a backend connection's routing id names."""
    return peer.decode(errors="replace")


class MembershipMixin:
    """Hello, ack, ring changes and liveness of a :class:`~actors.proxy.actor.ProxyActor`."""

    # The actor's attributes this part uses (set by ProxyActor.started).
    cluster: ClusterConfig
    servers: frozenset[str] | None
    ids: MsgIds
    outbox: Outbox
    membership: Membership
    membership_file: MembershipFile
    ae: AntiEntropy

    def _send_server(self, node: str, msg: Message) -> None:
        raise NotImplementedError  # the actor's

    def _refuse(self, channel: Channel, peer: bytes, msg: Message) -> None:
        raise NotImplementedError  # the actor's

    def _announce_ring(self, node: str) -> None:
        ring = self.membership.ring
        update = RingUpdate(
            msg_id=self.ids(),
            sender="proxy",
            epoch=self.membership.epoch,
            members=ring.nodes,
            vnodes=ring.vnodes,
            n=self.cluster.n,
        )
        self._send_server(node, update)

    def _ring_changed(self) -> None:
        self.membership_file.save(sorted(self.membership.members), self.membership.epoch)
        for node in self.membership.members:
            self._announce_ring(node)
        self.ae.ring_changed()

    def _hello(self, peer: bytes, msg: SHello, now: float) -> None:
        # A server speaks for itself; the process supervisor may speak for the
        # servers it has just (re)started, feeding them into the hello queue.
        fed = peer.startswith(b"supervisor-")
        unknown = self.servers is not None and msg.server_id not in self.servers
        if unknown or (not fed and msg.server_id != node_of(peer)):
            self._refuse("hello", peer, msg)
            return
        if fed:
            log.info("proxy.hello_fed", server=msg.server_id)
        # A fed hello queues a joiner; a restarted member gets its ack when it
        # says hello itself.
        if self.membership.hello(msg.server_id, now, vouched=fed):
            self._ack(msg.server_id)
        self._admit(now)

    def _ack(self, server_id: str) -> None:
        ack = Ack(
            msg_id=self.ids(),
            sender="proxy",
            reply_to="",
            server_id=server_id,
            ring_epoch=self.membership.epoch,
        )
        self.outbox.send("hello", server_id.encode(), ack)
        self._announce_ring(server_id)

    def _admit(self, now: float) -> None:
        batch = self.membership.admit_due(now)
        if not batch:
            return
        log.info(
            "proxy.batch_admitted",
            servers=batch,
            ring_size=len(self.membership.ring),
            epoch=self.membership.epoch,
        )
        self._ring_changed()
        for server_id in batch:
            self._ack(server_id)

    def _liveness_events(self) -> None:
        """Log what the failure detector saw; a server that is back gets what
        it missed at once: its replica groups are compared first, and the
        servers that hold hints for it are told to hand them over now."""
        # Rare events (a server going down or coming back), so INFO is fine.
        for event, node, _ in self.membership.events:
            log.info(f"proxy.{event}", server=node)
            if event == "recovered":
                self.ae.member_back(node)
                up = MemberUp(msg_id=self.ids(), sender="proxy", server_id=node)
                for member in self.membership.members:
                    if member != node and self.membership.healthy(member):
                        self.outbox.send("backend", member.encode(), up)
        self.membership.events.clear()

    def _remove_dead(self, now: float) -> None:
        dead = self.membership.dead(now, self.cluster.dead_after_s)
        if not dead:
            return
        healthy = [m for m in self.membership.members if self.membership.healthy(m)]
        if len(healthy) < self.cluster.n:
            # Too few servers left to hold N copies: more likely that we are
            # the one cut off. Removing them would only shuffle data around.
            return
        for node in dead:
            self.membership.remove(node)
            log.warning("proxy.server_removed", server=node, epoch=self.membership.epoch)
        self._ring_changed()
