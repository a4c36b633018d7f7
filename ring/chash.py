"""Pure hashing functions of the ring, in the spirit of riak_core's ``chash``.

Positions are the md5 digest of a string read as a 128-bit big-endian
integer, so every process on every machine places keys and virtual nodes at
the same points. Python's ``hash()`` is salted per process and never used.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["RING_BITS", "RING_SIZE", "key_position", "position_hex", "vnode_positions"]

RING_BITS: Final = 128
RING_SIZE: Final = 1 << RING_BITS


def key_position(key: str) -> int:
    """Where ``key`` sits on the ring: md5 of its UTF-8 bytes."""
    return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest(), "big")


def vnode_positions(node: str, vnodes: int) -> list[int]:
    """The positions of ``node``'s virtual nodes: md5 of ``"<node>-<i>"``."""
    return [key_position(f"{node}-{i}") for i in range(vnodes)]


def position_hex(position: int) -> str:
    """A position as 32 hex digits, the form shown to users and sent on the wire."""
    return f"{position:032x}"
