"""Arcs, shares and the printed key ranges."""

from __future__ import annotations

import io
import math
import re

import pytest
from hypothesis import given, settings

from ring import RING_SIZE, HashRing, key_position, position_hex
from tests.ring.helpers import distinct_node_ids, uuid4_keys


def arc_length(start: int, end: int) -> int:
    # (p, p] is the whole ring: the only arc of a ring with one position.
    return (end - start) % RING_SIZE or RING_SIZE


def in_arc(position: int, start: int, end: int) -> bool:
    return 0 < (position - start) % RING_SIZE <= arc_length(start, end)


@settings(deadline=None, max_examples=50)
@given(names=distinct_node_ids(1, 6))
def test_arcs_cover_the_whole_ring_exactly_once(names: list[str]) -> None:
    ring = HashRing(names, vnodes=8)
    responsible = ring.get_responsible_nodes()
    assert sorted(names) == list(responsible)
    arcs = sorted((end, start) for node_arcs in responsible.values() for start, end in node_arcs)
    ends = [end for end, _ in arcs]
    # Every position ends exactly one arc, and each arc starts where the previous one ends.
    assert sorted(p for node in names for p in ring.positions_of(node)) == ends
    assert [ends[-1], *ends[:-1]] == [start for _, start in arcs]
    assert RING_SIZE == sum(arc_length(start, end) for end, start in arcs)
    for node, node_arcs in responsible.items():
        assert ring.positions_of(node) == [end for _, end in node_arcs]


def test_a_single_position_is_one_arc_around_the_whole_ring() -> None:
    ring = HashRing(["solo"], vnodes=1)
    [position] = ring.positions_of("solo")
    assert {"solo": [(position, position)]} == ring.get_responsible_nodes()


def test_every_key_lies_in_an_arc_of_its_coordinator() -> None:
    ring = HashRing(["a", "b", "c"], vnodes=16)
    responsible = ring.get_responsible_nodes()
    for key in uuid4_keys(300):
        position = key_position(key)
        owner = ring.lookup_node(key)
        assert 1 == sum(in_arc(position, s, e) for s, e in responsible[owner])


def test_shares_are_the_arc_lengths() -> None:
    ring = HashRing(["a", "b", "c"], vnodes=16)
    for node, arcs in ring.get_responsible_nodes().items():
        expected = sum(arc_length(s, e) for s, e in arcs) / RING_SIZE
        assert math.isclose(expected, ring.shares()[node], rel_tol=1e-12)


# ---------------------------------------------------------------- printing

HEX_ARC = re.compile(r"^  \(([0-9a-f]{32}), ([0-9a-f]{32})\]$")
INDEX_ARC = re.compile(r"^  \((\d+), (\d+)\]$")
NODE_LINE = re.compile(r"^(\S+): (\d+) ranges, (\d+\.\d\d)% of the keys$")


def printed(ring: HashRing, *, index: bool = False) -> list[str]:
    out = io.StringIO()
    ring.print_key_ranges(index=index, file=out)
    return out.getvalue().splitlines()


def test_print_key_ranges_in_hex() -> None:
    ring = HashRing(["b", "a"], vnodes=3)
    lines = printed(ring)
    assert "2 nodes, 6 positions (3 vnodes each)" == lines[0]
    assert 1 + 2 * (1 + 3) == len(lines)
    responsible = ring.get_responsible_nodes()
    for block, node in zip((lines[1:5], lines[5:9]), ["a", "b"], strict=True):
        match = NODE_LINE.match(block[0])
        assert match is not None, block[0]
        assert (node, "3") == match.group(1, 2)
        assert f"{ring.shares()[node]:.2%}" == f"{match.group(3)}%"
        expected = [f"  ({position_hex(s)}, {position_hex(e)}]" for s, e in responsible[node]]
        assert expected == block[1:]
        assert all(HEX_ARC.match(line) for line in block[1:])


def test_print_key_ranges_with_index() -> None:
    ring = HashRing(["b", "a"], vnodes=3)
    lines = printed(ring, index=True)
    assert "2 nodes, 6 positions (3 vnodes each)" == lines[0]
    arcs = [INDEX_ARC.match(line) for line in lines if line.startswith("  ")]
    assert all(arcs)
    pairs = sorted((int(m.group(2)), int(m.group(1))) for m in arcs if m is not None)
    # Every position index ends one arc; each arc starts at the index before (wrapping).
    assert [(i, (i - 1) % 6) for i in range(6)] == pairs


def test_print_key_ranges_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    ring = HashRing(["a"], vnodes=1)
    ring.print_key_ranges(index=True)
    assert "1 nodes, 1 positions (1 vnodes each)\na: 1 ranges, 100.00% of the keys\n  (0, 0]\n" == (
        capsys.readouterr().out
    )


def test_print_key_ranges_of_an_empty_ring(capsys: pytest.CaptureFixture[str]) -> None:
    HashRing(vnodes=2).print_key_ranges()
    assert "0 nodes, 0 positions (2 vnodes each)\n" == capsys.readouterr().out
