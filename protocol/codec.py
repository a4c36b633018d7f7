"""The only way bytes become messages, and messages become bytes.

``decode`` is the trust boundary of every process: whatever comes off a socket
or out of a file goes through it, and the only exception it lets escape is
:class:`ProtocolError`. Nothing here uses pickle, marshal or eval.
"""

from __future__ import annotations

import typing
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
    "encode_state_body",
    "encode_state_parts",
]

_encoder: Final = msgspec.msgpack.Encoder()
_message_decoder: Final = msgspec.msgpack.Decoder(Message)
_state_decoder: Final = msgspec.msgpack.Decoder(ListState)
_any_decoder: Final = msgspec.msgpack.Decoder()
#: every message type by its tag, for explaining a frame that failed
_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    str(cls.__struct_config__.tag): cls for cls in typing.get_args(Message)
}

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
        raise ProtocolError(
            f"frame of {len(frame)} bytes exceeds the {max_bytes}-byte limit", fault="oversized"
        )
    try:
        msg: Message = _message_decoder.decode(frame)
    except _BAD_INPUT as exc:
        try:
            error = _explain(frame, exc)
        except _BAD_INPUT:  # hostile input can defeat the explanation too
            error = ProtocolError(_short(f"not a message: {exc}"), fault="not_a_message")
        raise error from None
    if msg.v != PROTOCOL_VERSION:
        raise _version_error(msg.v, str(type(msg).__struct_config__.tag))
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


def encode_state_body(header: dict[str, Any], count: int, body: bytes) -> bytes:
    """As :func:`encode_state_parts`, from the items' encodings joined into one
    ``body`` (``count`` of them, in name order): one buffer for a list's
    items instead of an object per item, as a server's cache keeps them."""
    if count < 16:
        head = bytes((0x90 | count,))
    elif count < 1 << 16:
        head = b"\xdc" + count.to_bytes(2, "big")
    else:
        head = b"\xdd" + count.to_bytes(4, "big")
    return _encoder.encode(RawListState(**header, items=msgspec.Raw(head + body)))


def decode_state(blob: bytes | memoryview) -> ListState:
    """Decode the wire form of a CRDT state; the CRDT checks its semantics.

    Raises:
        ProtocolError: the blob is oversized, not msgpack, or not shaped like
            a :class:`ListState`.
    """
    if len(blob) > MAX_STATE_BYTES:
        raise ProtocolError(
            f"state of {len(blob)} bytes exceeds the {MAX_STATE_BYTES}-byte limit",
            fault="oversized",
        )
    try:
        return _state_decoder.decode(blob)
    except _BAD_INPUT as exc:
        field = _bad_state_field(blob)
        where = f": field `{field}`" if field is not None else ""
        raise ProtocolError(
            _short(f"malformed list state{where}: {exc}"), fault="bad_state", field=field
        ) from None


#: Reasons go back to peers in ErrorReply (at most MAX_REASON_CHARS) and into
#: logs: keep them short, and never echo more than a snippet of the input.
_MAX_REASON: Final = 300


def _short(text: str, limit: int = _MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _version_error(version: object, message_type: str | None) -> ProtocolError:
    # Never repr() an untrusted value whole: a deeply nested one would raise
    # RecursionError, a huge one would be copied before it is cut.
    if isinstance(version, int | str) and not isinstance(version, bool):
        shown = repr(version if isinstance(version, int) else _short(version, 20))
    else:
        shown = f"of type {type(version).__name__}"
    return ProtocolError(
        _short(f"unsupported protocol version {shown} (this node speaks {PROTOCOL_VERSION})"),
        fault="version",
        message_type=message_type,
    )


def _explain(frame: bytes | memoryview, exc: Exception) -> ProtocolError:
    """Turn a decode failure into an error a peer can act on.

    The reason is found here, by looking at the frame again leniently, not
    read from the library's wording, which is only appended as detail. A
    frame from another protocol version usually fails validation somewhere
    in its fields; reporting the version is more useful than the field.
    This runs only on the error path.
    """
    try:
        raw: Any = _any_decoder.decode(frame)
    except _BAD_INPUT:
        return ProtocolError(_short(f"not a msgpack frame: {exc}"), fault="not_msgpack")
    if not (isinstance(raw, list) and len(raw) >= 2 and isinstance(raw[0], str)):
        return ProtocolError(_short(f"not a message: {exc}"), fault="not_a_message")
    tag = _short(raw[0], 40)
    cls = _TYPES.get(raw[0])
    if cls is None:
        return ProtocolError(f"invalid {tag!r} message: unknown message type", fault="unknown_type")
    if not isinstance(raw[1], int) or isinstance(raw[1], bool) or raw[1] != PROTOCOL_VERSION:
        return _version_error(raw[1], raw[0])
    fields = msgspec.structs.fields(cls)
    names = [f.name for f in fields]
    given = len(raw) - 1
    # An array-like struct may leave out trailing fields that have defaults.
    required = max((i + 1 for i, f in enumerate(fields) if f.required), default=0)
    if not required <= given <= len(names):
        expected = f"{required}" if required == len(names) else f"{required} to {len(names)}"
        return ProtocolError(
            _short(f"invalid {tag!r} message: {given} fields, expected {expected}"),
            fault="bad_shape",
            message_type=raw[0],
        )
    field = _bad_field(cls, raw[1:])
    where = f": field `{field}`" if field is not None else ""
    return ProtocolError(
        _short(f"invalid {tag!r} message{where}: {exc}"),
        fault="bad_field",
        message_type=raw[0],
        field=field,
    )


def _bad_state_field(blob: bytes | memoryview) -> str | None:
    """The first field of a malformed state that is wrong on its own, if any."""
    try:
        raw: Any = _any_decoder.decode(blob)
    except _BAD_INPUT:
        return None
    return _bad_field(ListState, raw) if isinstance(raw, list) else None


def _bad_field(cls: type[msgspec.Struct], values: list[Any]) -> str | None:
    """The first field of ``cls`` whose value does not decode on its own."""
    for field, value in zip(msgspec.structs.fields(cls), values, strict=False):
        try:
            msgspec.msgpack.decode(_encoder.encode(value), type=field.type)
        except _BAD_INPUT:
            return field.name
    return None
