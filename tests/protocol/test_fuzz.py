"""Fuzzing decode: whatever the bytes, only ProtocolError escapes.

Each of MAX_EXAMPLES = 1000 Hypothesis examples decodes FRAMES_PER_EXAMPLE
= 12 frames, so decode sees 12,000 frames; the test counts the frames it
really decoded and asserts at the end that there were at least
MIN_FRAMES = 10,000, at least a quarter of them mutated and a quarter random
(bytes or msgpack values). Frames are random bytes, random msgpack values (some shaped like a
message header), and valid encoded messages with byte flips, msgpack type
bytes, truncations, insertions, deletions, repeats and splices applied.
"""

from __future__ import annotations

import sys
from collections import Counter

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import Message, ProtocolError, decode, encode
from tests.protocol.strategies import MESSAGE_CLASSES, encoded_samples

MAX_EXAMPLES = 1000
FRAMES_PER_EXAMPLE = 12
MIN_FRAMES = 10_000
assert MIN_FRAMES <= MAX_EXAMPLES * FRAMES_PER_EXAMPLE

#: msgpack type bytes that change how the rest of a frame is read: nil,
#: never-used, bools, fix/16/32 array, map, str, bin, ext and number headers.
TYPE_BYTES = bytes.fromhex(
    "c0 c1 c2 c3 90 9f dc dd 80 8f de df a0 bf d9 da db c4 c5 c6 c7 c8 c9 d4 d8 ca cb cc cf d3"
    " 00 7f e0 ff"
)

seed_frames = st.sampled_from(encoded_samples())


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid encoded message after one to four random edits."""
    frame = bytearray(draw(seed_frames))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(frame)))
        edit = draw(
            st.sampled_from(
                ["flip", "type_byte", "truncate", "insert", "delete", "splice", "repeat"]
            )
        )
        if edit == "flip" and at < len(frame):
            frame[at] ^= draw(st.integers(1, 255))
        elif edit == "type_byte" and at < len(frame):
            frame[at] = draw(st.sampled_from(TYPE_BYTES))
        elif edit == "truncate":
            del frame[at:]
        elif edit == "insert":
            frame[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del frame[at : at + draw(st.integers(1, 8))]
        elif edit == "splice":
            other = draw(seed_frames)
            frame[at:] = other[draw(st.integers(0, len(other))) :]
        elif edit == "repeat":
            frame[at:at] = frame[at : at + draw(st.integers(1, 16))]
    return bytes(frame)


msgpack_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
)
msgpack_values = st.recursive(
    msgpack_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(-9, 9), children, max_size=3)
    ),
    max_leaves=6,
)

tag_names = st.sampled_from([cls.__name__ for cls in MESSAGE_CLASSES] + ["Nope", ""])


@st.composite
def tagged_values(draw: st.DrawFn) -> bytes:
    """A msgpack array shaped like a message header followed by random fields."""
    header = [draw(tag_names), draw(st.sampled_from([1, 1, 1, 0, 2, -1]))]
    return msgspec.msgpack.encode(
        header + draw(st.lists(msgpack_scalars | msgpack_values, max_size=9))
    )


# Hypothesis favours the first branches of one_of, so mutations come first.
frames = st.one_of(
    st.tuples(st.just("mutated"), mutated_frames()),
    st.tuples(st.just("random"), st.binary(max_size=256)),
    st.tuples(st.just("tagged"), tagged_values()),
    st.tuples(st.just("msgpack"), msgpack_values.map(msgspec.msgpack.encode)),
)


def decode_only_protocol_errors(frame: bytes) -> bool:
    """Whether ``frame`` decodes; a ProtocolError is fine, any other exception fails the test."""
    try:
        msg = decode(frame)
    except ProtocolError as exc:
        reason = str(exc)
    else:
        # Whatever decodes is a real message whose canonical encoding is stable.
        assert isinstance(msg, MESSAGE_CLASSES)
        assert encode(msg) == encode(decode(encode(msg)))
        return True
    assert reason, "a ProtocolError must carry a reason"
    return False


def test_fuzzed_frames_raise_only_protocol_error() -> None:
    decoded: Counter[str] = Counter()
    accepted = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=st.lists(frames, min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
    def fuzz(batch: list[tuple[str, bytes]]) -> None:
        nonlocal accepted
        for kind, frame in batch:
            decoded[kind] += 1
            accepted += decode_only_protocol_errors(frame)

    fuzz()

    assert sum(decoded.values()) >= MIN_FRAMES, decoded
    # Both random and mutated frames were really fed in bulk (not just a handful).
    assert decoded["random"] + decoded["msgpack"] + decoded["tagged"] >= MIN_FRAMES // 4, decoded
    assert decoded["mutated"] >= MIN_FRAMES // 4, decoded
    # Some mutations (e.g. a flipped string byte) still decode, others don't.
    assert 0 < accepted < sum(decoded.values())


def test_any_other_exception_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check must not swallow what the fuzz test is looking for.
    def broken(_frame: bytes) -> Message:
        raise IndexError("a bug in decode")

    monkeypatch.setattr(sys.modules[__name__], "decode", broken)
    with pytest.raises(IndexError):
        decode_only_protocol_errors(b"")
