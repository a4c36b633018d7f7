"""The pure position functions: md5 positions, vnode naming, hex form."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ring import RING_BITS, RING_SIZE, key_position, position_hex, vnode_positions


def test_ring_size_is_two_to_the_128() -> None:
    assert 128 == RING_BITS
    assert 2**128 == RING_SIZE


@pytest.mark.parametrize(
    ("key", "position"),
    [
        ("", 0xD41D8CD98F00B204E9800998ECF8427E),
        ("abc", 0x900150983CD24FB0D6963F7D28E17F72),
    ],
)
def test_key_position_is_md5_read_big_endian(key: str, position: int) -> None:
    assert position == key_position(key)


@given(st.text(st.characters(codec="utf-8")))
def test_key_position_hashes_the_utf8_bytes_and_stays_on_the_ring(key: str) -> None:
    expected = int.from_bytes(hashlib.md5(key.encode("utf-8")).digest(), "big")
    assert expected == key_position(key)
    assert 0 <= key_position(key) < RING_SIZE


def test_vnode_positions_hash_node_dash_index() -> None:
    expected = [key_position("server-1-0"), key_position("server-1-1"), key_position("server-1-2")]
    assert expected == vnode_positions("server-1", 3)
    assert [] == vnode_positions("server-1", 0)


@pytest.mark.parametrize(
    ("position", "text"),
    [
        (0, "0" * 32),
        (1, "0" * 31 + "1"),
        (RING_SIZE - 1, "f" * 32),
        (0xD41D8CD98F00B204E9800998ECF8427E, "d41d8cd98f00b204e9800998ecf8427e"),
    ],
)
def test_position_hex_is_32_lowercase_digits(position: int, text: str) -> None:
    assert text == position_hex(position)
    assert position == int(position_hex(position), 16)
