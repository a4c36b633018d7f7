"""decode refuses bad frames with a ProtocolError whose reason says what is wrong."""

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


def reason_of(frame: bytes | memoryview, **kwargs: Any) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode(frame, **kwargs)
    return str(caught.value)


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


def test_frame_of_builds_what_encode_builds() -> None:
    assert encode(SAMPLES[Get]) == frame_of(Get)


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(seed: int) -> None:
    # 0xc1 is never valid msgpack, so these frames can't be a message by chance.
    frame = b"\xc1" + random.Random(seed).randbytes(seed * 7)
    assert "not a msgpack frame" in reason_of(frame)


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_every_truncation_of_a_valid_frame(cls: type[Any]) -> None:
    frame = encode(SAMPLES[cls])
    for cut in range(len(frame)):
        reason = reason_of(frame[:cut])
        assert "truncated" in reason or "length" in reason, (cut, reason)


def test_empty_frame() -> None:
    assert "not a msgpack frame: Input data was truncated" == reason_of(b"")


@pytest.mark.parametrize("version", [0, 2, -1, 2**40])
def test_wrong_version(version: int) -> None:
    expected = f"unsupported protocol version {version} (this node speaks {PROTOCOL_VERSION})"
    assert expected == reason_of(frame_of(Get, v=version))


def test_wrong_version_is_reported_even_when_the_fields_do_not_fit() -> None:
    # A future version may add, drop or retype fields: the version is the useful reason.
    frame = msgspec.msgpack.encode(["Get", 2, {"list": LIST_ID}])
    assert "unsupported protocol version 2 (this node speaks 1)" == reason_of(frame)


def test_version_of_the_wrong_type() -> None:
    assert "`int`" in reason_of(frame_of(Get, v="1"))
    assert "`int`" in reason_of(frame_of(Get, v=True))


def test_unknown_tag() -> None:
    reason = reason_of(frame_of(Get, type="Delete"))
    assert reason.startswith("invalid 'Delete' message")


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


@pytest.mark.parametrize(
    ("cls", "changes", "expected"),
    [
        (Get, {"msg_id": 5}, "Expected `str`, got `int` - at `$[2]`"),
        (Get, {"traced": "yes"}, "Expected `bool`, got `str` - at `$[5]`"),
        (Put, {"state": "text"}, "Expected `bytes`, got `str` - at `$[7]`"),
        (Put, {"list_id": 7}, "Expected `str`, got `int` - at `$[6]`"),
        (Get, {"list_id": None}, "Expected `str`, got `None` - at `$[6]`"),
        (Saved, {"acks": 1.5}, "Expected `int`, got `float` - at `$[8]`"),
    ],
)
def test_wrong_field_type(cls: type[Any], changes: dict[str, Any], expected: str) -> None:
    reason = reason_of(frame_of(cls, **changes))
    assert f"invalid '{cls.__name__}' message: {expected}" == reason


def test_out_of_range_and_unknown_values() -> None:
    assert "Expected `int` >= 0 - at `$[8]`" in reason_of(frame_of(Saved, acks=-1))
    assert "Invalid enum value 'teapot' - at `$[7]`" in reason_of(
        frame_of(ErrorReply, code="teapot")
    )
    assert "Expected `str` of length <= 128" in reason_of(frame_of(SHello, server_id="s" * 129))


def test_frame_over_max_bytes() -> None:
    frame = encode(SAMPLES[Get])
    assert f"frame of {len(frame)} bytes exceeds the 10-byte limit" == reason_of(
        frame, max_bytes=10
    )
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
    assert (
        f"invalid 'Put' message: Expected `bytes` of length <= {MAX_STATE_BYTES} - at `$[7]`"
        == reason_of(too_big)
    )


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
    reason = reason_of(frame_of(Get, list_id=list_id))
    assert reason.startswith("invalid 'Get' message: Expected `str` matching regex")
    assert reason.endswith("- at `$[6]`")


def test_list_id_with_a_trailing_newline_is_not_a_uuid4() -> None:
    reason_of(frame_of(Get, list_id=LIST_ID + "\n"))


def test_trailing_bytes_after_a_message() -> None:
    frame = encode(SAMPLES[Get])
    assert "trailing characters" in reason_of(frame + b"\x00")
    assert "trailing characters" in reason_of(frame + frame)


def test_extra_fields_in_a_message() -> None:
    raw = msgspec.to_builtins(SAMPLES[Get])
    reason = reason_of(msgspec.msgpack.encode([*raw, "extra"]))
    assert reason.startswith("invalid 'Get' message: Expected `array` of at most length")


def test_missing_fields_in_a_message() -> None:
    raw = msgspec.to_builtins(SAMPLES[Get])
    reason = reason_of(msgspec.msgpack.encode(raw[:-1]))
    assert reason.startswith("invalid 'Get' message: Expected `array` of at least length")


def test_invalid_utf8_in_a_string_field() -> None:
    frame = encode(Get(msg_id="ab", list_id=LIST_ID)).replace(b"\xa2ab", b"\xa2\xff\xfe", 1)
    assert "utf-8" in reason_of(frame)


def test_deeply_nested_arrays() -> None:
    assert reason_of(b"\x91" * 100_000 + b"\x01")
    assert reason_of(b"\x92\xa3Get" + b"\x91" * 100_000 + b"\x01")


def test_reason_fits_in_an_error_reply() -> None:
    frame = msgspec.msgpack.encode(["X" * 100_000, PROTOCOL_VERSION])
    assert len(reason_of(frame)) <= MAX_REASON_CHARS
