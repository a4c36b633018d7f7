"""Sample messages and Hypothesis strategies for protocol values.

The strategies are derived from the message definitions with
``msgspec.inspect``, so a field added to a message is generated without
touching this file (and an unknown constraint fails loudly).
"""

from __future__ import annotations

import typing
import uuid
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st
from zmq.utils import z85

from protocol import (
    PROTOCOL_VERSION,
    AccessReply,
    AccessState,
    Ack,
    Archive,
    CancelInvite,
    DebugCrash,
    DebugFaults,
    Digest,
    DigestRequest,
    Done,
    ErrorReply,
    FaultRule,
    Fetch,
    Fetched,
    Get,
    Handoff,
    Invite,
    ItemState,
    Join,
    Keys,
    KeysRequest,
    ListReply,
    ListState,
    Members,
    MemberStatus,
    MemberUp,
    Message,
    Put,
    Revoke,
    RingUpdate,
    Saved,
    Share,
    SHello,
    SOnline,
    SReach,
    StatusReply,
    StatusRequest,
    Store,
    StoreBatch,
    Stored,
    StoredBatch,
    Update,
    Watch,
    Watching,
)
from protocol.access import OWNER_PATTERN, Z85_KEY_PATTERN
from protocol.types import UUID4_PATTERN

LIST_ID = str(uuid.UUID(int=0xC0FFEE, version=4))
#: A client's public key, as the proxy names it (Z85 of 32 bytes).
KEY = z85.encode(bytes(range(32))).decode()
MESSAGE_CLASSES: tuple[type[Any], ...] = typing.get_args(Message)

_ENVELOPE: dict[str, Any] = {
    "msg_id": "m-1",
    "trace_id": "0123456789abcdef",
    "sender": "proxy",
    "traced": True,
}

#: One instance of every message class, with non-default values where it matters.
SAMPLES: dict[type[Any], Any] = {
    Put: Put(**_ENVELOPE, list_id=LIST_ID, state=b"\x93\x01\x02\x03"),
    Saved: Saved(**_ENVELOPE, reply_to="m-0", list_id=LIST_ID, acks=2),
    Get: Get(**_ENVELOPE, list_id=LIST_ID),
    ListReply: ListReply(**_ENVELOPE, reply_to="m-0", list_id=LIST_ID, state=b"\x00\xff"),
    Update: Update(**_ENVELOPE, list_id=LIST_ID, state=b"delta"),
    Share: Share(**_ENVELOPE, list_id=LIST_ID, key=KEY, role="editor"),
    Revoke: Revoke(**_ENVELOPE, list_id=LIST_ID, key=KEY),
    Invite: Invite(**_ENVELOPE, list_id=LIST_ID, secret_hash=b"h" * 32, role="viewer"),
    CancelInvite: CancelInvite(**_ENVELOPE, list_id=LIST_ID, secret_hash=b"h" * 32),
    Join: Join(**_ENVELOPE, list_id=LIST_ID, secret=b"s" * 32),
    Members: Members(**_ENVELOPE, list_id=LIST_ID),
    Archive: Archive(**_ENVELOPE, list_id=LIST_ID),
    AccessReply: AccessReply(
        **_ENVELOPE,
        reply_to="m0",
        list_id=LIST_ID,
        grant="owner",
        owner=KEY,
        members=[(KEY, "viewer")],
        invites=[(b"h" * 32, "editor", 1_900_000_000)],
    ),
    Watch: Watch(**_ENVELOPE, list_ids=[LIST_ID]),
    Watching: Watching(**_ENVELOPE, reply_to="m0", list_ids=[LIST_ID], refused=[], lapse_s=30),
    StatusRequest: StatusRequest(**_ENVELOPE),
    StatusReply: StatusReply(
        **_ENVELOPE,
        reply_to="m-0",
        members=[
            MemberStatus(
                node_id="server-1",
                vnodes=1024,
                share=0.25,
                ranges=[("0" * 32, "f" * 32), ("00ff" * 8, "ff00" * 8)],
                alive=True,
                suspect=False,
                last_seen_s=0.5,
            ),
            MemberStatus(
                node_id="server-2",
                vnodes=1,
                share=0.75,
                ranges=[],
                alive=False,
                suspect=True,
                last_seen_s=-1.0,
            ),
        ],
        queued=["server-3"],
        n=3,
        r=2,
        w=2,
        ring_epoch=7,
    ),
    ErrorReply: ErrorReply(**_ENVELOPE, reply_to="m-0", code="unavailable", reason="1 of 2 acks"),
    Store: Store(
        **_ENVELOPE,
        list_id=LIST_ID,
        state=b"state",
        hint="server-9",
        writer=KEY,
        access=AccessState(owner=KEY, members=[(KEY, 2, 1)], invites=[(b"h" * 32, 0, 0, True)]),
    ),
    Stored: Stored(**_ENVELOPE, reply_to="m-0", list_id=LIST_ID),
    Fetch: Fetch(**_ENVELOPE, list_id=LIST_ID),
    Fetched: Fetched(**_ENVELOPE, reply_to="m-0", list_id=LIST_ID, state=None),
    SHello: SHello(**_ENVELOPE, server_id="server-3"),
    Ack: Ack(**_ENVELOPE, reply_to="m-0", server_id="server-3", ring_epoch=8),
    SReach: SReach(**_ENVELOPE, seq=41),
    SOnline: SOnline(**_ENVELOPE, reply_to="m-0", seq=41),
    Handoff: Handoff(**_ENVELOPE, owner="server-2", list_id=LIST_ID, state=b"\x96"),
    RingUpdate: RingUpdate(
        **_ENVELOPE, epoch=3, members=["server-1", "server-2"], vnodes=1024, n=3
    ),
    MemberUp: MemberUp(**_ENVELOPE, server_id="server-2"),
    DigestRequest: DigestRequest(**_ENVELOPE, epoch=3, group=["server-1", "server-2"]),
    Digest: Digest(**_ENVELOPE, reply_to="m-0", epoch=3, buckets=[b"\x00" * 16] * 64, lists=7),
    KeysRequest: KeysRequest(**_ENVELOPE, epoch=3, group=["server-1"], buckets=[0, 63]),
    Keys: Keys(**_ENVELOPE, reply_to="m-0", epoch=3, entries=[(LIST_ID, b"\x01" * 16)]),
    DebugFaults: DebugFaults(
        **_ENVELOPE,
        rules=[FaultRule(peer="server-1", drop=1.0), FaultRule(delay_s=0.1, duplicate=0.5)],
        duration_s=5.0,
    ),
    DebugCrash: DebugCrash(**_ENVELOPE, target="server-1"),
    Done: Done(**_ENVELOPE, reply_to="m-0"),
    StoreBatch: StoreBatch(
        **_ENVELOPE,
        items=[Store(**_ENVELOPE, list_id=LIST_ID, state=b"\x96", hint="server-2")],
    ),
    StoredBatch: StoredBatch(**_ENVELOPE, reply_to=["m-0", "m-1"]),
}

SAMPLE_STATE = ListState(
    list_id=LIST_ID,
    replicas=["client-a", "server-1"],
    vv=[3, 1],
    cloud=[(0, 5)],
    names=[(0, 1, "groceries")],
    items=[
        ItemState(name="milk", dots=((0, 2, 2, 0), (1, 1, 0, 1))),
        ItemState(name="eggs", dots=((0, 3, 12, 0),)),
    ],
)

# ------------------------------------------------------- derived strategies

#: Keeps generated values small: the codec, not msgpack's length headers, is under test.
_MAX_TEXT = 24
_INT64 = (-(2**63), 2**63 - 1)


def _bounded_int(t: mi.IntType) -> st.SearchStrategy[int]:
    low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else _INT64[0])
    high = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else _INT64[1])
    return st.integers(low, high)


def strategy_for(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values that satisfy the msgspec type ``t`` (NaN excluded so that equality holds)."""
    if isinstance(t, mi.StrType):
        if t.pattern is not None:
            if t.pattern == UUID4_PATTERN:
                return st.uuids(version=4).map(str)
            if t.pattern in (Z85_KEY_PATTERN, OWNER_PATTERN):
                keys = st.binary(min_size=32, max_size=32).map(lambda b: z85.encode(b).decode())
                return keys if t.pattern == Z85_KEY_PATTERN else st.just("") | keys
            raise NotImplementedError(t.pattern)
        return st.text(
            st.characters(codec="utf-8"),
            min_size=t.min_length or 0,
            max_size=min(t.max_length or _MAX_TEXT, _MAX_TEXT),
        )
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return _bounded_int(t)
    if isinstance(t, mi.FloatType):
        return st.floats(
            min_value=t.ge if t.ge is not None else t.gt,
            max_value=t.le if t.le is not None else t.lt,
            exclude_min=t.gt is not None,
            exclude_max=t.lt is not None,
            allow_nan=False,
        )
    if isinstance(t, mi.BytesType):
        return st.binary(min_size=t.min_length or 0, max_size=min(t.max_length or 64, 64))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.UnionType):
        return st.one_of(*(strategy_for(member) for member in t.types))
    if isinstance(t, mi.TupleType):
        return st.tuples(*(strategy_for(item) for item in t.item_types))
    if isinstance(t, mi.ListType):
        return st.lists(strategy_for(t.item_type), min_size=t.min_length or 0, max_size=3)
    if isinstance(t, mi.VarTupleType):
        items = st.lists(strategy_for(t.item_type), min_size=t.min_length or 0, max_size=3)
        return items.map(tuple)
    if isinstance(t, mi.StructType):
        fields = {f.name: strategy_for(f.type) for f in t.fields}
        if "v" in fields:
            fields["v"] = st.just(PROTOCOL_VERSION)
        return st.fixed_dictionaries(fields).map(lambda kwargs: t.cls(**kwargs))
    raise NotImplementedError(f"no strategy for {t!r}")


def message_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Valid messages of one class."""
    return strategy_for(mi.type_info(cls))


messages: st.SearchStrategy[Any] = st.sampled_from(MESSAGE_CLASSES).flatmap(message_of)
list_states: st.SearchStrategy[ListState] = strategy_for(mi.type_info(ListState))


def encoded_samples() -> list[bytes]:
    """Valid frames: every sample, plus defaults-only and state-carrying variants."""
    extra = [
        Get(list_id=LIST_ID),
        StatusRequest(),
        Put(list_id=LIST_ID, state=msgspec.msgpack.encode(SAMPLE_STATE)),
        ListReply(reply_to="", list_id=LIST_ID, state=None),
        Fetched(reply_to="m", list_id=LIST_ID, state=msgspec.msgpack.encode(SAMPLE_STATE)),
        StatusReply(reply_to="", members=[], queued=[], n=0, r=0, w=0, ring_epoch=0),
        ErrorReply(reply_to="m", code="bad_frame", reason="x" * 100),
    ]
    return [msgspec.msgpack.encode(msg) for msg in [*SAMPLES.values(), *extra]]
