"""Replicas that exchange deltas and states in any order end equal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import ShoppingList
from tests.crdt.strategies import Replicas, step


@st.composite
def run_with_network(draw: st.DrawFn) -> tuple[Replicas, list[list[ShoppingList]]]:
    """Run random operations on 3 to 5 replicas while a lossy-looking network
    delivers deltas and full states duplicated and out of order.

    Returns the replicas and, per replica, the messages still undelivered.
    """
    count = draw(st.integers(3, 5))
    reps = Replicas.new(count)
    inbox: list[list[ShoppingList]] = [[] for _ in range(count)]
    for _ in range(draw(st.integers(0, 30))):
        action = draw(st.sampled_from(["op", "op", "deliver", "send_state", "dup"]))
        if action == "op":
            before = [len(ds) for ds in reps.deltas]
            reps.apply(draw(step))
            for i, ds in enumerate(reps.deltas):
                for delta in ds[before[i] :]:
                    for j in range(count):
                        if j != i:
                            inbox[j].append(delta)
        elif action == "deliver":
            j = draw(st.integers(0, count - 1))
            if inbox[j]:
                k = draw(st.integers(0, len(inbox[j]) - 1))
                reps.lists[j].merge(inbox[j].pop(k))
        elif action == "send_state":
            i, j = draw(st.integers(0, count - 1)), draw(st.integers(0, count - 1))
            inbox[j].append(reps.lists[i].copy())
        elif action == "dup":
            j = draw(st.integers(0, count - 1))
            if inbox[j]:
                inbox[j].append(draw(st.sampled_from(inbox[j])))
    # whatever is still in flight arrives, in an order hypothesis picks
    for j in range(count):
        reps_order = draw(st.permutations(range(len(inbox[j]))))
        inbox[j] = [inbox[j][k] for k in reps_order]
    return reps, inbox


@settings(max_examples=1000, deadline=None)
@given(run_with_network())
def test_replicas_converge_once_all_have_seen_everything(
    run: tuple[Replicas, list[list[ShoppingList]]],
) -> None:
    reps, inbox = run
    for j, messages in enumerate(inbox):
        for message in messages:
            reps.lists[j].merge(message)
    first = reps.lists[0]
    for other in reps.lists[1:]:
        assert first.to_json() == other.to_json()
        assert first == other
        assert first.encode() == other.encode()
    assert reps.ops == first.version  # every operation is counted exactly once


@settings(max_examples=1000, deadline=None)
@given(run_with_network())
def test_deltas_alone_equal_full_state_exchange(
    run: tuple[Replicas, list[list[ShoppingList]]],
) -> None:
    reps, _ = run
    via_deltas = ShoppingList(reps.lists[0].list_id, "observer")
    for deltas in reps.deltas:
        for delta in reversed(deltas):
            via_deltas.merge(delta)
    via_states = ShoppingList(reps.lists[0].list_id, "observer")
    for replica in reps.lists:
        via_states.merge(replica)
    assert via_states == via_deltas
