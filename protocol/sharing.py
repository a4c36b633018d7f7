"""Client <-> proxy messages of sharing and live updates.

Who asks is never a field: the proxy knows a client by the public key of
its authenticated connection. Every request about a list is answered
``forbidden`` (an :class:`~protocol.messages.ErrorReply`) when that key may
not do it, with no hint whether the list exists. Once the owner archived a
list (:class:`Archive`), every request about it from a key with access is
answered ``deleted`` instead; its data stays on the servers.

=================  ==========================================================
Share, Revoke,     -> AccessReply (the access list after the change; only
Invite,            the owner may send these)
CancelInvite,
Archive
Join               -> AccessReply (the secret of an invite grants its role)
Members            -> AccessReply (any member; invites shown to the owner)
Watch              -> Watching; then Update, on the same connection, for
                   every saved write to a list it may read
=================  ==========================================================
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from protocol.access import Grant, PublicKey, Role, Secret, SecretHash
from protocol.envelope import Envelope
from protocol.types import Blob, Count, Id, ListId

__all__ = [
    "MAX_WATCHED",
    "WATCH_LAPSE_S",
    "AccessReply",
    "Archive",
    "CancelInvite",
    "Invite",
    "Join",
    "Members",
    "Revoke",
    "Share",
    "Update",
    "Watch",
    "Watching",
]

#: Most lists one Watch names (a client re-sends its set while it watches).
MAX_WATCHED: Final = 1024
#: A watch lapses this long after the last Watch, unless the proxy says otherwise.
WATCH_LAPSE_S: Final = 30
WatchedIds = Annotated[list[ListId], msgspec.Meta(max_length=MAX_WATCHED)]


class Share(Envelope, frozen=True, kw_only=True):
    """The owner gives ``key`` ``role`` on the list (again, after a revoke)."""

    list_id: ListId
    key: PublicKey
    role: Role


class Revoke(Envelope, frozen=True, kw_only=True):
    """The owner takes ``key``'s access away; it wins over a concurrent Share."""

    list_id: ListId
    key: PublicKey


class Archive(Envelope, frozen=True, kw_only=True):
    """The owner deletes the list for everyone: from then on the proxy answers
    ``deleted`` to every request about it (the servers keep its data)."""

    list_id: ListId


class Invite(Envelope, frozen=True, kw_only=True):
    """The owner opens an invite: whoever shows the secret whose SHA-256 is
    ``secret_hash`` becomes a member with ``role``, until it expires or is cancelled."""

    list_id: ListId
    secret_hash: SecretHash
    role: Role
    #: seconds from now until it expires (at most ten years); 0: never
    expires_in_s: Annotated[int, msgspec.Meta(ge=0, le=10 * 365 * 86400)] = 0


class CancelInvite(Envelope, frozen=True, kw_only=True):
    """The owner closes an invite."""

    list_id: ListId
    secret_hash: SecretHash


class Join(Envelope, frozen=True, kw_only=True):
    """Redeem an invite: the sender's key becomes a member."""

    list_id: ListId
    secret: Secret


class Members(Envelope, frozen=True, kw_only=True):
    """Ask who has access to the list."""

    list_id: ListId


#: (key, role) of each member; (secret hash, role, expiry or 0) of each open invite
MemberList = Annotated[list[tuple[PublicKey, Role]], msgspec.Meta(max_length=10_000)]
InviteList = Annotated[list[tuple[SecretHash, Role, Count]], msgspec.Meta(max_length=1_000)]


class AccessReply(Envelope, frozen=True, kw_only=True):
    """Who has access to a list, as the asker may see it."""

    reply_to: Id
    list_id: ListId
    #: the asker's own access
    grant: Grant
    owner: PublicKey
    members: MemberList
    #: open invites; only the owner is shown them
    invites: InviteList


class Watch(Envelope, frozen=True, kw_only=True):
    """Send me the updates of these lists (replaces the set sent before).

    A watch lapses unless renewed: a client sends its set again well within
    the lapse time that :class:`Watching` states.
    """

    list_ids: WatchedIds


class Watching(Envelope, frozen=True, kw_only=True):
    """The lists whose updates this connection now receives; the others are
    refused (no access, or no such list)."""

    reply_to: Id
    list_ids: WatchedIds
    refused: WatchedIds
    #: the watch lapses this long after the last Watch
    lapse_s: Count


class Update(Envelope, frozen=True, kw_only=True):
    """Sent after a write is saved, to the connections watching the list:
    the delta that was written."""

    list_id: ListId
    state: Blob
