"""The only way bytes become messages, and messages become bytes.

``decode`` is the trust boundary of every process: whatever comes off a socket
or out of a file goes through it, and the only exception it lets escape is
:class:`ProtocolError`. Nothing here uses pickle, marshal or eval.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from protocol.errors import ProtocolError
from protocol.limits import MAX_FRAME_BYTES, MAX_STATE_BYTES
from protocol.messages import PROTOCOL_VERSION, Message
from protocol.state import ItemState, ListState, RawListState

__all__ = [
    "decode",
    "decode_state",
    "encode",
    "encode_item",
    "encode_state",
    "encode_state_parts",
]

_encoder: Final = msgspec.msgpack.Encoder()
_message_decoder: Final = msgspec.msgpack.Decoder(Message)
_state_decoder: Final = msgspec.msgpack.Decoder(ListState)
_any_decoder: Final = msgspec.msgpack.Decoder()

#: What msgspec raises on bad input: DecodeError (and its ValidationError),
#: UnicodeDecodeError (a ValueError) for invalid UTF-8 in a str field, and
#: RecursionError for absurdly nested arrays.
_BAD_INPUT: Final = (msgspec.DecodeError, ValueError, RecursionError)


def encode(msg: Message) -> bytes:
    """Encode a message into one frame."""
    return _encoder.encode(msg)


def decode(frame: bytes | memoryview, *, max_bytes: int = MAX_FRAME_BYTES) -> Message:
    """Decode and validate one frame.

    Raises:
        ProtocolError: the frame is larger than ``max_bytes``, is not msgpack,
            is not a known message, has a field of the wrong type or size, or
            speaks another protocol version.
    """
    if len(frame) > max_bytes:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds the {max_bytes}-byte limit")
    try:
        msg: Message = _message_decoder.decode(frame)
    except _BAD_INPUT as exc:
        raise ProtocolError(_short(_explain(frame, exc))) from None
    if msg.v != PROTOCOL_VERSION:
        raise ProtocolError(_version_reason(msg.v))
    return msg


def encode_state(state: ListState) -> bytes:
    """Encode a CRDT state in its wire form."""
    return _encoder.encode(state)


def encode_item(item: ItemState) -> msgspec.Raw:
    """One item's wire form, for :func:`encode_state_parts`."""
    return msgspec.Raw(_encoder.encode(item))


def encode_state_parts(header: dict[str, Any], items: list[msgspec.Raw]) -> bytes:
    """Encode a state from its header fields and its items, encoded already.

    ``header`` holds every :class:`ListState` field but ``items``; ``items``
    are :func:`encode_item` outputs in name order. The bytes equal
    :func:`encode_state` of the same state: msgspec copies a ``Raw`` verbatim.
    """
    return _encoder.encode(RawListState(**header, items=items))


def decode_state(blob: bytes | memoryview) -> ListState:
    """Decode the wire form of a CRDT state; the CRDT checks its semantics.

    Raises:
        ProtocolError: the blob is oversized, not msgpack, or not shaped like
            a :class:`ListState`.
    """
    if len(blob) > MAX_STATE_BYTES:
        raise ProtocolError(f"state of {len(blob)} bytes exceeds the {MAX_STATE_BYTES}-byte limit")
    try:
        return _state_decoder.decode(blob)
    except _BAD_INPUT as exc:
        raise ProtocolError(_short(f"malformed list state: {exc}")) from None


#: Reasons go back to peers in ErrorReply (at most MAX_REASON_CHARS) and into
#: logs: keep them short, and never echo more than a snippet of the input.
_MAX_REASON: Final = 300


def _short(text: str, limit: int = _MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _version_reason(version: object) -> str:
    return _short(f"unsupported protocol version {version!r} (this node speaks {PROTOCOL_VERSION})")


def _explain(frame: bytes | memoryview, exc: Exception) -> str:
    """Turn a decode failure into a reason a peer can act on.

    A frame from another protocol version usually fails validation somewhere
    in its fields; reporting the version is more useful than the field, so the
    header is peeked at leniently. This runs only on the error path.
    """
    try:
        raw: Any = _any_decoder.decode(frame)
    except _BAD_INPUT:
        return f"not a msgpack frame: {exc}"
    if isinstance(raw, list) and len(raw) >= 2 and isinstance(raw[0], str):
        if isinstance(raw[1], int) and raw[1] != PROTOCOL_VERSION:
            return _version_reason(raw[1])
        return f"invalid {_short(raw[0], 40)!r} message: {exc}"
    return f"not a message: {exc}"
