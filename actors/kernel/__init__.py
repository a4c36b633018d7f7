"""The runtime every process of the cluster shares.

- :class:`Bridge` owns a process's sockets and runs its poll loop on one
  thread, which also hosts the process's actors (:class:`ActorHost`,
  :class:`HostedActor`); :class:`BridgedActor` is the shell every actor
  shares.
- :class:`ActorSupervisor` restarts a crashed actor; :class:`FaultInjector`
  wraps links for fault-injection tests.
- :class:`ClusterConfig` holds the cluster-wide settings.
- :class:`CurveServer`, :class:`CurveClient` and :class:`Gatekeeper` put a
  socket on CurveZMQ and decide who may connect.
"""

from actors.kernel import collector
from actors.kernel.base import BridgedActor, CrashHandler
from actors.kernel.bridge import Bridge, SocketSpec
from actors.kernel.channels import MAX_BATCH
from actors.kernel.config import ClusterConfig, Durability, NodeId, PositiveFloat, Security
from actors.kernel.faults import FaultInjector, rules_from_env
from actors.kernel.ids import MsgIds
from actors.kernel.messages import Channel, Delivery, Inbound, LinkEvent, Tick, Undeliverable
from actors.kernel.outbox import Outbox, Waker
from actors.kernel.runtime import ActorHost, HostedActor, HostThreadAskError
from actors.kernel.security import (
    KEY_CHARS,
    CurveClient,
    CurveKeys,
    CurveServer,
    Gatekeeper,
    ZapDomain,
    apply_curve,
    client_routing_id,
)
from actors.kernel.sqlite_files import (
    CorruptFile,
    check_file,
    check_read_only,
    is_corrupt,
    is_disk_full,
    set_aside,
)
from actors.kernel.supervision import ActorSupervisor

__all__ = [
    "KEY_CHARS",
    "MAX_BATCH",
    "ActorHost",
    "ActorSupervisor",
    "Bridge",
    "BridgedActor",
    "Channel",
    "ClusterConfig",
    "CorruptFile",
    "CrashHandler",
    "CurveClient",
    "CurveKeys",
    "CurveServer",
    "Delivery",
    "Durability",
    "FaultInjector",
    "Gatekeeper",
    "HostThreadAskError",
    "HostedActor",
    "Inbound",
    "LinkEvent",
    "MsgIds",
    "NodeId",
    "Outbox",
    "PositiveFloat",
    "Security",
    "SocketSpec",
    "Tick",
    "Undeliverable",
    "Waker",
    "ZapDomain",
    "apply_curve",
    "check_file",
    "check_read_only",
    "client_routing_id",
    "collector",
    "is_corrupt",
    "is_disk_full",
    "rules_from_env",
    "set_aside",
]
