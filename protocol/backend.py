"""The messages between the proxy and its servers (the backend ROUTER).

Writes (:class:`Store`, :class:`StoreBatch`) and their acknowledgements,
reads (:class:`Fetch`), handoffs, the ring's announcements and anti-entropy's
questions. Part of the protocol of :mod:`protocol.messages`, which lists
them in :data:`~protocol.messages.Message` and says which socket carries
which message.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.access import AccessState
from protocol.envelope import Envelope
from protocol.limits import MAX_BATCH_ITEMS
from protocol.types import Blob, Count, Id, ListId

__all__ = [
    "BucketDigests",
    "Digest",
    "DigestRequest",
    "Fetch",
    "Fetched",
    "Group",
    "Handoff",
    "Keys",
    "KeysRequest",
    "MemberUp",
    "RingUpdate",
    "Store",
    "StoreBatch",
    "Stored",
    "StoredBatch",
]


class Store(Envelope, frozen=True, kw_only=True):
    """Merge ``state`` into the stored copy and commit before answering.

    ``hint`` names the owner when this server holds the write for a replica
    that is down (hinted handoff); it is empty for a server's own keys.
    """

    list_id: ListId
    state: Blob
    hint: Id = ""
    #: the client whose frame ``state`` is (its public key); empty for
    #: copies the cluster moves itself (repairs, handoffs), which are not
    #: checked as a client's write is
    writer: Id = ""
    #: a change to the list's access list, made by the proxy (a client's
    #: ``state`` never changes who has access: its access part is ignored)
    access: AccessState | None = None
    #: with ``writer``: what the cluster has shown that client of the list,
    #: as a state holding that causal context (no items); a frame may remove
    #: another replica's live dot only if it is there. ``None``: not tracked
    observed: Blob | None = None


class Stored(Envelope, frozen=True, kw_only=True):
    """The :class:`Store` ``reply_to`` is committed to disk."""

    reply_to: Id
    list_id: ListId


class StoreBatch(Envelope, frozen=True, kw_only=True):
    """Several Stores for one server, sent as one frame (the proxy batches the
    Stores of one poll by destination: one send, one decode, one commit)."""

    items: Annotated[list[Store], msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


class StoredBatch(Envelope, frozen=True, kw_only=True):
    """The Stores ``reply_to`` are committed to disk."""

    reply_to: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


class Fetch(Envelope, frozen=True, kw_only=True):
    """Read the stored copy of a list."""

    list_id: ListId


class Fetched(Envelope, frozen=True, kw_only=True):
    """Answer to :class:`Fetch`; ``state`` is ``None`` when the list is unknown here."""

    reply_to: Id
    list_id: ListId
    state: Blob | None


class Handoff(Envelope, frozen=True, kw_only=True):
    """A server hands a list over (server -> proxy, answered with ``Stored``).

    With ``owner`` set, it is a hinted write held for that owner; with
    ``owner`` empty, a list this server no longer owns after a ring change,
    to be written to its current owners.
    """

    owner: Id
    list_id: ListId
    state: Blob


class RingUpdate(Envelope, frozen=True, kw_only=True):
    """The ring as the proxy sees it; servers use it to group their lists."""

    epoch: Count
    members: Annotated[list[Id], msgspec.Meta(max_length=100_000)]
    vnodes: Count
    n: Count


class MemberUp(Envelope, frozen=True, kw_only=True):
    """A server answers again after being suspect (proxy -> servers): hand
    over the hints held for it now, not at the next round."""

    server_id: Id


#: 16-byte digests of the 64 buckets of one replica group (anti-entropy)
BucketDigests = Annotated[
    list[Annotated[bytes, msgspec.Meta(max_length=16)]], msgspec.Meta(max_length=64)
]
Group = Annotated[list[Id], msgspec.Meta(max_length=16)]


class DigestRequest(Envelope, frozen=True, kw_only=True):
    """Anti-entropy: digest the lists whose replica set is ``group``."""

    epoch: Count
    group: Group


class Digest(Envelope, frozen=True, kw_only=True):
    """One digest per bucket (top 6 bits of the ring position) of a group's lists."""

    reply_to: Id
    epoch: Count
    buckets: BucketDigests
    lists: Count


class KeysRequest(Envelope, frozen=True, kw_only=True):
    """Anti-entropy: the per-list digests of some buckets of a group."""

    epoch: Count
    group: Group
    buckets: Annotated[list[Annotated[int, msgspec.Meta(ge=0, lt=64)]], msgspec.Meta(max_length=64)]


class Keys(Envelope, frozen=True, kw_only=True):
    reply_to: Id
    epoch: Count
    entries: Annotated[
        list[tuple[ListId, Annotated[bytes, msgspec.Meta(max_length=16)]]],
        msgspec.Meta(max_length=200_000),
    ]
