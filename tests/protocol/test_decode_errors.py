"""decode refuses bad frames with a ProtocolError whose reason says what is wrong.

The tests assert on the project's own reasons (``fault``, ``message_type``,
``field`` and the stable start of the text), never on the wording of the
codec library's detail, which changes between its releases.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import msgspec
import pytest

from protocol import (
    PROTOCOL_VERSION,
    ErrorReply,
    Get,
    ProtocolError,
    Put,
    Saved,
    SHello,
    decode,
    encode,
)
from protocol.limits import MAX_FRAME_BYTES, MAX_REASON_CHARS, MAX_STATE_BYTES
from tests.protocol.strategies import LIST_ID, SAMPLES


def frame_of(cls: type[Any], **changes: Any) -> bytes:
    """The sample message of ``cls`` as a raw array, with some fields replaced."""
    raw = msgspec.to_builtins(SAMPLES[cls])
    names = ["type", *cls.__struct_fields__]
    for name, value in changes.items():
        raw[names.index(name)] = value
    return msgspec.msgpack.encode(raw)


def error_of(frame: bytes | memoryview, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(frame, **kwargs)
    return caught.value


def reason_of(frame: bytes | memoryview, **kwargs: Any) -> str:
    return str(error_of(frame, **kwargs))


def fault_of(frame: bytes | memoryview, **kwargs: Any) -> tuple[str, str | None, str | None]:
    """What was wrong, as values: (fault, message type, field)."""
    error = error_of(frame, **kwargs)
    return (error.fault, error.message_type, error.field)


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


def test_frame_of_builds_what_encode_builds() -> None:
    assert encode(SAMPLES[Get]) == frame_of(Get)


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(seed: int) -> None:
    # 0xc1 is never valid msgpack, so these frames can't be a message by chance.
    frame = b"\xc1" + random.Random(seed).randbytes(seed * 7)
    assert reason_of(frame).startswith("not a msgpack frame")
    assert ("not_msgpack", None, None) == fault_of(frame)


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_every_truncation_of_a_valid_frame(cls: type[Any]) -> None:
    frame = encode(SAMPLES[cls])
    for cut in range(len(frame)):
        error = error_of(frame[:cut])
        assert error.fault in ("not_msgpack", "bad_shape", "not_a_message"), (cut, str(error))


def test_empty_frame() -> None:
    assert reason_of(b"").startswith("not a msgpack frame: ")
    assert ("not_msgpack", None, None) == fault_of(b"")


@pytest.mark.parametrize("version", [0, 2, -1, 2**40])
def test_wrong_version(version: int) -> None:
    expected = f"unsupported protocol version {version} (this node speaks {PROTOCOL_VERSION})"
    assert expected == reason_of(frame_of(Get, v=version))
    assert ("version", "Get", None) == fault_of(frame_of(Get, v=version))


def test_wrong_version_is_reported_even_when_the_fields_do_not_fit() -> None:
    # A future version may add, drop or retype fields: the version is the useful reason.
    frame = msgspec.msgpack.encode(["Get", 2, {"list": LIST_ID}])
    assert "unsupported protocol version 2 (this node speaks 1)" == reason_of(frame)


def test_version_of_the_wrong_type() -> None:
    assert "unsupported protocol version '1' (this node speaks 1)" == reason_of(
        frame_of(Get, v="1")
    )
    assert ("version", "Get", None) == fault_of(frame_of(Get, v=True))


def test_a_deeply_nested_version_is_refused_without_recursing() -> None:
    """Every depth around the interpreter's recursion limit: only ProtocolError."""
    for depth in [*range(700, 1100), 5_000]:
        frame = b"\x92\xa3Get" + b"\x91" * depth + b"\x01"
        assert fault_of(frame)[0] in ("version", "not_msgpack", "not_a_message"), depth


def test_a_version_of_another_type_is_named_by_its_type() -> None:
    frame = msgspec.msgpack.encode(["Get", [1, 2, 3], "id"])
    assert "unsupported protocol version of type list (this node speaks 1)" == reason_of(frame)


def test_unknown_tag() -> None:
    assert "invalid 'Delete' message: unknown message type" == reason_of(
        frame_of(Get, type="Delete")
    )
    assert ("unknown_type", None, None) == fault_of(frame_of(Get, type="Delete"))


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(msgspec.msgpack.encode([1, PROTOCOL_VERSION]), id="int-tag"),
        pytest.param(msgspec.msgpack.encode("Get"), id="bare-string"),
        pytest.param(msgspec.msgpack.encode({"type": "Get", "v": 1}), id="map"),
        pytest.param(msgspec.msgpack.encode(None), id="nil"),
        pytest.param(msgspec.msgpack.encode([]), id="empty-array"),
    ],
)
def test_not_a_message(frame: bytes) -> None:
    assert reason_of(frame).startswith("not a message")
    assert ("not_a_message", None, None) == fault_of(frame)


@pytest.mark.parametrize(
    ("cls", "changes", "field"),
    [
        (Get, {"msg_id": 5}, "msg_id"),
        (Get, {"traced": "yes"}, "traced"),
        (Put, {"state": "text"}, "state"),
        (Put, {"list_id": 7}, "list_id"),
        (Get, {"list_id": None}, "list_id"),
        (Saved, {"acks": 1.5}, "acks"),
    ],
)
def test_wrong_field_type(cls: type[Any], changes: dict[str, Any], field: str) -> None:
    frame = frame_of(cls, **changes)
    assert reason_of(frame).startswith(f"invalid '{cls.__name__}' message: field `{field}`: ")
    assert ("bad_field", cls.__name__, field) == fault_of(frame)


def test_out_of_range_and_unknown_values() -> None:
    assert ("bad_field", "Saved", "acks") == fault_of(frame_of(Saved, acks=-1))
    assert ("bad_field", "ErrorReply", "code") == fault_of(frame_of(ErrorReply, code="teapot"))
    assert ("bad_field", "SHello", "server_id") == fault_of(frame_of(SHello, server_id="s" * 129))


def test_frame_over_max_bytes() -> None:
    frame = encode(SAMPLES[Get])
    assert f"frame of {len(frame)} bytes exceeds the 10-byte limit" == reason_of(
        frame, max_bytes=10
    )
    assert ("oversized", None, None) == fault_of(frame, max_bytes=10)
    assert SAMPLES[Get] == decode(frame, max_bytes=len(frame))
    assert "exceeds the" in reason_of(frame, max_bytes=len(frame) - 1)


def test_frame_over_the_default_limit_is_refused_before_decoding() -> None:
    frame = encode(SAMPLES[Get]) + b"\x00" * (MAX_FRAME_BYTES + 1)
    expected = f"frame of {len(frame)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"
    assert expected == reason_of(frame)


def test_blob_over_max_state_bytes() -> None:
    fits = Put(list_id=LIST_ID, state=b"\x00" * MAX_STATE_BYTES)
    assert fits == decode(encode(fits))
    too_big = encode(Put(list_id=LIST_ID, state=b"\x00" * (MAX_STATE_BYTES + 1)))
    assert ("bad_field", "Put", "state") == fault_of(too_big)


@pytest.mark.parametrize(
    "list_id",
    [
        pytest.param("", id="empty"),
        pytest.param("groceries", id="a-name"),
        pytest.param(str(uuid.UUID(LIST_ID, version=1)), id="uuid1"),
        pytest.param(LIST_ID.upper(), id="uppercase"),
        pytest.param(uuid.UUID(LIST_ID).hex, id="no-dashes"),
        pytest.param("{" + LIST_ID + "}", id="braces"),
        pytest.param(" " + LIST_ID, id="leading-space"),
        pytest.param(LIST_ID + "0", id="too-long"),
        pytest.param(LIST_ID[:-1] + "g", id="not-hex"),
        pytest.param(LIST_ID.replace("-8", "-c", 1), id="bad-variant"),
    ],
)
def test_list_id_must_be_a_canonical_uuid4(list_id: str) -> None:
    assert ("bad_field", "Get", "list_id") == fault_of(frame_of(Get, list_id=list_id))


def test_list_id_with_a_trailing_newline_is_not_a_uuid4() -> None:
    assert ("bad_field", "Get", "list_id") == fault_of(frame_of(Get, list_id=LIST_ID + "\n"))


def test_trailing_bytes_after_a_message() -> None:
    frame = encode(SAMPLES[Get])
    assert ("not_msgpack", None, None) == fault_of(frame + b"\x00")
    assert ("not_msgpack", None, None) == fault_of(frame + frame)


def test_extra_fields_in_a_message() -> None:
    raw = msgspec.to_builtins(SAMPLES[Get])
    frame = msgspec.msgpack.encode([*raw, "extra"])
    assert "invalid 'Get' message: 7 fields, expected 6" == reason_of(frame)
    assert ("bad_shape", "Get", None) == fault_of(frame)


def test_missing_fields_in_a_message() -> None:
    raw = msgspec.to_builtins(SAMPLES[Get])
    frame = msgspec.msgpack.encode(raw[:-1])
    assert ("bad_shape", "Get", None) == fault_of(frame)


def test_invalid_utf8_in_a_string_field() -> None:
    frame = encode(Get(msg_id="ab", list_id=LIST_ID)).replace(b"\xa2ab", b"\xa2\xff\xfe", 1)
    # msgpack strings are UTF-8: such a frame is not msgpack at all.
    assert ("not_msgpack", None, None) == fault_of(frame)


def test_deeply_nested_arrays() -> None:
    assert ("not_msgpack", None, None) == fault_of(b"\x91" * 100_000 + b"\x01")
    assert ("not_msgpack", None, None) == fault_of(b"\x92\xa3Get" + b"\x91" * 100_000 + b"\x01")


def test_reason_fits_in_an_error_reply() -> None:
    frame = msgspec.msgpack.encode(["X" * 100_000, PROTOCOL_VERSION])
    assert len(reason_of(frame)) <= MAX_REASON_CHARS
