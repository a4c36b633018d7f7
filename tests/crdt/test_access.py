"""The access list: its lattice laws, who wins races, invites, and its travel in a list's state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zmq.utils import z85

import protocol
from crdt import ShoppingList
from crdt.access import AccessList
from protocol.access import AccessState, Role
from protocol.state import ListState
from tests.crdt.strategies import LIST_ID, three_states

PROPERTY = settings(max_examples=200, deadline=None)

KEYS = tuple(z85.encode(bytes([k]) * 32).decode() for k in range(1, 6))
ALICE, BOB, CAROL = KEYS[:3]
OWNERS = KEYS[:2]  # claims come from these; others may share with them before seeing the claim
HASHES = tuple(hashlib.sha256(bytes([k]) * 16).digest() for k in range(4))
EXPIRIES = (0, 100, 200)
ROLES: tuple[Role, ...] = ("editor", "viewer")
keys = st.binary(min_size=32, max_size=32).map(lambda b: z85.encode(b).decode())


def join(*parts: AccessList) -> AccessList:
    out = AccessList()
    for part in parts:
        out.merge(part)
    return out


def merged(parts: list[AccessList], order: list[int]) -> AccessList:
    return join(*(parts[k] for k in order))


# ------------------------------------------------------------ random histories


@dataclass
class History:
    """A few replicas of one access list, and every delta their mutators returned."""

    lists: list[AccessList]
    deltas: list[AccessList] = field(default_factory=list)

    def apply(self, step: tuple[str, int, int, int, int]) -> None:
        kind, i, j, k, n = step
        me, other = self.lists[i % len(self.lists)], self.lists[j % len(self.lists)]
        key, h, role = KEYS[k % len(KEYS)], HASHES[k % 3], ROLES[n % 2]
        delta: AccessList | None = None
        if kind == "claim" and not me.owner:
            delta = me.claim(OWNERS[k % 2])
        elif kind in ("share", "revoke") and key != me.owner:
            delta = me.share(key, role) if kind == "share" else me.revoke(key)
        elif kind in ("invite", "cancel"):
            delta = me.invite(h, role, EXPIRIES[n % 3]) if kind == "invite" else me.cancel(h)
        elif kind == "archive" and n % 4 == 0:  # rare, or it would end most histories
            delta = me.archive()
        elif kind == "merge_state":
            me.merge(other)
        elif kind == "merge_delta" and self.deltas:
            me.merge(self.deltas[n % len(self.deltas)])
        if delta is not None:
            self.deltas.append(delta)

    def pool(self) -> list[AccessList]:
        return self.lists + self.deltas


kinds = [
    "claim",
    "share",
    "share",
    "revoke",
    "invite",
    "cancel",
    "archive",
    "merge_state",
    "merge_delta",
]
access_step = st.tuples(
    st.sampled_from([*kinds, "merge_delta"]),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 9),
    st.integers(0, 20),
)


@st.composite
def histories(draw: st.DrawFn) -> History:
    history = History([AccessList() for _ in range(draw(st.integers(2, 4)))])
    for s in draw(st.lists(access_step, max_size=40)):
        history.apply(s)
    return history


@st.composite
def three_access_lists(draw: st.DrawFn) -> tuple[AccessList, AccessList, AccessList]:
    """Three reachable access lists (states or deltas) of one history."""
    choices = draw(histories()).pool()
    a, b, c = (draw(st.sampled_from(choices)).copy() for _ in range(3))
    return a, b, c


# ------------------------------------------------------------------ lattice laws


@PROPERTY
@given(three_access_lists())
def test_join_is_a_semilattice_join_and_leq_agrees_with_it(
    lists: tuple[AccessList, AccessList, AccessList],
) -> None:
    a, b, c = lists
    assert join(a, b) == join(b, a)
    assert join(join(a, b), c) == join(a, join(b, c))
    again = a.copy()
    again.merge(a)
    assert a == again
    again.merge(b)  # in place, onto a non-empty state
    assert join(a, b) == again
    # a.leq(b) exactly when merging a into b leaves b unchanged; a join bounds both sides
    assert (join(b, a) == b) == a.leq(b)
    assert (join(a, b) == a) == b.leq(a)
    assert a.leq(a)
    assert a.leq(join(a, b))
    assert b.leq(join(a, b))


@PROPERTY
@given(histories(), st.data())
def test_replicas_converge_whatever_the_order(history: History, data: st.DataObject) -> None:
    """Every replica that merges every delta and state, in any order, ends at their join."""
    everything = join(*history.pool())
    for replica in history.lists:
        parts = history.pool()
        for k in data.draw(st.permutations(range(len(parts)))):
            replica.merge(parts[k])
        assert everything == replica
    assert everything == join(*history.deltas)


# ------------------------------------------------------------- racing changes


def base_with_bob(prior: str | None) -> AccessList:
    base = AccessList()
    base.claim(ALICE)
    if prior == "revoked":
        base.revoke(BOB)
    elif prior is not None:
        base.share(BOB, "editor" if prior == "editor" else "viewer")
    return base


priors = st.sampled_from([None, "editor", "viewer", "revoked"])


@PROPERTY
@given(priors, st.sampled_from(ROLES), st.permutations(range(5)))
def test_a_revoke_beats_a_concurrent_share_in_every_order(
    prior: str | None, role: Role, order: list[int]
) -> None:
    """A share and a revoke made from the same observed state: the revoke wins."""
    base = base_with_bob(prior)
    a, b = base.copy(), base.copy()
    out = merged([base, a.share(BOB, role), b.revoke(BOB), a, b], order)
    assert out.grant_of(BOB) is None
    assert not out.may_read(BOB)
    assert [] == out.roles()
    a.merge(b)
    b.merge(a)
    assert a == b == out


@PROPERTY
@given(priors, st.sampled_from(ROLES), st.permutations(range(5)))
def test_a_share_made_after_seeing_a_revoke_restores_access(
    prior: str | None, role: Role, order: list[int]
) -> None:
    base = base_with_bob(prior)
    a, b = base.copy(), base.copy()
    revoked = a.revoke(BOB)
    b.merge(revoked)
    out = merged([base, revoked, a, b.share(BOB, role), b], order)
    assert role == out.grant_of(BOB)
    assert [(BOB, role)] == out.roles()


@PROPERTY
@given(priors, st.permutations(range(4)))
def test_viewer_beats_a_concurrent_editor_grant(prior: str | None, order: list[int]) -> None:
    base = base_with_bob(prior)
    a, b = base.copy(), base.copy()
    out = merged([a.share(BOB, "editor"), b.share(BOB, "viewer"), a, b], order)
    assert "viewer" == out.grant_of(BOB)
    assert out.may_read(BOB)
    assert not out.may_write(BOB)


# ---------------------------------------------------------------------- owner


@PROPERTY
@given(st.permutations(range(3)))
def test_an_archive_stays_archived_in_every_order(order: list[int]) -> None:
    owner = AccessList(ALICE)
    before = owner.copy()
    archived = owner.archive()
    shared = before.copy().share(BOB, "editor")
    assert join(
        *(p for _, p in sorted(zip(order, [before, archived, shared], strict=True)))
    ).archived


def test_an_archive_keeps_the_owner_and_members_and_its_delta_is_just_the_flag() -> None:
    acl = AccessList(ALICE)
    acl.share(BOB, "viewer")
    delta = acl.archive()
    expected = (True, "viewer", AccessState(owner="", members=[], invites=[], archived=True))
    assert expected == (acl.archived, acl.grant_of(BOB), delta.to_state())


def test_archived_orders_above_not_archived() -> None:
    plain, gone = AccessList(ALICE), AccessList(ALICE, archived=True)
    assert (True, False) == (plain.leq(gone), gone.leq(plain))


def test_an_access_state_without_the_flag_decodes_as_not_archived() -> None:
    blob = msgspec.msgpack.encode([ALICE, [], []])
    state = msgspec.msgpack.decode(blob, type=AccessState)
    assert (False, AccessList(ALICE)) == (state.archived, AccessList.from_state(state))


def test_a_list_carries_its_archive_through_encode_and_merge() -> None:
    owner = ShoppingList(LIST_ID, "a")
    owner.add("milk")
    member = owner.copy("b")
    owner.access = AccessList(ALICE)
    owner.access.archive()
    member.merge(ShoppingList.decode(owner.encode()))
    assert (True, 1) == (
        member.access is not None and member.access.archived,
        member.needed("milk"),
    )


def test_a_list_is_claimed_once() -> None:
    acl = AccessList()
    delta = acl.claim(ALICE)
    assert AccessList(ALICE) == delta
    assert "owner" == acl.grant_of(ALICE)
    assert acl.may_write(ALICE)
    for key in (ALICE, BOB):
        with pytest.raises(ValueError, match="owner"):
            acl.claim(key)
    with pytest.raises(ValueError, match="owner"):
        join(delta).claim(BOB)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_the_owners_access_cannot_change(role: Role | None) -> None:
    acl = AccessList()
    acl.claim(ALICE)
    before = acl.copy()
    change = partial(acl.revoke, ALICE) if role is None else partial(acl.share, ALICE, role)
    with pytest.raises(ValueError, match="owner"):
        change()
    assert before == acl


@PROPERTY
@given(st.lists(keys, min_size=2, max_size=4, unique=True), st.data())
def test_rival_owners_merge_to_the_smaller_key_everywhere(
    owners: list[str], data: st.DataObject
) -> None:
    replicas = [AccessList() for _ in owners]
    claims = [r.claim(o) for r, o in zip(replicas, owners, strict=True)]
    for replica in replicas:
        for k in data.draw(st.permutations(range(len(owners)))):
            replica.merge(claims[k] if data.draw(st.booleans()) else replicas[k])
    assert [min(owners)] * len(owners) == [r.owner for r in replicas]


# -------------------------------------------------------------------- invites


@PROPERTY
@given(st.sampled_from(ROLES), st.sampled_from(EXPIRIES), st.permutations(range(5)))
def test_a_cancelled_invite_stays_cancelled_in_every_order(
    role: Role, expiry: int, order: list[int]
) -> None:
    """Even against a concurrent re-invite, and a cancel that arrives before its invite."""
    base = AccessList()
    opened = base.invite(HASHES[0], role, expiry)
    a, b = base.copy(), base.copy()
    out = merged([opened, a.cancel(HASHES[0]), b.invite(HASHES[0], "editor", 0), a, b], order)
    assert out.invite_role(HASHES[0], 0) is None
    assert [] == out.open_invites(0)


def test_an_invite_grants_its_role_until_its_expiry_and_unknown_ones_nothing() -> None:
    acl = AccessList()
    acl.invite(HASHES[0], "viewer", 100)
    acl.invite(HASHES[1], "editor", 0)  # never expires
    assert "viewer" == acl.invite_role(HASHES[0], 99.5)
    assert acl.invite_role(HASHES[0], 100) is None
    assert acl.invite_role(HASHES[0], 101) is None
    assert "editor" == acl.invite_role(HASHES[1], 2.0**40)
    assert acl.invite_role(HASHES[2], 0) is None
    assert AccessList().invite_role(HASHES[0], 0) is None


invite_entries = st.tuples(st.sampled_from(ROLES), st.integers(0, 2**40), st.booleans())


@PROPERTY
@given(invite_entries, invite_entries)
def test_the_join_of_two_invites_keeps_the_lesser_access(
    first: tuple[Role, int, bool], second: tuple[Role, int, bool]
) -> None:
    """Greater rank (viewer), earlier expiry (0 is none), cancelled if either is."""
    sides = []
    for role, expiry, cancelled in (first, second):
        side = AccessList()
        side.invite(HASHES[0], role, expiry)
        sides.append(side.copy() if not cancelled else join(side, side.cancel(HASHES[0])))
    rank = 1 if "viewer" in (first[0], second[0]) else 0
    expiry = min([x for x in (first[1], second[1]) if x], default=0)
    assert (rank, expiry, first[2] or second[2]) == join(*sides).invites[HASHES[0]]
    assert (rank, expiry, first[2] or second[2]) == join(*reversed(sides)).invites[HASHES[0]]
    sides[0].invite(HASHES[0], second[0], second[1])  # re-inviting a known hash joins too
    assert (rank, expiry, first[2]) == sides[0].invites[HASHES[0]]


def test_open_invites_lists_only_open_ones() -> None:
    never, expired, cancelled, later = HASHES
    acl = AccessList()
    acl.invite(never, "editor", 0)
    acl.invite(expired, "editor", 50)
    acl.invite(cancelled, "viewer", 0)
    acl.cancel(cancelled)
    acl.invite(later, "viewer", 500)
    assert sorted([(never, "editor", 0), (later, "viewer", 500)]) == acl.open_invites(50)
    assert [(never, "editor", 0)] == acl.open_invites(500)


def test_the_wire_refuses_an_expiry_the_join_keeps_for_never() -> None:
    """2**62 means "never" inside the join, so the wire stops below it."""
    refused = AccessState(ALICE, [], [(HASHES[0], 0, 2**62, False)])
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(refused), type=AccessState)
    kept = AccessList.from_state(AccessState(ALICE, [], [(HASHES[0], 0, 2**62 - 1, False)]))
    assert kept == join(kept, kept)


# ----------------------------------------------------------------------- wire


@PROPERTY
@given(histories(), st.data())
def test_the_wire_form_round_trips_and_is_canonical(history: History, data: st.DataObject) -> None:
    """Equal access lists (joined in other orders, so dicts differ in order) encode alike."""
    parts = history.pool()
    for acl in parts:
        assert acl == AccessList.from_state(acl.to_state())
        wire = msgspec.msgpack.encode(acl.to_state())
        assert acl == AccessList.from_state(msgspec.msgpack.decode(wire, type=AccessState))
    a = merged(parts, data.draw(st.permutations(range(len(parts)))))
    b = merged(parts, data.draw(st.permutations(range(len(parts)))))
    assert a == b
    assert msgspec.msgpack.encode(a.to_state()) == msgspec.msgpack.encode(b.to_state())


# --------------------------------------------------------- inside a shopping list


def sample_access() -> AccessList:
    acl = AccessList()
    acl.claim(ALICE)
    acl.share(BOB, "editor")
    acl.revoke(CAROL)
    acl.invite(HASHES[0], "viewer", 100)
    return acl


def sample_list(access: AccessList | None = None) -> ShoppingList:
    sl = ShoppingList(LIST_ID, "r", "groceries")
    sl.add("milk", 2)
    sl.access = access
    return sl


#: sample_list() as it was encoded before access lists existed
OLD_BLOB: Final = msgspec.msgpack.encode(
    [LIST_ID, ["r"], [2], [], [[0, 1, "groceries"]], [["milk", [[0, 2, 2, 0]]]]]
)


@PROPERTY
@given(histories())
def test_a_list_round_trips_with_its_access(history: History) -> None:
    for acl in history.pool():
        sl = sample_list(acl.copy())
        back = ShoppingList.decode(sl.encode(), "r")
        assert sl == back
        assert (acl or None) == back.access
        assert sl.encode() == back.encode()
        assert sl.digest() == back.digest()


def test_encode_with_access_equals_encode_state_on_every_write() -> None:
    sl = sample_list(sample_access())
    assert sl.access is not None
    for n in range(8):  # past RAWS_AFTER_ENCODES: the per-item cache path too
        assert protocol.encode_state(sl.to_state()) == sl.encode()
        sl.add(f"item{n}")
        sl.access.share(BOB, ROLES[n % 2])


def test_no_access_and_an_empty_one_encode_alike_and_access_adds_one_field() -> None:
    plain = msgspec.msgpack.decode(sample_list().encode())
    assert sample_list().encode() == sample_list(AccessList()).encode()
    shared = msgspec.msgpack.decode(sample_list(sample_access()).encode())
    assert 7 == len(shared)
    assert plain[:6] == shared[:6]


def test_an_old_six_field_blob_decodes_without_access() -> None:
    sl = ShoppingList.decode(OLD_BLOB)
    assert sl.access is None
    assert ("groceries", 2) == (sl.name, sl.needed("milk"))
    assert sample_list() == sl
    assert sample_list().digest() == sl.digest()


def test_merge_carries_access_both_ways() -> None:
    with_access, without = sample_list(sample_access()), sample_list()
    without.merge(with_access)
    assert sample_access() == without.access
    assert without.access is not with_access.access
    with_access.merge(sample_list())
    assert sample_access() == with_access.access
    later = sample_list(sample_access())
    assert later.access is not None
    later.access.share(CAROL, "viewer")  # after seeing the revoke
    without.merge(later)
    assert "viewer" == (without.access and without.access.grant_of(CAROL))


def test_the_digest_covers_access_and_is_unchanged_without_it() -> None:
    ctx = sample_list().context
    fields = (LIST_ID, sorted(ctx.vv.items()), sorted(ctx.cloud))
    before_access = hashlib.md5(msgspec.msgpack.encode(fields), usedforsecurity=False).digest()
    assert before_access == sample_list().digest()
    assert before_access == sample_list(AccessList()).digest()
    shared = sample_list(sample_access())
    revoked = shared.copy()
    assert revoked.access is not None
    revoked.access.revoke(BOB)  # no dot: only the access differs
    assert shared.context == revoked.context
    assert len({before_access, shared.digest(), revoked.digest()}) == 3


def test_compare_is_false_when_the_other_side_lacks_an_access_change() -> None:
    base = sample_list(sample_access())
    changed = base.copy()
    assert changed.access is not None
    changed.access.revoke(BOB)
    assert (False, True) == (changed.compare(base), base.compare(changed))
    assert (False, True) == (base.compare(sample_list()), sample_list().compare(base))
    assert changed.compare(changed)


def test_copy_copies_access_independently() -> None:
    original = sample_list(sample_access())
    copy = original.copy()
    assert original == copy
    assert copy.access is not None
    copy.access.revoke(BOB)
    copy.access.cancel(HASHES[0])
    assert sample_access() == original.access
    assert original != copy


def test_equality_treats_no_access_and_an_empty_one_alike() -> None:
    assert sample_list() == sample_list(AccessList())
    assert sample_list(AccessList()) == sample_list()
    assert sample_list() != sample_list(sample_access())
    assert sample_list(AccessList(ALICE)) != sample_list(AccessList(BOB))


def joined(*parts: ShoppingList) -> ShoppingList:
    out = parts[0].copy()
    for part in parts[1:]:
        out.merge(part)
    return out


@PROPERTY
@given(three_states(), histories(), st.data())
def test_list_lattice_laws_hold_with_access(
    states: tuple[ShoppingList, ShoppingList, ShoppingList], history: History, data: st.DataObject
) -> None:
    """Reachable lists of one history, each given a reachable access list (or none)."""
    options: list[AccessList | None] = [None, *history.pool()]
    for sl in states:
        acl = data.draw(st.sampled_from(options))
        sl.access = acl.copy() if acl is not None else None
    a, b, c = states
    assert joined(a, b) == joined(b, a)
    assert joined(a, b).encode() == joined(b, a).encode()
    assert joined(joined(a, b), c) == joined(a, joined(b, c))
    assert a == joined(a, a)
    assert (joined(b, a) == b) == a.compare(b)
    assert a.compare(joined(a, b))
    assert (a == b) == (a.digest() == b.digest())


# ------------------------------------------------------------ malformed input


def state_blob(access: AccessState) -> bytes:
    return protocol.encode_state(ListState(LIST_ID, [], [], [], [], [], access=access))


@pytest.mark.parametrize(
    "access",
    [
        AccessState(ALICE[:39], [], []),
        AccessState(ALICE + "0", [], []),
        AccessState("~" * 40, [], []),  # not in the Z85 alphabet
        AccessState("", [(BOB[:39], 1, 0)], []),
        AccessState("", [("", 1, 0)], []),
        AccessState("", [(" " * 40, 1, 0)], []),
        AccessState("", [(BOB, 1, 3)], []),  # rank 3
        AccessState("", [], [(HASHES[0][:31], 0, 0, False)]),
        AccessState("", [], [(HASHES[0] + b"!", 0, 0, False)]),
        AccessState("", [], [(HASHES[0], 2, 0, False)]),  # an invite to be revoked
    ],
    ids=lambda a: repr(a)[:50],
)
def test_malformed_access_is_refused(access: AccessState) -> None:
    blob = state_blob(access)
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.decode_state(blob)
    assert ("bad_state", "access") == (caught.value.fault, caught.value.field)
    with pytest.raises(protocol.ProtocolError):
        ShoppingList.decode(blob)
