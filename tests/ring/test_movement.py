"""Membership changes move few keys, and only to or from the server that changed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ring import HashRing
from tests.ring.helpers import MOVEMENT_KEYS, coordinators, distinct_node_ids, uuid4_keys

MOVE_SLACK = 1.2


@settings(derandomize=True, max_examples=12, deadline=None)
@given(names=distinct_node_ids(2, 9), data=st.data())
def test_adding_k_servers_to_n_moves_few_keys_and_only_onto_the_new_servers(
    names: list[str], data: st.DataObject
) -> None:
    n = data.draw(st.integers(1, min(6, len(names) - 1)), label="n")
    old, new = names[:n], names[n:]
    before = HashRing(old)
    after = HashRing(old)
    after.add_nodes(new)
    keys = uuid4_keys(MOVEMENT_KEYS)

    was, now = coordinators(before, keys), coordinators(after, keys)
    moved_to = [b for a, b in zip(was, now, strict=True) if a != b]

    k = len(new)
    assert len(moved_to) / len(keys) <= MOVE_SLACK * k / (n + k)
    assert set() == set(moved_to) - set(new)


@settings(derandomize=True, max_examples=12, deadline=None)
@given(names=distinct_node_ids(2, 7), data=st.data())
def test_removing_a_server_moves_only_its_keys_each_to_its_next_server(
    names: list[str], data: st.DataObject
) -> None:
    gone = data.draw(st.sampled_from(names), label="removed")
    before = HashRing(names)
    after = HashRing(names)
    after.remove_node(gone)
    keys = uuid4_keys(MOVEMENT_KEYS)

    was, now = coordinators(before, keys), coordinators(after, keys)
    for key, old_owner, new_owner in zip(keys, was, now, strict=True):
        if old_owner == gone:
            # Its arcs fall to the next virtual node clockwise: the old second replica.
            assert before.get_replicas(key, 2)[1] == new_owner
        else:
            assert old_owner == new_owner


@settings(derandomize=True, max_examples=10, deadline=None)
@given(names=distinct_node_ids(1, 6), data=st.data())
def test_the_ring_depends_only_on_membership_not_on_its_history(
    names: list[str], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(names), label="order")
    extra = data.draw(distinct_node_ids(1, 3).filter(lambda ids: not set(ids) & set(names)))
    direct = HashRing(names, vnodes=32)
    built = HashRing(vnodes=32)
    for node in order:
        built.add_node(node)
    built.add_nodes(extra)
    for node in extra:
        built.remove_node(node)

    assert direct.nodes == built.nodes
    assert direct.get_responsible_nodes() == built.get_responsible_nodes()
    keys = uuid4_keys(500)
    assert coordinators(direct, keys) == coordinators(built, keys)
