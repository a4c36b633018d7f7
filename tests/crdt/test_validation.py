"""Write admission (crdt.validation): honest histories pass, forgeries never do.

The properties run the cluster model of ``tests/crdt/strategies.py``: honest
devices edit, exchange deltas and full states with copies that lag and
receive them in any order, and each copy checks every frame. Forgeries are
then built on the wire against the state such a history reached.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crdt import (
    COUNTER_CEILING,
    DEFAULT_LIMITS,
    Accepted,
    CausalContext,
    Refused,
    ShoppingList,
    Undecided,
    Verdict,
    WriteLimits,
    check_write,
    key_tag,
    may_write_for,
    replica_id_for,
    writer_of,
)
from crdt.replica_ids import MAX_REPLICA_ID_CHARS
from crdt.write_limits import MIN_DOT_BYTES, merged_size_bound
from protocol import ProtocolError, encode_state
from protocol.limits import MAX_ID_CHARS, MAX_ITEM_NAME_CHARS, MAX_REASON_CHARS
from protocol.state import ListState
from tests.crdt.strategies import (
    DEVICE_KEYS,
    ITEMS,
    KEYS,
    LIST_ID,
    Cluster,
    build_list,
    clusters,
    joined,
    parts,
    three_states,
)

ALICE, BOB, MALLORY = KEYS
A = replica_id_for(ALICE, "phone")
B = replica_id_for(BOB, "laptop")
M = replica_id_for(MALLORY, "x")
SMALL = WriteLimits(max_new_dots=4)


def snapshot(*states: ShoppingList | None) -> list[bytes | None]:
    return [None if s is None else s.encode() for s in states]


def alice_list() -> ShoppingList:
    """Alice's list with milk and eggs, and a server's copy of it."""
    alice = ShoppingList(LIST_ID, A, "groceries")
    alice.add("milk", 2)
    alice.add("eggs")
    return alice


def server_copy(state: ShoppingList) -> ShoppingList:
    return ShoppingList.decode(state.encode())


def wire(vv: dict[str, int]) -> ShoppingList:
    """An empty state whose context is ``vv``, as an attacker puts it on the wire."""
    order = sorted(vv)
    return ShoppingList.decode(
        encode_state(ListState(LIST_ID, order, [vv[r] for r in order], [], [], []))
    )


# ------------------------------------------------------------ the wipe attacks


def test_wipe_by_a_huge_counter_is_refused_and_the_owner_keeps_writing() -> None:
    alice = alice_list()
    server = server_copy(alice)
    attack = wire({A: 10**12})
    # What happened before: the join trusts the context, and drops everything.
    poisoned = server.copy()
    poisoned.merge(attack)
    assert poisoned.items() == []
    poisoned.merge(alice.add("tea"))
    assert "tea" not in poisoned
    # Now: a copy alone cannot tell a lagging view from a forgery, and says so...
    before = snapshot(server, attack)
    alone = check_write(server, attack, may_write_for(MALLORY))
    assert isinstance(alone, Undecided)
    assert alone.kind == "forged_context"
    assert alone.missing == {A: 10**12}
    # ...and once every copy was asked, it is a refusal that names the replica.
    final = check_write(server, attack, may_write_for(MALLORY), complete=True)
    assert isinstance(final, Refused)
    assert final.kind == "forged_context"
    assert A in final.message
    assert "the cluster has seen it only up to 3" in final.message
    assert final == alone.refused()
    assert snapshot(server, attack) == before
    bread = alice.add("bread")
    assert check_write(server, bread, may_write_for(ALICE)) == Accepted()
    server.merge(bread)
    assert server.items() == ["bread", "eggs", "milk"]


def test_a_counter_at_the_ceiling_is_refused_so_the_owners_next_push_stays_well_formed() -> None:
    alice = alice_list()
    server = server_copy(alice)
    attack = wire({A: COUNTER_CEILING})
    # What happened before: the owner's next dot no longer fits the codec.
    poisoned = server.copy()
    poisoned.merge(attack)
    alice.merge(poisoned)
    with pytest.raises(ProtocolError):
        ShoppingList.decode(alice.add("tea").encode())
    # Now: refused outright, by any copy, even one that has never seen the list.
    for stored in (server, None):
        verdict = check_write(stored, attack, may_write_for(MALLORY))
        assert isinstance(verdict, Refused)
        assert verdict.kind == "counter_ceiling"
        assert not verdict.retryable
    # Near the ceiling, under the sender's own replica too.
    own = check_write(None, wire({M: DEFAULT_LIMITS.max_counter + 1}), may_write_for(MALLORY))
    assert isinstance(own, Refused)
    assert own.kind == "counter_ceiling"


def test_an_empty_state_covering_the_existing_dots_needs_the_sender_to_have_seen_them() -> None:
    alice = alice_list()
    server = server_copy(alice)
    assert server.context.vv == {A: 3}
    attack = wire({A: 3})
    # Without a record of what the sender saw, this is an honest "remove all".
    assert check_write(server, attack, may_write_for(MALLORY)) == Accepted()
    # With one: Mallory never read the list, so he cannot remove what is on it.
    verdict = check_write(server, attack, may_write_for(MALLORY), observed=CausalContext())
    assert isinstance(verdict, Refused)
    assert verdict.kind == "unobserved"
    assert server.items() == ["eggs", "milk"]
    # Bob read it, and may.
    seen = server.context.copy()
    assert check_write(server, attack, may_write_for(BOB), observed=seen) == Accepted()


# ------------------------------------------------------- the lagging copies


def test_a_lagging_copy_defers_an_honest_remove_until_it_has_caught_up() -> None:
    alice = alice_list()
    c0, c1, c2 = server_copy(alice), server_copy(alice), ShoppingList(LIST_ID, "")
    tea = alice.add("tea")  # saved on c0 and c1 (W=2); c2 was down
    c0.merge(tea)
    c1.merge(tea)
    bob = ShoppingList(LIST_ID, B)
    bob.merge(c0)
    remove = bob.remove("tea")
    verdict = check_write(c2, remove, may_write_for(BOB), observed=c0.context)
    assert isinstance(verdict, Undecided)
    assert verdict.missing == {A: 4}
    # The coordinator asks the other copies: their knowledge decides.
    asked = check_write(
        c2, remove, may_write_for(BOB), observed=c0.context, witnesses=[c0, c1], complete=True
    )
    assert asked == Accepted()
    # Any one copy that saw the dots is enough.
    assert check_write(c2, remove, may_write_for(BOB), witnesses=[c1]) == Accepted()
    # The repair: c2 takes c0's copy, and then decides alone.
    c2.merge(c0)
    assert check_write(c2, remove, may_write_for(BOB)) == Accepted()


def test_a_lagging_copy_never_lets_a_forgery_through() -> None:
    alice = alice_list()
    c0, c1, c2 = server_copy(alice), server_copy(alice), ShoppingList(LIST_ID, "")
    attack = wire({A: 9})
    for stored, others in ((c2, []), (c2, [c1]), (c0, [c1, c2])):
        verdict = check_write(stored, attack, may_write_for(MALLORY), witnesses=others)
        assert isinstance(verdict, Undecided)
    final = check_write(c2, attack, may_write_for(MALLORY), witnesses=[c0, c1], complete=True)
    assert isinstance(final, Refused)
    assert final.retryable


def test_a_server_counts_its_unjoined_deltas_as_knowledge() -> None:
    alice = alice_list()
    cached = server_copy(alice)
    unjoined = alice.add("tea")  # committed, not yet joined into the cached list
    bob = ShoppingList(LIST_ID, B)
    bob.merge(alice)
    remove = bob.remove("tea")
    assert isinstance(check_write(cached, remove, may_write_for(BOB)), Undecided)
    assert check_write(cached, remove, may_write_for(BOB), witnesses=[unjoined]) == Accepted()


def test_full_states_are_checked_like_deltas() -> None:
    alice = alice_list()
    assert check_write(None, alice.copy(), may_write_for(ALICE)) == Accepted()  # a creation
    server = server_copy(alice)
    bob = ShoppingList(LIST_ID, B)
    bob.merge(server)
    bob.add("tea")
    assert check_write(server, bob.copy(), may_write_for(BOB)) == Accepted()
    # A copy that has not seen Alice's dots cannot vouch for them.
    verdict = check_write(None, bob.copy(), may_write_for(BOB))
    assert isinstance(verdict, Undecided)
    assert verdict.kind == "forged_dot"


# --------------------------------------------------------- honest histories


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_honest_frames_are_never_refused(cluster: Cluster) -> None:
    for delivery in cluster.deliveries:
        assert not isinstance(delivery.verdict, Refused), delivery.verdict
        if isinstance(delivery.verdict, Undecided):
            # accepted once the copy knows what the sender had observed
            assert delivery.resolved == Accepted()
            assert len(delivery.verdict.message) <= MAX_REASON_CHARS


@settings(max_examples=200, deadline=None)
@given(clusters())
def test_every_honest_frame_is_accepted_by_a_cluster_that_caught_up(cluster: Cluster) -> None:
    knowledge = cluster.knowledge()
    devices = [d.state for d in cluster.devices]
    for frame in cluster.sent:
        sender = cluster.devices[frame.sender]
        verdict = check_write(
            knowledge,
            frame.state,
            sender.may_write,
            observed=frame.observed,
            witnesses=devices if frame.peered else [],
            complete=True,
        )
        assert verdict == Accepted()


# ------------------------------------------------------------------ forgeries


@dataclass
class Attack:
    cluster: Cluster
    attacker: int  # the device whose key sends it
    victim: str  # a replica id of another key
    frame: ShoppingList
    expected: str  # the refusal against the whole cluster's knowledge


@st.composite
def attacks(draw: st.DrawFn) -> Attack:
    cluster = draw(clusters(max_actions=40))
    attacker = draw(st.integers(0, len(DEVICE_KEYS) - 1))
    dev = cluster.devices[attacker]
    others = [d for d in cluster.devices if d.key != dev.key]
    victim = draw(st.sampled_from(others)).state.replica_id
    known = cluster.knowledge().context
    # A device that learnt from another directly may hold dots no copy has
    # seen yet: honest, but then not a forgery of one kind only.
    bases = [ShoppingList(LIST_ID, "")]
    if not dev.peered:
        bases += [dev.state, dev.pending or dev.state]
    base = draw(st.sampled_from(bases))
    ctx, names, items = parts(base)
    kind = draw(st.sampled_from(["context", "cloud", "dot", "jump", "ceiling"]))
    k = draw(st.integers(1, 3))
    if kind in ("context", "cloud", "dot"):
        beyond = known.max_counter(victim) + k
        if kind == "context":
            ctx.update(CausalContext({victim: beyond}))
        elif kind == "cloud":
            ctx.add((victim, beyond))
        else:
            items.setdefault(draw(st.sampled_from(ITEMS)), {})[(victim, beyond)] = (1, 0)
        expected = "forged_dot" if kind == "dot" else "forged_context"
    elif kind == "jump":
        own = dev.state.replica_id
        ctx.add((own, known.max_counter(own) + SMALL.max_new_dots + k))
        expected = "counter_jump"
    else:
        ctx.add((draw(st.sampled_from([victim, dev.state.replica_id])), SMALL.max_counter + k))
        expected = "counter_ceiling"
    return Attack(cluster, attacker, victim, build_list(ctx, names, items), expected)


def verdicts_of(attack: Attack) -> list[Verdict]:
    """The attack checked by every copy alone, by the coordinator with all of
    them, and against the whole cluster's knowledge; nothing may change."""
    cluster, frame = attack.cluster, attack.frame
    may = cluster.devices[attack.attacker].may_write
    copies = [c for c in cluster.copies if c is not None]
    knowledge = cluster.knowledge()
    before = snapshot(frame, knowledge, *cluster.copies)
    verdicts = [check_write(c, frame, may, limits=SMALL) for c in cluster.copies]
    verdicts += [
        check_write(None, frame, may, witnesses=copies, complete=True, limits=SMALL),
        check_write(knowledge, frame, may, complete=True, limits=SMALL),
    ]
    assert snapshot(frame, knowledge, *cluster.copies) == before
    return verdicts


@settings(max_examples=300, deadline=None)
@given(attacks())
def test_forged_contexts_dots_and_counters_are_always_refused(attack: Attack) -> None:
    verdicts = verdicts_of(attack)
    assert not any(isinstance(v, Accepted) for v in verdicts)
    for final in verdicts[-2:]:
        assert isinstance(final, Refused)
        assert final.kind == attack.expected
        assert len(final.message) <= MAX_REASON_CHARS


@settings(max_examples=200, deadline=None)
@given(clusters(max_actions=40), st.data())
def test_altered_dots_are_refused_by_every_copy_that_holds_them(
    cluster: Cluster, data: st.DataObject
) -> None:
    knowledge = cluster.knowledge()
    _, _, items = parts(knowledge)
    live = [(item, dot) for item, dots in items.items() for dot in dots]
    assume(live)
    item, dot = data.draw(st.sampled_from(live))
    needed, acquired = items[item][dot]
    ctx, names, forged = parts(knowledge)
    forged[item][dot] = (needed + 1, acquired)
    frame = build_list(ctx, names, forged)
    for dev in cluster.devices:  # the dot's author too: its content never changes
        for stored in [knowledge, *(c for c in cluster.copies if c and item in c)]:
            if dot in parts(stored)[2].get(item, {}):
                verdict = check_write(stored, frame, dev.may_write)
                assert isinstance(verdict, Refused)
                assert verdict.kind == "altered_dot"


@settings(max_examples=200, deadline=None)
@given(clusters(max_actions=40), st.data())
def test_removing_what_the_sender_was_never_shown_is_refused(
    cluster: Cluster, data: st.DataObject
) -> None:
    knowledge = cluster.knowledge()
    attacker = data.draw(st.sampled_from(cluster.devices))
    _, _, items = parts(knowledge)
    unseen = [
        d
        for dots in items.values()
        for d in dots
        if not attacker.may_write(d[0]) and d not in attacker.observed
    ]
    assume(unseen)
    ctx, names, mine = parts(attacker.state)
    ctx.add(data.draw(st.sampled_from(unseen)))
    frame = build_list(ctx, names, mine)
    verdict = check_write(
        knowledge, frame, attacker.may_write, observed=attacker.observed, complete=True
    )
    assert isinstance(verdict, Refused)
    assert verdict.kind == "unobserved"


@st.composite
def any_frames(draw: st.DrawFn) -> ShoppingList:
    """Arbitrary small states over the model's replica ids and a stranger's."""
    rids = [replica_id_for(KEYS[k], f"dev{d}") for d, k in enumerate(DEVICE_KEYS)] + ["legacy.1"]
    counters = st.integers(1, 12)
    vv = draw(st.dictionaries(st.sampled_from(rids), counters, max_size=3))
    cloud = draw(st.lists(st.tuples(st.sampled_from(rids), counters), max_size=4))
    dots = draw(st.lists(st.tuples(st.sampled_from(rids), counters), max_size=4, unique=True))
    items: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
    for dot in dots:
        items.setdefault(draw(st.sampled_from(ITEMS)), {})[dot] = (draw(st.integers(0, 3)), 0)
    return build_list(CausalContext(vv, cloud), {}, items)


@settings(max_examples=300, deadline=None)
@given(clusters(max_actions=40), any_frames(), st.integers(0, len(DEVICE_KEYS) - 1))
def test_an_accepted_frame_only_claims_what_exists_or_its_sender_may_add(
    cluster: Cluster, frame: ShoppingList, sender: int
) -> None:
    """Soundness, whatever the frame: acceptance implies rules 1 and 2."""
    may = cluster.devices[sender].may_write
    for stored in [*cluster.copies, cluster.knowledge()]:
        verdict = check_write(stored, frame, may, limits=SMALL)
        if not isinstance(verdict, Accepted):
            continue
        known = CausalContext() if stored is None else stored.context
        for replica, n in frame.context.dots():
            if may(replica):
                assert n <= known.max_counter(replica) + SMALL.max_new_dots
            else:
                assert (replica, n) in known
        merged = frame.copy() if stored is None else stored.copy()
        merged.merge(frame)
        assert ShoppingList.decode(merged.encode()) == merged


# ------------------------------------------------------------------ limits


def test_the_counter_ceiling_is_the_codecs() -> None:
    assert COUNTER_CEILING == 2**62
    assert wire({A: COUNTER_CEILING}).context.vv == {A: COUNTER_CEILING}
    with pytest.raises(ProtocolError):
        wire({A: COUNTER_CEILING + 1})
    assert DEFAULT_LIMITS.max_counter + DEFAULT_LIMITS.max_new_dots <= COUNTER_CEILING


def test_an_owner_at_the_ceiling_is_refused_cleanly_never_malformed() -> None:
    top = DEFAULT_LIMITS.max_counter
    server = build_list(CausalContext({A: top - 1}))
    alice = server.copy(replica_id=A)
    last = alice.add("milk")
    assert check_write(server, last, may_write_for(ALICE)) == Accepted()
    server.merge(last)
    over = ShoppingList.decode(alice.add("eggs").encode())  # still a well-formed frame
    verdict = check_write(server, over, may_write_for(ALICE))
    assert isinstance(verdict, Refused)
    assert verdict.kind == "counter_ceiling"
    bob = server.copy(replica_id=B)
    assert check_write(server, bob.add("tea"), may_write_for(BOB)) == Accepted()


def test_a_write_may_not_outgrow_the_limits_but_may_always_shrink() -> None:
    limits = WriteLimits(max_items=2, max_replicas=3)
    alice = ShoppingList(LIST_ID, A)
    server = server_copy(alice)
    for item in ("milk", "eggs"):
        delta = alice.add(item)
        assert check_write(server, delta, may_write_for(ALICE), limits=limits) == Accepted()
        server.merge(delta)
    third = alice.add("tea")
    verdict = check_write(server, third, may_write_for(ALICE), limits=limits)
    assert isinstance(verdict, Refused)
    assert verdict.kind == "too_large"
    assert "items" in verdict.message
    more = alice.add("milk")  # a dot more of an item already there
    assert check_write(server, more, may_write_for(ALICE), limits=limits) == Accepted()
    # Over a limit already (say it was lowered): a remove still goes through.
    tight = WriteLimits(max_items=1)
    alice.merge(server)
    assert check_write(server, alice.remove("eggs"), may_write_for(ALICE), limits=tight) == (
        Accepted()
    )
    devices = [ShoppingList(LIST_ID, replica_id_for(MALLORY, f"d{i}")) for i in range(3)]
    many = joined([d.copy() for d in devices])
    for d in devices:
        many.merge(d.add("spam"))
    verdict = check_write(server, many, may_write_for(MALLORY), limits=limits)
    assert isinstance(verdict, Refused)
    assert "replicas" in verdict.message


def test_bytes_are_bounded_by_the_encoded_size() -> None:
    alice = alice_list()
    server = server_copy(alice)
    size = len(server.encode())
    limits = WriteLimits(max_bytes=size + 40)
    assert check_write(server, alice.add("tea"), may_write_for(ALICE), limits=limits) == (
        Accepted()
    )
    long = alice.add("x" * MAX_ITEM_NAME_CHARS)
    verdict = check_write(server, long, may_write_for(ALICE), limits=limits, stored_size=size)
    assert isinstance(verdict, Refused)
    assert verdict.kind == "too_large"


@settings(max_examples=300, deadline=None)
@given(three_states())
def test_the_size_bound_holds_for_any_join(states: tuple[ShoppingList, ...]) -> None:
    everything = joined(list(states))
    for n in (2, 3):
        sized = [(s, len(s.encode())) for s in states[:n]]
        assert len(joined(list(states[:n])).encode()) <= merged_size_bound(sized)
    assert len(everything.encode()) <= merged_size_bound([(s, len(s.encode())) for s in states])
    for state in (*states, everything):  # what lets size_excess bound dots by bytes
        assert state.dot_count() <= len(state.encode()) // MIN_DOT_BYTES


def test_limits_are_checked() -> None:
    for bad in (
        {"max_new_dots": 0},
        {"max_bytes": 10**9},
        {"max_counter": COUNTER_CEILING},
        {"max_items": -1},
    ):
        with pytest.raises(ValueError, match="max_"):
            WriteLimits(**bad)


def test_wrong_lists_are_refused_and_foreign_witnesses_are_a_bug() -> None:
    other = ShoppingList(str(uuid.UUID(int=0x5678, version=4)), A)
    mine = alice_list()
    verdict = check_write(server_copy(mine), other.add("x"), may_write_for(ALICE))
    assert isinstance(verdict, Refused)
    assert verdict.kind == "wrong_list"
    with pytest.raises(ValueError, match="another list"):
        check_write(None, mine.add("x"), may_write_for(ALICE), witnesses=[other])


def test_messages_fit_an_error_reply_even_for_the_longest_names() -> None:
    rid = "r" * MAX_ID_CHARS
    item = "i" * MAX_ITEM_NAME_CHARS
    held = build_list(CausalContext(), {}, {item: {(rid, 1): (1, 0)}})
    altered = build_list(CausalContext(), {(rid, 1): "n" * 200}, {})
    forged = build_list(CausalContext({rid: 2**40}), {}, {item: {(rid, 2**40): (1, 0)}})
    verdicts = [
        check_write(held, altered, lambda _: False),
        check_write(held, forged, lambda _: False, complete=True),
        check_write(held, wire({rid: COUNTER_CEILING}), lambda _: False),
    ]
    for verdict in verdicts:
        assert isinstance(verdict, Refused)
        assert len(verdict.message) <= MAX_REASON_CHARS


# ------------------------------------------------------------- replica ids


def test_replica_ids_derive_from_keys() -> None:
    tag = key_tag(ALICE)
    assert tag == ALICE[:16].hex()
    assert A == f"{tag}.phone"
    assert writer_of(A) == tag
    assert MAX_REPLICA_ID_CHARS <= MAX_ID_CHARS
    longest = replica_id_for(ALICE, "d" * 32)
    assert len(longest) == MAX_REPLICA_ID_CHARS
    ShoppingList(LIST_ID, longest)  # a valid replica id for the CRDT
    may = may_write_for(ALICE)
    assert [may(r) for r in (A, replica_id_for(ALICE, "laptop"))] == [True, True]
    assert [may(r) for r in (B, "alice.1a2b3c4d", tag, f"{tag}.")] == [False] * 4
    assert writer_of("alice.1a2b3c4d") is None
    for device in ("", "Phone", "a.b", "d" * 33):
        with pytest.raises(ValueError, match="device"):
            replica_id_for(ALICE, device)
    with pytest.raises(ValueError, match="32 bytes"):
        key_tag(b"short")


def test_a_new_lists_own_adds_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole new list of the sender's own adds (nothing stored yet, its size
    given) is accepted by the fast path, without the per-dot rules."""

    def per_dot(*args: object) -> None:
        raise AssertionError("the per-dot rules ran")

    monkeypatch.setattr("crdt.validation._check_carried", per_dot)
    state = ShoppingList(str(uuid.uuid4()), A, "groceries")
    for i in range(30):
        state.add(f"item {i}")
    blob = state.encode()
    verdict = check_write(
        None, ShoppingList.decode(blob), may_write_for(ALICE), incoming_size=len(blob)
    )
    assert Accepted() == verdict
