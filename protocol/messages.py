"""Every message of the protocol, as a frozen, typed struct.

All messages share an envelope (:class:`Envelope`): the protocol version, a
``msg_id`` unique per sender, the ``trace_id`` of the request it belongs to,
the sender's id and whether the request is traced (its hops logged at the
trace level). Replies carry ``reply_to``, the ``msg_id`` they answer.

On the wire a message is a msgpack array whose first element is the tag (the
class name), so the receiver knows the type before it reads the fields. Which
socket carries which messages (those of the backend ROUTER are defined in
:mod:`protocol.backend`, sharing's in :mod:`protocol.sharing`; all are
importable from here):

=================  ==========================================================
frontend ROUTER    Put, Get, StatusRequest -> Saved, ListReply, StatusReply,
                   ErrorReply; sharing and Watch (:mod:`protocol.sharing`);
                   Update to watchers; DebugFaults, DebugCrash -> Done (debug only)
backend ROUTER     Store, StoreBatch, Fetch -> Stored, StoredBatch, Fetched, ErrorReply;
                   RingUpdate, DigestRequest, KeysRequest -> Digest, Keys;
                   Handoff (from a server) -> Stored
hello ROUTER       SHello -> Ack
liveness ROUTER    SReach -> SOnline
=================  ==========================================================
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.backend import (
    Digest,
    DigestRequest,
    Fetch,
    Fetched,
    Handoff,
    Keys,
    KeysRequest,
    MemberUp,
    RingUpdate,
    Store,
    StoreBatch,
    Stored,
    StoredBatch,
)
from protocol.envelope import PROTOCOL_VERSION, Envelope, next_envelope, reply_envelope
from protocol.sharing import (
    AccessReply,
    Archive,
    CancelInvite,
    Invite,
    Join,
    Members,
    Revoke,
    Share,
    Update,
    Watch,
    Watching,
)
from protocol.types import Blob, Count, Id, ListId, Reason

__all__ = [
    "PROTOCOL_VERSION",
    "AccessReply",
    "Ack",
    "Archive",
    "CancelInvite",
    "DebugCrash",
    "DebugFaults",
    "Digest",
    "DigestRequest",
    "Done",
    "Envelope",
    "ErrorCode",
    "ErrorReply",
    "FaultRule",
    "Fetch",
    "Fetched",
    "Get",
    "Handoff",
    "Invite",
    "Join",
    "Keys",
    "KeysRequest",
    "ListReply",
    "MemberStatus",
    "MemberUp",
    "Members",
    "Message",
    "Put",
    "Revoke",
    "RingUpdate",
    "SHello",
    "SOnline",
    "SReach",
    "Saved",
    "ServerHealth",
    "Share",
    "StatusReply",
    "StatusRequest",
    "Store",
    "StoreBatch",
    "Stored",
    "StoredBatch",
    "Update",
    "Watch",
    "Watching",
    "next_envelope",
    "reply_envelope",
]

ErrorCode = Literal[
    "bad_frame",  # the bytes did not decode into a message
    "bad_request",  # a valid message that makes no sense here (wrong socket, bad state blob)
    "unavailable",  # fewer than the required replicas answered in time
    "overloaded",  # the proxy has too much in flight (for this client or in all); back off
    "not_member",  # a server that is not (yet) in the ring was asked to serve
    "forbidden",  # the client's key may not do this with this list (or it does not exist)
    "deleted",  # the list's owner deleted it for everyone (protocol.sharing.Archive)
    "refused",  # a write that claims what its sender may not claim (see crdt.validation)
    "undecided",  # a replica's copy cannot vouch for a write's claims (it may lag); nothing stored
    "internal",  # a bug on our side; the request may be retried
]


#: The state of a server's store, as its probe answer (:class:`SOnline`) says.
#: How the cluster's sockets are secured, as ``status`` reports it.
TransportSecurity = Literal["curve", "off"]
ServerHealth = Literal[
    "ok",
    "disk_full",  # it refuses writes (``unavailable``) until space is freed; reads work
    "rebuilding",  # its file was corrupt and set aside: anti-entropy is filling it again
]


# --------------------------------------------------------------------------
# client <-> proxy (frontend)


class Put(Envelope, frozen=True, kw_only=True):
    """Merge ``state`` (a full state or a delta) into the cluster's copy."""

    list_id: ListId
    state: Blob


class Saved(Envelope, frozen=True, kw_only=True):
    """The write ``reply_to`` is on disk on ``acks`` (>= W) replicas."""

    reply_to: Id
    list_id: ListId
    acks: Count


class Get(Envelope, frozen=True, kw_only=True):
    """Read a list: the merge of R replicas' copies."""

    list_id: ListId


class ListReply(Envelope, frozen=True, kw_only=True):
    """Answer to :class:`Get`; ``state`` is ``None`` when no replica has the list."""

    reply_to: Id
    list_id: ListId
    state: Blob | None


class StatusRequest(Envelope, frozen=True, kw_only=True):
    """Ask the proxy for ring membership, joiners and liveness."""


class MemberStatus(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """One ring member as the proxy sees it."""

    node_id: Id
    vnodes: Count
    #: fraction of the hash space this node coordinates, in [0, 1]
    share: float
    #: (start, end] of each arc it coordinates, as 32-digit hex positions
    ranges: list[tuple[str, str]]
    #: answered the most recent probe
    alive: bool
    #: skipped by requests (missed probes or requests)
    suspect: bool
    #: seconds since the last answer, or -1 if it never answered
    last_seen_s: float
    #: its store, as its last probe answer said (see :class:`SOnline`)
    health: ServerHealth = "ok"
    #: while ``rebuilding``: the lists its store holds again
    rebuilt_lists: Count = 0


class StatusReply(Envelope, frozen=True, kw_only=True):
    """Answer to :class:`StatusRequest`."""

    reply_to: Id
    members: list[MemberStatus]
    #: servers waiting in the hello queue for the next batch
    queued: list[Id]
    n: Count
    r: Count
    w: Count
    ring_epoch: Count
    #: "curve": every socket speaks CurveZMQ and the servers' sockets admit
    #: only the cluster's keys; "off": plaintext (a comparison setup)
    security: TransportSecurity = "off"


class ErrorReply(Envelope, frozen=True, kw_only=True):
    """A request failed; ``reason`` is meant for humans."""

    reply_to: Id
    code: ErrorCode
    reason: Reason


# --------------------------------------------------------------------------
# fault injection and debugging (honoured only when the topology enables debug)


class FaultRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Mess with messages on the links of one bridge (see ``actors.kernel.faults``).

    ``peer`` is a server id ("*" for any); ``channel`` a socket name ("*" for
    any); ``direction`` "in", "out" or "both". ``drop`` and ``duplicate`` are
    fractions of the messages, ``delay_s`` delays every message matched.
    """

    peer: Id = "*"
    channel: Id = "*"
    direction: Literal["in", "out", "both"] = "both"
    drop: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    duplicate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    delay_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0


class DebugFaults(Envelope, frozen=True, kw_only=True):
    """Install fault rules in the proxy's bridge for ``duration_s`` (0 clears them)."""

    rules: Annotated[list[FaultRule], msgspec.Meta(max_length=64)]
    duration_s: Annotated[float, msgspec.Meta(ge=0, le=3600)]


class DebugCrash(Envelope, frozen=True, kw_only=True):
    """Make the actor of ``target`` ("proxy" or a server id) raise, to test supervision."""

    target: Id


class Done(Envelope, frozen=True, kw_only=True):
    """A debug request was carried out."""

    reply_to: Id


# --------------------------------------------------------------------------
# joining (hello/ack) and liveness (reach/online)


class SHello(Envelope, frozen=True, kw_only=True):
    """A server asks to join the ring; sent until it is acked."""

    server_id: Id


class Ack(Envelope, frozen=True, kw_only=True):
    """The server is a ring member and may serve requests."""

    reply_to: Id
    server_id: Id
    ring_epoch: Count


class SReach(Envelope, frozen=True, kw_only=True):
    """Liveness probe from the proxy."""

    seq: Count


class SOnline(Envelope, frozen=True, kw_only=True):
    """A server's answer to :class:`SReach`, with the health of its store."""

    reply_to: Id
    seq: Count
    health: ServerHealth = "ok"
    #: while ``rebuilding``: the lists its replicas have filled in so far
    rebuilt_lists: Count = 0


Message = (
    Put
    | Saved
    | Get
    | ListReply
    | Update
    | StatusRequest
    | StatusReply
    | ErrorReply
    | Store
    | Stored
    | StoreBatch
    | StoredBatch
    | Fetch
    | Fetched
    | SHello
    | Ack
    | SReach
    | SOnline
    | Handoff
    | RingUpdate
    | MemberUp
    | DigestRequest
    | Digest
    | KeysRequest
    | Keys
    | DebugFaults
    | DebugCrash
    | Done
    | Share
    | Revoke
    | Invite
    | CancelInvite
    | Join
    | Members
    | Archive
    | AccessReply
    | Watch
    | Watching
)
