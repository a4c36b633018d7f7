"""The client library: a person's lists on their own machine, synced with the cluster.

:class:`ClientSession` is what user interfaces call: it reads and edits the
:class:`ClientStore` (always, online or not) and pushes, pulls and watches
through its actor. Its errors say why the cluster was not reached
(:class:`ClusterUnreachable`, :class:`ClusterUnavailable`), that a list is
not known (:class:`UnknownList`), or that this client's key may not do that
(:class:`Forbidden`), or that its owner deleted the list for everyone
(:class:`ListDeleted`). Lists are shared by key or by invite link
(:class:`InviteLink`).
"""

from actors.client.actor import ListChange, UpdateCallback
from actors.client.invites import InviteLink, parse_invite
from actors.client.session import (
    ClientSession,
    ClusterUnavailable,
    ClusterUnreachable,
    Forbidden,
    ListDeleted,
    UnknownList,
)
from actors.client.store import ClientStore

__all__ = [
    "ClientSession",
    "ClientStore",
    "ClusterUnavailable",
    "ClusterUnreachable",
    "Forbidden",
    "InviteLink",
    "ListChange",
    "ListDeleted",
    "UnknownList",
    "UpdateCallback",
    "parse_invite",
]
