"""The one exception that untrusted bytes may turn into."""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(ValueError):
    """A frame or blob could not be decoded into a valid, typed value.

    Raised by :func:`protocol.decode`, :func:`protocol.decode_state` and
    ``ShoppingList.decode`` for anything that is not a well-formed message of
    this protocol version: random bytes, truncated frames, unknown tags, wrong
    field types, oversized fields or semantically inconsistent states. The
    message is meant to be shown to the sender in an error reply, so it names
    the problem without echoing the offending bytes.
    """
