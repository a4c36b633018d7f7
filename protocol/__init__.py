"""The wire protocol: typed messages, the codec, and the error for bad bytes.

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

from protocol.codec import decode, decode_state, encode, encode_state
from protocol.errors import ProtocolError
from protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    Envelope,
    ErrorCode,
    ErrorReply,
    Fetch,
    Fetched,
    Get,
    ListReply,
    MemberStatus,
    Message,
    Put,
    Saved,
    SHello,
    SOnline,
    SReach,
    StatusReply,
    StatusRequest,
    Store,
    Stored,
    Update,
)
from protocol.state import ItemState, ListState

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "Envelope",
    "ErrorCode",
    "ErrorReply",
    "Fetch",
    "Fetched",
    "Get",
    "ItemState",
    "ListReply",
    "ListState",
    "MemberStatus",
    "Message",
    "ProtocolError",
    "Put",
    "SHello",
    "SOnline",
    "SReach",
    "Saved",
    "StatusReply",
    "StatusRequest",
    "Store",
    "Stored",
    "Update",
    "decode",
    "decode_state",
    "encode",
    "encode_state",
]
