"""A storage server: keeps the replicas of the lists the ring gives it.

:class:`ServerActor` is a thin shell around its :class:`ListStore` (SQLite
in WAL mode), its :class:`HandoffSender` (hinted writes and lists it no
longer owns, handed to their owners) and its :class:`DigestIndex` (the
digests anti-entropy compares).
"""

from actors.server.actor import ServerActor
from actors.server.digests import DigestIndex
from actors.server.gate import WriteGate
from actors.server.handoff import HandoffSender
from actors.server.store import ListStore, Update

__all__ = ["DigestIndex", "HandoffSender", "ListStore", "ServerActor", "Update", "WriteGate"]
