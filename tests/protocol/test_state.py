"""decode_state: the wire form of a list state, and what it refuses."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings

from protocol import ListState, ProtocolError, decode_state, encode_state
from protocol.limits import MAX_QUANTITY, MAX_REPLICAS, MAX_STATE_BYTES
from tests.protocol.strategies import LIST_ID, SAMPLE_STATE, list_states


def test_sample_state_round_trips() -> None:
    assert SAMPLE_STATE == decode_state(encode_state(SAMPLE_STATE))
    assert SAMPLE_STATE == decode_state(memoryview(encode_state(SAMPLE_STATE)))


@settings(max_examples=200, deadline=None)
@given(state=list_states)
def test_generated_states_round_trip(state: ListState) -> None:
    assert state == decode_state(encode_state(state))


def raw_state(**changes: Any) -> bytes:
    """The sample state as a msgpack array, with some fields replaced."""
    fields = msgspec.to_builtins(SAMPLE_STATE)
    names = [f for f in ListState.__struct_fields__]
    for name, value in changes.items():
        fields[names.index(name)] = value
    return msgspec.msgpack.encode(fields)


@pytest.mark.parametrize(
    ("blob", "field"),
    [
        pytest.param(b"", None, id="empty"),
        pytest.param(b"\xc1", None, id="not-msgpack"),
        pytest.param(encode_state(SAMPLE_STATE)[:-3], None, id="truncated"),
        pytest.param(msgspec.msgpack.encode({"list_id": LIST_ID}), None, id="a-map"),
        pytest.param(msgspec.msgpack.encode([LIST_ID]), None, id="too-few-fields"),
        pytest.param(raw_state(list_id="not-a-uuid"), "list_id", id="bad-list-id"),
        pytest.param(raw_state(vv=[-1, 0]), "vv", id="negative-counter"),
        pytest.param(
            raw_state(cloud=[[MAX_REPLICAS, 1]]), "cloud", id="replica-index-out-of-range"
        ),
        pytest.param(raw_state(cloud=[[0, 0]]), "cloud", id="dot-counter-zero"),
        pytest.param(raw_state(names=[[0, 1, "x" * 201]]), "names", id="list-name-too-long"),
        pytest.param(raw_state(items=[["", [[0, 1, 1, 0]]]]), "items", id="empty-item-name"),
        pytest.param(raw_state(items=[["milk", []]]), "items", id="item-without-dots"),
        pytest.param(
            raw_state(items=[["milk", [[0, 1, MAX_QUANTITY + 1, 0]]]]),
            "items",
            id="quantity-too-big",
        ),
        pytest.param(raw_state(replicas="server-1"), "replicas", id="wrong-field-type"),
        pytest.param(
            msgspec.msgpack.encode([*msgspec.to_builtins(SAMPLE_STATE), []]), None, id="extra"
        ),
        pytest.param(encode_state(SAMPLE_STATE) + b"\x00", None, id="trailing-bytes"),
    ],
)
def test_malformed_states_raise_protocol_error(blob: bytes, field: str | None) -> None:
    with pytest.raises(ProtocolError, match=r"^malformed list state") as caught:
        decode_state(blob)
    assert ("bad_state", field) == (caught.value.fault, caught.value.field)


def test_oversized_state_is_refused_before_decoding() -> None:
    blob = b"\x00" * (MAX_STATE_BYTES + 1)
    with pytest.raises(ProtocolError, match="exceeds the 4194304-byte limit"):
        decode_state(blob)
