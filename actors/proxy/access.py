"""The proxy's view of who may do what with each list: a bounded cache of access lists.

The access list of a list (:class:`crdt.AccessList`) lives in the list's
state, on its replicas. The proxy is the cluster's only entry for clients,
and every change of an access list is written by it, so the access lists
it has read, or written since, are current. It keeps those of recent lists
here, and learns the others by reading the list (a *lookup*) before it
decides a request about it; requests wait for the lookup (*parked*, in a
bounded queue).

What a request needs (:func:`decide`):

=============================  ===================================================
``Get``, ``Watch``, ``Members``  read: the owner or any member
``Put``                        write: the owner or an editor; a list that has no
                               owner yet is claimed by the first key that writes it
``Share``, ``Revoke``,         the owner
``Invite``, ``CancelInvite``,
``Archive``
``Join``                       the secret of an open invite of the list
=============================  ===================================================

Everything else is ``forbidden``: the same answer whether the list exists
or not. A list its owner archived (deleted for everyone) is ``deleted`` to
every request of its owner and members, and still ``forbidden`` to others.
Pure code; the proxy actor calls it on its bridge thread.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Literal

from typing_extensions import override

from crdt import AccessList
from protocol import (
    AccessReply,
    Archive,
    CancelInvite,
    Get,
    Invite,
    Join,
    Members,
    Message,
    Put,
    Revoke,
    Share,
    reply_envelope,
)

__all__ = [
    "UNKNOWN",
    "AccessCache",
    "Decision",
    "ListRequest",
    "Unknown",
    "Waiting",
    "access_reply",
    "decide",
]

#: Requests the gate decides, each about one list (Watch: several).
ListRequest = Put | Get | Share | Revoke | Invite | CancelInvite | Join | Members | Archive
#: Access lists the proxy keeps (about 100 bytes each, plus members).
CACHE_LISTS: Final = 100_000
#: Requests waiting for lookups, in all; beyond, ``overloaded``.
MAX_PARKED: Final = 10_000


class Unknown:
    """The proxy has not read this list's access list yet."""

    __slots__ = ()

    @override
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a request: carry it out (with an access change to write
    with it, or ``None``), or refuse it as ``refusal``."""

    allowed: bool
    change: AccessList | None = None
    refusal: Literal["forbidden", "deleted"] = "forbidden"


_FORBIDDEN: Final = Decision(False)
_DELETED: Final = Decision(False, refusal="deleted")
_ALLOWED: Final = Decision(True)


def decide(access: AccessList | None, key: str, msg: ListRequest, now_s: float) -> Decision:
    """Whether ``key`` may do ``msg`` to a list whose access list is ``access``
    (``None``: the list has none: it is new, or was written before access
    lists). ``now_s`` (Unix seconds) decides whether an invite has expired.

    An allowed change is returned as the delta to write; the caller applies
    it to its cache once the cluster has saved it.
    """
    if access is not None and access.archived:
        return _DELETED if access.may_read(key) else _FORBIDDEN
    if isinstance(msg, Put):
        if access is None or not access.owner:
            return Decision(True, AccessList(key))
        return _ALLOWED if access.may_write(key) else _FORBIDDEN
    if access is None:
        verdict = _FORBIDDEN
    elif isinstance(msg, Get | Members):
        verdict = _ALLOWED if access.may_read(key) else _FORBIDDEN
    elif isinstance(msg, Join):
        verdict = _join(access, key, msg, now_s)
    elif access.grant_of(key) != "owner":
        verdict = _FORBIDDEN
    else:
        verdict = _owner_change(access, msg, now_s)
    return verdict


def _join(access: AccessList, key: str, msg: Join, now_s: float) -> Decision:
    role = access.invite_role(hashlib.sha256(msg.secret).digest(), now_s)
    if role is None:
        return _FORBIDDEN
    if access.grant_of(key) in ("owner", "editor", role):
        return _ALLOWED  # nothing to change: an invite never lowers a member's access
    return Decision(True, access.copy().share(key, role))


def _owner_change(
    access: AccessList, msg: Share | Revoke | Invite | CancelInvite | Archive, now_s: float
) -> Decision:
    scratch = access.copy()
    if isinstance(msg, Share):
        change = None if msg.key == access.owner else scratch.share(msg.key, msg.role)
    elif isinstance(msg, Revoke):
        if msg.key == access.owner:
            return _FORBIDDEN  # the owner cannot be revoked, by itself or anyone
        change = scratch.revoke(msg.key)
    elif isinstance(msg, Invite):
        expires = int(now_s) + msg.expires_in_s if msg.expires_in_s else 0
        change = scratch.invite(msg.secret_hash, msg.role, expires)
    elif isinstance(msg, CancelInvite):
        change = scratch.cancel(msg.secret_hash)
    else:
        change = scratch.archive()
    return Decision(True, change)


def access_reply(
    msg: Message, access: AccessList, key: str, list_id: str, msg_id: str, now_s: float
) -> AccessReply:
    """Who has access to a list, as ``key`` may see it (invites: the owner only)."""
    grant = access.grant_of(key) or "viewer"
    invites = access.open_invites(now_s) if grant == "owner" else []
    return AccessReply(
        **reply_envelope(msg, msg_id, "proxy"),
        list_id=list_id,
        grant=grant,
        owner=access.owner,
        members=access.roles(),
        invites=invites,
    )


Waiting = tuple[bytes, Message, float]  # (client's routing id, request, when it came)


class AccessCache:
    """Access lists of recent lists, and the requests waiting for the others.

    An entry is an :class:`AccessList`, ``None`` (the list has none), or
    absent (:data:`UNKNOWN`). Least recently used entries go beyond
    ``size``. Owned by the proxy actor (its bridge thread).
    """

    def __init__(self, size: int = CACHE_LISTS, max_parked: int = MAX_PARKED) -> None:
        self.size = size
        self.max_parked = max_parked
        self._entries: OrderedDict[str, AccessList | None] = OrderedDict()
        #: list id -> the requests waiting for its lookup
        self._parked: dict[str, list[Waiting]] = {}
        self.parked = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, list_id: str) -> AccessList | Unknown | None:
        entry = self._entries.get(list_id, UNKNOWN)
        if entry is not UNKNOWN:
            self._entries.move_to_end(list_id)
        return entry

    def learn(self, list_id: str, access: AccessList | None) -> list[Waiting]:
        """A lookup found ``access``: keep it (joined with what is kept) and
        hand back the requests that waited for it."""
        kept = self._entries.get(list_id)
        if kept is not None and access is not None:
            kept.merge(access)
        elif access is not None or list_id not in self._entries:
            self._entries[list_id] = access
        self._entries.move_to_end(list_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return self.unpark(list_id)

    def change(self, list_id: str, delta: AccessList) -> AccessList:
        """The cluster saved ``delta``: apply it, and return the list's access list."""
        kept = self._entries.get(list_id)
        if kept is None:
            kept = delta.copy()
            self._entries[list_id] = kept
        else:
            kept.merge(delta)
        self._entries.move_to_end(list_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return kept

    def park(self, list_id: str, waiting: Waiting) -> Literal["first", "queued", "full"]:
        """Make a request wait for the list's lookup; ``"first"``: start the lookup."""
        if self.parked >= self.max_parked:
            return "full"
        queue = self._parked.get(list_id)
        self.parked += 1
        if queue is None:
            self._parked[list_id] = [waiting]
            return "first"
        queue.append(waiting)
        return "queued"

    def expect(self, list_id: str) -> bool:
        """Note that a lookup of the list is wanted; ``True``: start it (none runs)."""
        if list_id in self._parked:
            return False
        self._parked[list_id] = []
        return True

    def unpark(self, list_id: str) -> list[Waiting]:
        """The requests that waited for the list's lookup (which ended)."""
        queue = self._parked.pop(list_id, [])
        self.parked -= len(queue)
        return queue
