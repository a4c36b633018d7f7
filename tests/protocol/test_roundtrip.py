"""Every message survives encode -> decode unchanged."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings

from protocol import PROTOCOL_VERSION, Get, Message, decode, encode
from tests.protocol.strategies import MESSAGE_CLASSES, SAMPLES, messages


def test_samples_cover_every_message_class() -> None:
    assert set(MESSAGE_CLASSES) == set(SAMPLES)
    assert len(MESSAGE_CLASSES) == len(set(MESSAGE_CLASSES))


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_sample_round_trips(cls: type[Any]) -> None:
    msg = SAMPLES[cls]
    decoded = decode(encode(msg))
    assert cls is type(decoded)
    assert msg == decoded


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
def test_frame_is_an_array_tagged_with_the_class_name(cls: type[Any]) -> None:
    raw = msgspec.msgpack.decode(encode(SAMPLES[cls]))
    assert [cls.__name__, PROTOCOL_VERSION] == raw[:2]


@settings(max_examples=300, deadline=None)
@given(msg=messages)
def test_generated_messages_round_trip(msg: Message) -> None:
    frame = encode(msg)
    assert msg == decode(frame)
    assert msg == decode(memoryview(frame))
    # The encoding is canonical: re-encoding gives the same bytes.
    assert frame == encode(decode(frame))


def test_envelope_defaults() -> None:
    msg = decode(encode(Get(list_id=SAMPLES[Get].list_id)))
    assert (PROTOCOL_VERSION, "", "", "", False) == (
        msg.v,
        msg.msg_id,
        msg.trace_id,
        msg.sender,
        msg.traced,
    )
