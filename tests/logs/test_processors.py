"""The two processors on their own."""

from __future__ import annotations

import json

from logs import StaticFields, render_json_bytes


def test_static_fields_do_not_override_explicit_ones() -> None:
    add = StaticFields(node="n1", role="server")
    assert {"event": "e", "node": "other", "role": "server"} == add(
        None, "info", {"event": "e", "node": "other"}
    )


def test_render_puts_the_standard_keys_first() -> None:
    event = {"z": 1, "msg_id": "m", "event": "e", "level": "info", "timestamp": "t", "node": "n"}
    rendered = render_json_bytes(None, "info", event)
    assert isinstance(rendered, bytes)
    assert b"\n" not in rendered
    assert ["timestamp", "level", "node", "event", "msg_id", "z"] == list(json.loads(rendered))


def test_render_never_raises_on_odd_values() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    event = {"event": "e", "obj": Opaque(), "big": 2**100, "raw": b"\xff", "nan": float("nan")}
    assert {"event": "e", "obj": "opaque", "big": 2**100, "raw": "/w==", "nan": None} == json.loads(
        render_json_bytes(None, "info", event)
    )
