"""The proxy: routes every request over the ring to the replicas of its list.

:class:`ProxyActor` is a thin shell around pure logic that takes ``now``
and ``send`` as arguments: the :class:`Coordinator` (quorum reads and
writes, sloppy quorum, read repair), :class:`Membership` (hello/ack, batched
admission, probes) with its :class:`MembershipFile`, and
:class:`AntiEntropy` (digest exchanges, re-replication).
"""

from actors.proxy.actor import ProxyActor
from actors.proxy.antientropy import AntiEntropy
from actors.proxy.coordinator import Coordinator
from actors.proxy.membership import Membership
from actors.proxy.membership_store import MembershipFile
from actors.proxy.quorum import QuorumConfig

__all__ = [
    "AntiEntropy",
    "Coordinator",
    "Membership",
    "MembershipFile",
    "ProxyActor",
    "QuorumConfig",
]
