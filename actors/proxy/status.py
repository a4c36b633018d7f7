"""The proxy's answer to ``status``: the ring as its failure detector sees it.

Pure: built from the membership, each server's last probe answer and the
cluster's settings, at ``now``; run by the proxy actor on its bridge thread.
"""

from __future__ import annotations

from actors.kernel import ClusterConfig
from actors.proxy.membership import Membership
from protocol import MemberStatus, SOnline, StatusReply, StatusRequest
from ring import position_hex

__all__ = ["status_reply"]


def status_reply(
    msg: StatusRequest,
    membership: Membership,
    health: dict[str, SOnline],
    cluster: ClusterConfig,
    msg_id: str,
    now: float,
) -> StatusReply:
    """Every member with its share and key ranges, its probe state and its
    store's health (from ``health``, its last probe answer), and the queue."""
    ring = membership.ring
    shares = ring.shares()
    ranges = ring.get_responsible_nodes()
    members = []
    for node_id, member in sorted(membership.members.items()):
        online = health.get(node_id)
        members.append(
            MemberStatus(
                node_id=node_id,
                vnodes=ring.vnodes,
                share=shares.get(node_id, 0.0),
                ranges=[(position_hex(a), position_hex(b)) for a, b in ranges.get(node_id, [])],
                alive=membership.alive(node_id),
                suspect=member.suspect,
                last_seen_s=-1.0 if member.last_seen is None else now - member.last_seen,
                health=online.health if online is not None else "ok",
                rebuilt_lists=online.rebuilt_lists if online is not None else 0,
            )
        )
    return StatusReply(
        msg_id=msg_id,
        trace_id=msg.trace_id,
        sender="proxy",
        reply_to=msg.msg_id,
        members=members,
        queued=list(membership.queue),
        n=cluster.n,
        r=cluster.r,
        w=cluster.w,
        ring_epoch=membership.epoch,
        security=cluster.security,
    )
