"""Join-semilattice laws of the shopping list, on reachable states and deltas."""

from __future__ import annotations

from hypothesis import given, settings

from crdt import ShoppingList
from tests.crdt.strategies import three_states

PROPERTY = settings(max_examples=1000, deadline=None)


def joined(*states: ShoppingList) -> ShoppingList:
    out = states[0].copy()
    for s in states[1:]:
        out.merge(s)
    return out


@PROPERTY
@given(three_states())
def test_merge_is_commutative(states: tuple[ShoppingList, ShoppingList, ShoppingList]) -> None:
    a, b, _ = states
    assert joined(a, b) == joined(b, a)
    assert joined(a, b).to_json() == joined(b, a).to_json()


@PROPERTY
@given(three_states())
def test_merge_is_associative(states: tuple[ShoppingList, ShoppingList, ShoppingList]) -> None:
    a, b, c = states
    assert joined(joined(a, b), c) == joined(a, joined(b, c))


@PROPERTY
@given(three_states())
def test_merge_is_idempotent(states: tuple[ShoppingList, ShoppingList, ShoppingList]) -> None:
    a, b, _ = states
    assert a == joined(a, a)
    ab = joined(a, b)
    assert ab == joined(ab, b)
    assert ab == joined(ab, a)


@PROPERTY
@given(three_states())
def test_compare_agrees_with_merge(states: tuple[ShoppingList, ShoppingList, ShoppingList]) -> None:
    a, b, _ = states
    assert (joined(b, a) == b) == a.compare(b)
    assert (joined(a, b) == a) == b.compare(a)
    # the join is an upper bound of both sides
    ab = joined(a, b)
    assert a.compare(ab)
    assert b.compare(ab)


@PROPERTY
@given(three_states())
def test_version_is_monotonic_under_merge(
    states: tuple[ShoppingList, ShoppingList, ShoppingList],
) -> None:
    a, b, _ = states
    ab = joined(a, b)
    assert ab.version >= max(a.version, b.version)
    assert (ab.version == a.version) == (ab == a or b.compare(a))
