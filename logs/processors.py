"""Small structlog processors; each takes and returns an event dict."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Final

import msgspec

__all__ = ["StaticFields", "render_json_bytes"]

EventDict = MutableMapping[str, Any]


class StaticFields:
    """Add fields that are the same for every event of a process (node, role)."""

    def __init__(self, **fields: str) -> None:
        self._fields = fields

    def __call__(self, _logger: object, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in self._fields.items():
            event_dict.setdefault(key, value)
        return event_dict


def _fallback(obj: object) -> str:
    # Anything msgspec can't encode (exceptions, paths, enums) is logged as text,
    # so that a log call can never raise.
    return repr(obj) if isinstance(obj, BaseException) else str(obj)


_json: Final = msgspec.json.Encoder(enc_hook=_fallback)


#: Keys written first, so that a human reading a line sees when, where and what.
_LEADING: Final = ("timestamp", "level", "node", "role", "event", "trace_id", "msg_id")


def render_json_bytes(_logger: object, _method: str, event_dict: EventDict) -> bytes:
    """Render the event as one JSON object (bytes, without the newline)."""
    ordered = {key: event_dict[key] for key in _LEADING if key in event_dict}
    ordered.update(event_dict)
    return _json.encode(ordered)
