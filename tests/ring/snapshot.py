"""Everything a ring computes for fixed inputs, as JSON-friendly data.

The determinism test computes this in its own process and in subprocesses
started with other ``PYTHONHASHSEED`` values; run as a module it prints the
snapshot as JSON.
"""

from __future__ import annotations

import io
import json
from typing import Any

from ring import HashRing, key_position, position_hex, vnode_positions

NODES = ("proxy", "server-0001", "server-0002", "zeta", "álpha", "node-1", "node-1-0")
KEYS = (*(f"list-{i}" for i in range(500)), "", "ключ", "🛒", "a b\nc")


def snapshot() -> dict[str, Any]:
    ring = HashRing(NODES)
    small = HashRing(NODES[:3], vnodes=4)
    ranges = io.StringIO()
    small.print_key_ranges(file=ranges)
    return {
        # Salted per process: proves the subprocesses really hash differently.
        "str_hash": hash("shoplist"),
        "key_positions": [position_hex(key_position(key)) for key in KEYS],
        "vnode_positions": {
            node: [position_hex(p) for p in vnode_positions(node, 8)] for node in NODES
        },
        "positions_of": {
            node: [position_hex(p) for p in ring.positions_of(node)[:16]] for node in NODES
        },
        "lookup_node": [ring.lookup_node(key) for key in KEYS],
        "get_replicas": [ring.get_replicas(key, 3) for key in KEYS],
        "shares": sorted(ring.shares().items()),
        "responsible": {
            node: [[position_hex(s), position_hex(e)] for s, e in arcs]
            for node, arcs in small.get_responsible_nodes().items()
        },
        "print_key_ranges": ranges.getvalue(),
    }


if __name__ == "__main__":
    print(json.dumps(snapshot()))
