"""Consistent hashing: pure position functions and the ring built on them.

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

from ring.chash import RING_BITS, RING_SIZE, key_position, position_hex, vnode_positions
from ring.hash_ring import DEFAULT_VNODES, HashRing, KeyRange

__all__ = [
    "DEFAULT_VNODES",
    "RING_BITS",
    "RING_SIZE",
    "HashRing",
    "KeyRange",
    "key_position",
    "position_hex",
    "vnode_positions",
]
