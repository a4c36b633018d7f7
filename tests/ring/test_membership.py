"""Building and changing the ring: validation, batches, unknown ids."""

from __future__ import annotations

from typing import Any

import pytest

from ring import DEFAULT_VNODES, HashRing, vnode_positions


class RebuildCounter:
    """Counts rebuilds of one ring by wrapping its ``_rebuild``."""

    def __init__(self, ring: HashRing, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = ring._rebuild

        def counting() -> None:
            self.calls += 1
            original()

        monkeypatch.setattr(ring, "_rebuild", counting)


def test_defaults() -> None:
    ring = HashRing()
    assert 1024 == DEFAULT_VNODES
    assert DEFAULT_VNODES == ring.vnodes
    assert 0 == len(ring)
    assert [] == ring.nodes


@pytest.mark.parametrize("vnodes", [0, -1, True, False, 1.0, 2.5, "8", None])
def test_vnodes_must_be_a_positive_int(vnodes: Any) -> None:
    with pytest.raises(ValueError, match="vnodes must be an int >= 1"):
        HashRing(["a"], vnodes=vnodes)


@pytest.mark.parametrize("vnodes", [1, 7, 64])
def test_each_member_gets_vnodes_positions(vnodes: int) -> None:
    ring = HashRing(["a", "b"], vnodes=vnodes)
    for node in ("a", "b"):
        assert sorted(vnode_positions(node, vnodes)) == ring.positions_of(node)


def test_members_are_sorted_counted_and_contained() -> None:
    ring = HashRing(["c", "a", "b"], vnodes=4)
    assert ["a", "b", "c"] == ring.nodes
    assert 3 == len(ring)
    assert "a" in ring
    assert "z" not in ring
    assert 1 not in ring


def test_add_nodes_rebuilds_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = HashRing(["a"], vnodes=4)
    rebuilds = RebuildCounter(ring, monkeypatch)
    ring.add_nodes(node for node in ["b", "c", "d", "c"])
    assert 1 == rebuilds.calls
    assert ["a", "b", "c", "d"] == ring.nodes


def test_add_nodes_ignores_known_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = HashRing(["a", "b"], vnodes=4)
    arcs = ring.get_responsible_nodes()
    rebuilds = RebuildCounter(ring, monkeypatch)
    ring.add_nodes(["a", "b", "a"])
    ring.add_node("b")
    assert 0 == rebuilds.calls
    assert arcs == ring.get_responsible_nodes()
    ring.add_nodes(["a", "e"])
    assert 1 == rebuilds.calls
    assert ["a", "b", "e"] == ring.nodes


def test_add_node_is_a_batch_of_one() -> None:
    one = HashRing(["a"], vnodes=4)
    one.add_node("b")
    assert HashRing(["a", "b"], vnodes=4).get_responsible_nodes() == one.get_responsible_nodes()


@pytest.mark.parametrize("bad", ["", 7, None, b"node"])
def test_invalid_ids_are_rejected_and_leave_the_ring_unchanged(bad: Any) -> None:
    ring = HashRing(["a"], vnodes=4)
    arcs = ring.get_responsible_nodes()
    with pytest.raises(ValueError, match="non-empty string"):
        ring.add_nodes(["b", bad])
    assert ["a"] == ring.nodes
    assert arcs == ring.get_responsible_nodes()


def test_remove_node_of_unknown_id_raises_key_error() -> None:
    ring = HashRing(["a", "b"], vnodes=4)
    arcs = ring.get_responsible_nodes()
    with pytest.raises(KeyError):
        ring.remove_node("zzz")
    assert ["a", "b"] == ring.nodes
    assert arcs == ring.get_responsible_nodes()


def test_removing_the_last_member_empties_the_ring() -> None:
    ring = HashRing(["a"], vnodes=4)
    ring.remove_node("a")
    assert [] == ring.nodes
    assert {} == ring.get_responsible_nodes()
    assert {} == ring.shares()
    with pytest.raises(LookupError):
        ring.lookup_node("key")
