"""Sizes a caller gives the write check: bounds that hold, and checks that only grow stricter.

A server gives :func:`crdt.check_write` the sizes it has (the bytes a frame
came in, a bound its cache keeps on a list's size) instead of encoding the
lists on every write: :func:`crdt.write_limits.join_size_bound` summed over
the parts of any join bounds the join's encoding, and sizes passed (exact,
or upper bounds) decide as the encodings would.
"""

from __future__ import annotations

from hypothesis import given, settings

from crdt import ShoppingList, WriteLimits, check_write, may_write_for, replica_id_for
from crdt.write_limits import join_size_bound
from protocol.limits import MAX_ITEM_NAME_CHARS
from tests.crdt.strategies import KEYS, LIST_ID, joined, three_states

ALICE = KEYS[0]


@settings(max_examples=300, deadline=None)
@given(three_states())
def test_the_sum_of_the_parts_bounds_bound_any_join(states: tuple[ShoppingList, ...]) -> None:
    for n in (1, 2, 3):
        parts = list(states[:n])
        bound = sum(join_size_bound(s, len(s.encode())) for s in parts)
        assert len(joined(parts).encode()) <= bound


def test_sizes_given_decide_as_the_encodings_would() -> None:
    alice = ShoppingList(LIST_ID, replica_id_for(ALICE, "phone"), "groceries")
    alice.add("milk")
    stored = ShoppingList.decode(alice.encode())
    earlier = alice.add("eggs")
    size = len(stored.encode()) + len(earlier.encode())
    limits = WriteLimits(max_bytes=size + 40)
    small, long = alice.add("tea"), alice.add("x" * MAX_ITEM_NAME_CHARS)
    for frame, expected in ((small, "accepted"), (long, "refused")):
        for sized in (False, True):
            verdict = check_write(
                stored,
                frame,
                may_write_for(ALICE),
                witnesses=[earlier],
                limits=limits,
                stored_size=len(stored.encode()) if sized else None,
                witness_sizes=[len(earlier.encode())] if sized else (),
                incoming_size=len(frame.encode()) if sized else None,
            )
            assert expected == verdict.outcome, (frame, sized)
    # A bound far above the size decides the same: past the cheap bounds, the
    # check measures the join itself.
    for frame, expected in ((small, "accepted"), (long, "refused")):
        verdict = check_write(
            stored, frame, may_write_for(ALICE), limits=limits, stored_size=100 * size
        )
        assert expected == verdict.outcome
