"""The envelope every message carries, and how replies and relays fill it."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from protocol.types import Id

__all__ = ["PROTOCOL_VERSION", "Envelope", "next_envelope", "reply_envelope"]

PROTOCOL_VERSION: Final = 1


class Envelope(
    msgspec.Struct,
    frozen=True,
    tag=True,
    array_like=True,
    forbid_unknown_fields=True,
    kw_only=True,
):
    """Fields every message carries. Never sent on its own."""

    v: int = PROTOCOL_VERSION
    msg_id: Id = ""
    trace_id: Id = ""
    sender: Id = ""
    traced: bool = False


def next_envelope(msg: Envelope, msg_id: str, sender: str) -> dict[str, Any]:
    """Envelope fields for a message that carries ``msg``'s request on: a new
    id and sender, the same trace. Spread it into a constructor: ``Store(**...)``."""
    return {"msg_id": msg_id, "trace_id": msg.trace_id, "sender": sender, "traced": msg.traced}


def reply_envelope(msg: Envelope, msg_id: str, sender: str) -> dict[str, Any]:
    """Envelope fields for the answer to ``msg``: :func:`next_envelope` plus ``reply_to``."""
    return {**next_envelope(msg, msg_id, sender), "reply_to": msg.msg_id}
