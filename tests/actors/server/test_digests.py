"""Anti-entropy digests: order-free, incremental, grouped by replica set.

A real :class:`HashRing` places the lists; digests are plain md5 bytes, and
every expectation is recomputed from the definitions (group, bucket, XOR of
md5(list id + digest)) rather than read back from the index.
"""

from __future__ import annotations

import hashlib
import random
import uuid

import pytest

from actors.server import DigestIndex
from actors.server.digests import BUCKETS, bucket_of, group_of
from ring import HashRing, key_position

FIVE = [f"s{i}" for i in range(1, 6)]
N = 3
VNODES = 64
ZERO = bytes(16)


def list_id(i: int) -> str:
    """A deterministic uuid4, the only form a list id takes."""
    return str(uuid.UUID(bytes=hashlib.md5(f"list-{i}".encode()).digest(), version=4))


def state_digest(text: str) -> bytes:
    return hashlib.md5(text.encode()).digest()


def rows(count: int = 200, version: str = "v1") -> list[tuple[str, bytes]]:
    return [(list_id(i), state_digest(f"{list_id(i)}/{version}")) for i in range(count)]


def ring(nodes: list[str] = FIVE) -> HashRing:
    return HashRing(nodes, vnodes=VNODES)


def indexed(r: HashRing | None, items: list[tuple[str, bytes]]) -> DigestIndex:
    index = DigestIndex(r, N)
    for lid, digest in items:
        index.update(lid, digest)
    return index


def snapshot(
    index: DigestIndex, groups: list[tuple[str, ...]]
) -> dict[tuple[str, ...], list[bytes]]:
    return {g: index.digests(g) for g in groups}


def expected_bucket(items: list[tuple[str, bytes]]) -> bytes:
    """The XOR of md5(list id + digest), straight from the module docstring."""
    acc = 0
    for lid, digest in items:
        acc ^= int.from_bytes(hashlib.md5(lid.encode() + digest).digest(), "big")
    return acc.to_bytes(16, "big")


# ---------------------------------------------------------------- placement


def test_bucket_of_is_the_top_six_bits_of_the_ring_position() -> None:
    for i in range(500):
        lid = list_id(i)
        assert key_position(lid) >> 122 == bucket_of(lid)
    assert set(range(BUCKETS)) == {bucket_of(list_id(i)) for i in range(2000)}


def test_group_of_is_the_sorted_preference_list() -> None:
    r = ring()
    for i in range(50):
        lid = list_id(i)
        assert tuple(sorted(r.get_replicas(lid, N))) == group_of(r, lid, N)
        assert N == len(group_of(r, lid, N))


# ------------------------------------------------------------------ digests


def test_each_bucket_is_the_xor_of_its_lists_hashes() -> None:
    r = ring()
    items = rows()
    index = indexed(r, items)
    for group in r.replica_groups(N):
        members = [(lid, d) for lid, d in items if group_of(r, lid, N) == group]
        expected = [
            expected_bucket([(lid, d) for lid, d in members if bucket_of(lid) == b])
            for b in range(BUCKETS)
        ]
        assert expected == index.digests(group)
        assert len(members) == index.count(group)
    assert len(items) == sum(index.count(g) for g in r.replica_groups(N))


def test_the_same_lists_in_another_order_give_the_same_digests() -> None:
    r = ring()
    items = rows()
    shuffled = list(items)
    random.Random(7).shuffle(shuffled)
    assert items != shuffled
    one, two = indexed(r, items), indexed(r, shuffled)
    groups = r.replica_groups(N)
    assert snapshot(one, groups) == snapshot(two, groups)
    assert any(d != ZERO for g in groups for d in one.digests(g))


def test_an_intermediate_state_that_was_overwritten_leaves_no_trace() -> None:
    r = ring()
    items = rows()
    direct = indexed(r, items)
    detour = indexed(r, rows(version="old"))
    for lid, digest in items:
        detour.update(lid, digest)
    groups = r.replica_groups(N)
    assert snapshot(direct, groups) == snapshot(detour, groups)


def test_a_group_is_found_whatever_the_order_of_its_members() -> None:
    r = ring()
    index = indexed(r, rows())
    group = group_of(r, list_id(0), N)
    assert index.digests(group) == index.digests(tuple(reversed(group)))
    assert index.count(group) == index.count(tuple(reversed(group)))


def test_a_group_holding_nothing_has_zero_digests() -> None:
    index = indexed(ring(), rows())
    assert [ZERO] * BUCKETS == index.digests(("nobody", "s1", "s2"))
    assert 0 == index.count(("nobody", "s1", "s2"))


def test_a_changed_digest_changes_exactly_one_bucket_of_one_group() -> None:
    r = ring()
    index = indexed(r, rows())
    groups = r.replica_groups(N)
    before = snapshot(index, groups)
    target = list_id(17)
    index.update(target, state_digest("a new state"))
    after = snapshot(index, groups)
    changed = [(g, b) for g in groups for b in range(BUCKETS) if before[g][b] != after[g][b]]
    assert [(group_of(r, target, N), bucket_of(target))] == changed


def test_updating_a_list_to_the_same_digest_changes_nothing() -> None:
    r = ring()
    items = rows()
    index = indexed(r, items)
    groups = r.replica_groups(N)
    before = snapshot(index, groups)
    index.update(*items[3])
    assert before == snapshot(index, groups)


def test_removing_a_list_restores_the_previous_digests() -> None:
    r = ring()
    index = indexed(r, rows())
    groups = r.replica_groups(N)
    before = snapshot(index, groups)
    counts = {g: index.count(g) for g in groups}
    extra = list_id(10_000)
    group, bucket = group_of(r, extra, N), bucket_of(extra)
    index.update(extra, state_digest("extra"))
    assert before != snapshot(index, groups)
    assert counts[group] + 1 == index.count(group)
    index.update(extra, None)
    assert before == snapshot(index, groups)
    assert counts == {g: index.count(g) for g in groups}
    assert extra not in dict(index.entries(group, [bucket]))
    assert extra not in index.not_owned("nobody")


def test_removing_every_list_leaves_zero_digests() -> None:
    r = ring()
    items = rows()
    index = indexed(r, items)
    for lid, _ in items:
        index.update(lid, None)
    for group in r.replica_groups(N):
        assert [ZERO] * BUCKETS == index.digests(group)
        assert 0 == index.count(group)
    assert [] == index.not_owned("nobody")


def test_removing_an_unknown_list_is_harmless() -> None:
    r = ring()
    index = indexed(r, rows())
    groups = r.replica_groups(N)
    before = snapshot(index, groups)
    index.update(list_id(99_999), None)
    assert before == snapshot(index, groups)


# ------------------------------------------------------------------ entries


def test_entries_are_the_groups_lists_in_the_requested_buckets_only() -> None:
    r = ring()
    items = rows(600)
    index = indexed(r, items)
    group = group_of(r, list_id(0), N)
    wanted = sorted({bucket_of(lid) for lid, _ in items if group_of(r, lid, N) == group})[:3]
    expected = sorted(
        (lid, d) for lid, d in items if group_of(r, lid, N) == group and bucket_of(lid) in wanted
    )
    assert expected
    assert expected == sorted(index.entries(group, wanted))
    assert [] == index.entries(group, [])


def test_entries_of_another_group_or_an_empty_bucket_are_empty() -> None:
    r = ring()
    items = rows(30)
    index = indexed(r, items)
    group = group_of(r, list_id(0), N)
    used = {bucket_of(lid) for lid, _ in items if group_of(r, lid, N) == group}
    empty = [b for b in range(BUCKETS) if b not in used]
    assert [] == index.entries(group, empty)
    assert [] == index.entries(("nobody", "s1", "s2"), range(BUCKETS))


def test_entries_follow_the_latest_digest() -> None:
    r = ring()
    index = indexed(r, rows())
    target = list_id(5)
    group, bucket = group_of(r, target, N), bucket_of(target)
    index.update(target, state_digest("newer"))
    assert state_digest("newer") == dict(index.entries(group, [bucket]))[target]


# ---------------------------------------------------------- ring changes


def test_rebuild_after_a_ring_change_regroups_every_list() -> None:
    old_ring, new_ring = ring(FIVE), ring(FIVE[:4])
    items = rows(300)
    index = indexed(old_ring, items)
    index.rebuild(new_ring, items)
    fresh = indexed(new_ring, items)
    assert new_ring is index.ring
    new_groups = new_ring.replica_groups(N)
    assert snapshot(fresh, new_groups) == snapshot(index, new_groups)
    for group in old_ring.replica_groups(N):
        if "s5" in group:
            assert [ZERO] * BUCKETS == index.digests(group)
            assert 0 == index.count(group)
    assert len(items) == sum(index.count(g) for g in new_groups)
    expected = sorted(lid for lid, _ in items if "s1" not in group_of(new_ring, lid, N))
    assert expected == sorted(index.not_owned("s1"))


def test_rebuild_forgets_lists_missing_from_the_rows() -> None:
    r = ring()
    items = rows(100)
    index = indexed(r, items)
    index.rebuild(r, items[:50])
    groups = r.replica_groups(N)
    assert snapshot(indexed(r, items[:50]), groups) == snapshot(index, groups)
    gone = items[60][0]
    assert gone not in dict(index.entries(group_of(r, gone, N), range(BUCKETS)))


def test_a_ring_that_grows_in_place_is_picked_up_by_rebuild() -> None:
    # The proxy's ring is mutated in place by Membership; a rebuild on it regroups.
    r = ring(FIVE[:3])
    items = rows(100)
    index = indexed(r, items)
    assert [("s1", "s2", "s3")] == r.replica_groups(N)
    r.add_nodes(["s4", "s5"])
    index.rebuild(r, items)
    groups = r.replica_groups(N)
    assert snapshot(indexed(ring(FIVE), items), groups) == snapshot(index, groups)


@pytest.mark.parametrize("me", FIVE)
def test_not_owned_lists_exactly_the_lists_whose_group_excludes_me(me: str) -> None:
    r = ring()
    items = rows()
    index = indexed(r, items)
    expected = sorted(lid for lid, _ in items if me not in group_of(r, lid, N))
    assert expected
    assert expected == sorted(index.not_owned(me))


def test_after_a_server_leaves_its_lists_are_not_owned_by_it_any_more() -> None:
    items = rows()
    index = indexed(ring(FIVE), items)
    before = set(index.not_owned("s5"))
    assert set() != before
    index.rebuild(ring(FIVE[:4]), items)
    assert sorted(lid for lid, _ in items) == sorted(index.not_owned("s5"))


# -------------------------------------------------------------- no ring yet


@pytest.mark.parametrize("r", [None, HashRing(vnodes=VNODES)], ids=["none", "empty"])
def test_an_index_without_a_ring_groups_nothing(r: HashRing | None) -> None:
    items = rows(50)
    index = indexed(r, items)
    some = group_of(ring(), items[0][0], N)
    assert [ZERO] * BUCKETS == index.digests(some)
    assert 0 == index.count(some)
    assert [] == index.entries(some, range(BUCKETS))
    assert [] == index.not_owned("s1")


def test_a_ring_announced_later_groups_everything_on_rebuild() -> None:
    items = rows(50)
    index = indexed(None, items)
    r = ring()
    index.rebuild(r, items)
    groups = r.replica_groups(N)
    assert snapshot(indexed(r, items), groups) == snapshot(index, groups)


def test_losing_the_ring_ungroups_everything() -> None:
    items = rows(50)
    index = indexed(ring(), items)
    index.rebuild(None, items)
    for group in ring().replica_groups(N):
        assert [ZERO] * BUCKETS == index.digests(group)
    assert [] == index.not_owned("s1")
