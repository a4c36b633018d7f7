"""A consistent-hash ring with virtual nodes, owned by one thread at a time.

The ring keeps two parallel sorted arrays, positions and their owners, and
answers lookups with ``bisect`` in O(log(nodes * vnodes)). Membership changes
rebuild the arrays; :meth:`HashRing.add_nodes` does it once for a batch.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Iterable
from typing import Final, TextIO

from ring.chash import RING_SIZE, key_position, position_hex, vnode_positions

__all__ = ["DEFAULT_VNODES", "HashRing", "KeyRange"]

#: Virtual nodes per server, chosen with ``benchmarks/ring_balance.py`` (100
#: rings of 5 random server ids, 100,000 uuid4 keys): the busiest server held
#: on average 1.075x / 1.052x / 1.035x the mean share at 256 / 512 / 1024
#: vnodes, and at worst 1.175x / 1.134x / 1.075x. Only 1024 keeps a wide
#: margin under the 1.15x bound; it costs ~5 ms to build a 5-server ring and
#: lookups stay O(log n). See docs/performance.md.
DEFAULT_VNODES: Final = 1024

#: (start, end]: the arc of positions a virtual node coordinates. The first
#: arc wraps around zero, so its start is greater than its end.
KeyRange = tuple[int, int]


class HashRing:
    """Maps keys to servers; the preference list is the next distinct servers clockwise.

    Args:
        nodes: initial server ids.
        vnodes: virtual nodes per server (>= 1).

    Not thread-safe: the proxy actor owns its ring; other threads get copies.
    """

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = DEFAULT_VNODES) -> None:
        if isinstance(vnodes, bool) or not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be an int >= 1, got {vnodes!r}")
        self.vnodes = vnodes
        self._nodes: set[str] = set()
        self._positions: list[int] = []
        self._owners: list[str] = []
        #: walks already made, by (start index, servers wanted): the proxy
        #: walks the ring for every request, and a ring has only so many arcs
        self._walks: dict[tuple[int, int], tuple[str, ...]] = {}
        self.add_nodes(nodes)

    # ------------------------------------------------------------ membership

    @property
    def nodes(self) -> list[str]:
        """Member ids, sorted."""
        return sorted(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def add_node(self, node: str) -> None:
        """Add one server; same as ``add_nodes([node])``."""
        self.add_nodes([node])

    def add_nodes(self, nodes: Iterable[str]) -> None:
        """Add a batch of servers with a single rebuild. Known ids are ignored.

        Raises:
            ValueError: a node id is not a non-empty, encodable string, or
                ``nodes`` is itself a string (a common slip for ``[node]``).
        """
        if isinstance(nodes, str):
            raise ValueError("add_nodes takes an iterable of node ids, not one string")
        new = [n for n in dict.fromkeys(nodes) if n not in self._nodes]
        for node in new:
            if not isinstance(node, str) or not node:
                raise ValueError(f"node id must be a non-empty string, got {node!r}")
            try:
                node.encode()
            except UnicodeEncodeError:
                raise ValueError(f"node id {node!r} is not valid unicode text") from None
        if not new:
            return
        self._nodes.update(new)
        self._rebuild()

    def remove_node(self, node: str) -> None:
        """Remove a server; its arcs fall to the next virtual node clockwise.

        Raises:
            KeyError: ``node`` is not a member.
        """
        self._nodes.remove(node)
        self._rebuild()

    def _rebuild(self) -> None:
        # Ties between two md5 positions are astronomically unlikely; sorting
        # by (position, node) still makes them deterministic.
        pairs = sorted(
            (p, node) for node in self._nodes for p in vnode_positions(node, self.vnodes)
        )
        self._positions = [p for p, _ in pairs]
        self._owners = [node for _, node in pairs]
        self._walks = {}

    # --------------------------------------------------------------- lookups

    def lookup_node(self, key: str) -> str:
        """The coordinator of ``key``: owner of the first position clockwise.

        Raises:
            LookupError: the ring is empty.
        """
        return self._owners[self._index(key_position(key))]

    def get_replicas(self, key: str, n: int) -> list[str]:
        """The preference list: the first ``n`` distinct servers clockwise.

        The coordinator comes first. With fewer than ``n`` servers, all of
        them are returned.
        """
        return self.walk(key_position(key), n)

    def walk(self, position: int, n: int) -> list[str]:
        """The first ``n`` distinct servers at or after ``position`` (a new list).

        Each arc's walk is made once per ring (memoized until it changes):
        finding all of five servers could take a hundred steps of the ring.
        """
        want = min(n, len(self._nodes))
        if want <= 0:
            return []
        start = self._index(position)
        walk = self._walks.get((start, want))
        if walk is None:
            walk = self._walks[(start, want)] = self._walk_from(start, want)
        return list(walk)

    def _walk_from(self, start: int, want: int) -> tuple[str, ...]:
        owners = self._owners
        count = len(owners)
        found: list[str] = []
        for step in range(count):
            node = owners[(start + step) % count]
            if node not in found:
                found.append(node)
                if len(found) == want:
                    break
        return tuple(found)

    def replica_groups(self, n: int) -> list[tuple[str, ...]]:
        """Every distinct replica set (sorted ids) of some arc of the ring.

        Lists whose preference lists hold the same servers are replicated on
        exactly those servers, so anti-entropy compares them group by group.
        """
        groups: dict[tuple[str, ...], None] = {}
        for position in self._positions:
            groups.setdefault(tuple(sorted(self.walk(position, n))), None)
        return list(groups)

    def _index(self, position: int) -> int:
        if not self._positions:
            raise LookupError("the ring has no nodes")
        i = bisect_right(self._positions, position)
        # A key equal to a vnode position belongs to that vnode: arcs are (start, end].
        if i and self._positions[i - 1] == position:
            i -= 1
        return i % len(self._positions)

    # ------------------------------------------------------------ inspection

    def positions_of(self, node: str) -> list[int]:
        """Sorted positions of ``node``'s virtual nodes."""
        return [p for p, owner in zip(self._positions, self._owners, strict=True) if owner == node]

    def get_responsible_nodes(self) -> dict[str, list[KeyRange]]:
        """Each server's arcs ``(start, end]``, where ``end`` is one of its positions."""
        ranges: dict[str, list[KeyRange]] = {node: [] for node in sorted(self._nodes)}
        positions = self._positions
        for i, owner in enumerate(self._owners):
            ranges[owner].append((positions[i - 1], positions[i]))
        return ranges

    def shares(self) -> dict[str, float]:
        """Fraction of the hash space each server coordinates."""
        out = dict.fromkeys(self._nodes, 0.0)
        positions = self._positions
        for i, owner in enumerate(self._owners):
            arc = (positions[i] - positions[i - 1]) % RING_SIZE or RING_SIZE
            out[owner] += arc / RING_SIZE
        return out

    def print_key_ranges(self, index: bool = False, file: TextIO | None = None) -> None:
        """Print every server's arcs; with ``index``, as position indices instead of hex."""
        out = file if file is not None else sys.stdout
        total = len(self._positions)
        print(f"{len(self._nodes)} nodes, {total} positions ({self.vnodes} vnodes each)", file=out)
        where = {p: i for i, p in enumerate(self._positions)}
        shares = self.shares()
        for node, arcs in self.get_responsible_nodes().items():
            print(f"{node}: {len(arcs)} ranges, {shares[node]:.2%} of the keys", file=out)
            for start, end in arcs:
                if index:
                    print(f"  ({where[start]}, {where[end]}]", file=out)
                else:
                    print(f"  ({position_hex(start)}, {position_hex(end)}]", file=out)
