"""The one exception that untrusted bytes may turn into."""

from __future__ import annotations

from typing import Literal

__all__ = ["Fault", "ProtocolError"]

#: What was wrong with the bytes, in this project's own terms (a contract:
#: tests, logs and peers may rely on these; the wording of the codec
#: library's own detail, which may follow in the message, is not):
#:
#: - ``oversized``: larger than the limit, refused before decoding
#: - ``not_msgpack``: not readable as one msgpack value (garbage, truncated,
#:   trailing bytes, invalid UTF-8 in a string, nested too deep)
#: - ``not_a_message``: msgpack, but not an array that starts with a type tag
#: - ``unknown_type``: a type tag this protocol does not have
#: - ``version``: another protocol version, or a version that is not an int
#: - ``bad_shape``: a known message with too few or too many fields
#: - ``bad_field``: a known message with one field of the wrong type or out
#:   of its bounds (:attr:`ProtocolError.field` names it)
#: - ``bad_state``: a list state that is malformed, or fails the CRDT's checks
Fault = Literal[
    "oversized",
    "not_msgpack",
    "not_a_message",
    "unknown_type",
    "version",
    "bad_shape",
    "bad_field",
    "bad_state",
]


class ProtocolError(ValueError):
    """A frame or blob could not be decoded into a valid, typed value.

    Raised by :func:`protocol.decode`, :func:`protocol.decode_state` and
    ``ShoppingList.decode`` for anything that is not a well-formed message of
    this protocol version: random bytes, truncated frames, unknown tags, wrong
    field types, oversized fields or semantically inconsistent states. The
    message is meant to be shown to the sender in an error reply, so it names
    the problem without echoing the offending bytes.

    Its text starts with a stable reason of this project's own ("not a
    msgpack frame", "invalid 'Get' message: field `msg_id`", ...), which may
    be followed by the codec library's detail after ``": "``; :attr:`fault`,
    :attr:`message_type` and :attr:`field` carry the same facts as values.
    """

    def __init__(
        self,
        reason: str,
        *,
        fault: Fault,
        message_type: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.fault: Fault = fault
        #: the type tag of the message, when the frame had a known one
        self.message_type = message_type
        #: the name of the offending field, for a ``bad_field`` fault
        self.field = field
