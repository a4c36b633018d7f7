"""What users see: adds sum, removes are observed-remove, acquires are checked."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import OverAcquireError, ShoppingList, ShoppingListError, UnknownItemError
from tests.crdt.strategies import LIST_ID, replicas, step

PROPERTY = settings(max_examples=1000, deadline=None)
qty = st.integers(1, 1000)


def fork(base: ShoppingList, replica_id: str) -> ShoppingList:
    return base.copy(replica_id=replica_id)


@PROPERTY
@given(qty, qty, qty)
def test_concurrent_adds_sum(base_qty: int, a_qty: int, b_qty: int) -> None:
    base = ShoppingList(LIST_ID, "base")
    base.add("milk", base_qty)
    a, b = fork(base, "a"), fork(base, "b")
    a.add("milk", a_qty)
    b.add("milk", b_qty)
    a.merge(b)
    assert base_qty + a_qty + b_qty == a.needed("milk")


def test_two_offline_shoppers_adding_two_milk_need_four() -> None:
    a = ShoppingList(LIST_ID, "a")
    b = ShoppingList(LIST_ID, "b")
    a.add("milk", 2)
    b.add("milk", 2)
    a.merge(b)
    b.merge(a)
    assert 4 == a.needed("milk") == b.needed("milk")


def test_issue_example_remove_versus_concurrent_add_keeps_only_unseen_increment() -> None:
    a = ShoppingList(LIST_ID, "a")
    b = ShoppingList(LIST_ID, "b")
    a.merge(b.add("eggs", 2))
    a.remove("eggs")
    b.add("eggs", 3)
    a.merge(b)
    assert a.lookup("eggs")
    assert 3 == a.needed("eggs")
    b.merge(a)
    assert a == b


@PROPERTY
@given(qty, qty, st.integers(0, 1000), st.booleans())
def test_remove_versus_concurrent_add_or_acquire_is_add_wins(
    seen_qty: int, unseen_qty: int, seen_bought: int, unseen_is_acquire: bool
) -> None:
    b = ShoppingList(LIST_ID, "b")
    b.add("eggs", seen_qty)
    seen_bought = min(seen_bought, seen_qty - 1)  # leave one to buy for the acquire below
    if seen_bought:
        b.acquire("eggs", seen_bought)
    a = fork(b, "a")
    a.remove("eggs")  # a has seen everything b did so far
    if unseen_is_acquire:
        b.acquire("eggs", 1)
    else:
        b.add("eggs", unseen_qty)
    a.merge(b)
    b.merge(a)
    assert a == b
    assert a.lookup("eggs")
    expected = (0, 1) if unseen_is_acquire else (unseen_qty, 0)
    assert expected == (a.needed("eggs"), a.acquired("eggs"))


@PROPERTY
@given(replicas(min_replicas=3, max_replicas=5), st.sampled_from(["milk", "eggs", "bread", "tea"]))
def test_remove_that_saw_everything_leaves_nothing(reps: object, item: str) -> None:
    lists = reps.lists  # type: ignore[attr-defined]
    for x in lists:
        for y in lists:
            x.merge(y)
    if not lists[0].lookup(item):
        lists[0].add(item, 1)
    delta = lists[0].remove(item)
    for other in lists[1:]:
        other.merge(delta)
        assert not other.lookup(item)
        assert 0 == other.needed(item)
    assert not lists[0].lookup(item)


@PROPERTY
@given(replicas(min_replicas=2, max_replicas=3), step)
def test_every_mutator_equals_merging_its_delta(
    reps: object, s: tuple[str, int, int, str, int]
) -> None:
    replica = reps.lists[0]  # type: ignore[attr-defined]
    before = replica.copy()
    kind, _, _, item, quantity = s
    if kind == "add":
        delta = replica.add(item, quantity)
    elif kind == "acquire" and replica.remaining(item):
        delta = replica.acquire(item, 1)
    elif kind == "remove" and replica.lookup(item):
        delta = replica.remove(item)
    else:
        delta = replica.rename(item)
    before.merge(delta)
    assert replica == before
    assert replica.version == before.version


def test_acquire_counts_and_remaining() -> None:
    s = ShoppingList(LIST_ID, "a")
    s.add("bread", 3)
    s.acquire("bread", 2)
    assert (3, 2, 1) == (s.needed("bread"), s.acquired("bread"), s.remaining("bread"))
    s.acquire("bread")
    assert 0 == s.remaining("bread")
    assert s.lookup("bread")


def test_acquire_of_absent_item_raises_unknown_item() -> None:
    s = ShoppingList(LIST_ID, "a")
    with pytest.raises(UnknownItemError):
        s.acquire("caviar")
    assert issubclass(UnknownItemError, ShoppingListError)


def test_acquire_more_than_remaining_raises_over_acquire() -> None:
    s = ShoppingList(LIST_ID, "a")
    s.add("tea", 2)
    s.acquire("tea", 1)
    with pytest.raises(OverAcquireError) as info:
        s.acquire("tea", 2)
    assert 1 == info.value.remaining
    assert 1 == s.acquired("tea")  # nothing changed


def test_concurrent_acquires_may_overshoot_but_remaining_never_negative() -> None:
    base = ShoppingList(LIST_ID, "base")
    base.add("tea", 1)
    a, b = fork(base, "a"), fork(base, "b")
    a.acquire("tea")
    b.acquire("tea")
    a.merge(b)
    assert (1, 2, 0) == (a.needed("tea"), a.acquired("tea"), a.remaining("tea"))
    assert a.to_json()["list"][0]["acquired"] is True


def test_remove_of_absent_item_raises_and_changes_nothing() -> None:
    s = ShoppingList(LIST_ID, "a")
    with pytest.raises(UnknownItemError):
        s.remove("ghost")
    assert 0 == s.version


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None, 10**10])
def test_bad_quantities_raise_value_error(bad: object) -> None:
    s = ShoppingList(LIST_ID, "a")
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is ValueError, message aside
        s.add("milk", bad)  # type: ignore[arg-type]
    s.add("milk", 5)
    with pytest.raises(ValueError):  # noqa: PT011
        s.acquire("milk", bad)  # type: ignore[arg-type]
    assert 1 == s.version


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201])
def test_bad_item_names_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        ShoppingList(LIST_ID, "a").add(bad)


def test_item_names_are_trimmed() -> None:
    s = ShoppingList(LIST_ID, "a")
    s.add("  milk ")
    assert ["milk"] == s.items()
    assert s.lookup("milk ")


@pytest.mark.parametrize(
    "bad", ["not-a-uuid", str(uuid.uuid1()), str(uuid.uuid4()).upper(), "", None]
)
def test_list_id_must_be_a_canonical_uuid4(bad: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        ShoppingList(bad, "a")  # type: ignore[arg-type]


def test_merging_another_list_is_refused() -> None:
    a = ShoppingList(LIST_ID, "a")
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(ShoppingList(str(uuid.uuid4()), "b"))


def test_copy_without_replica_id_cannot_edit() -> None:
    s = ShoppingList.decode(ShoppingList(LIST_ID, "a", "x").encode())
    with pytest.raises(ValueError, match="replica id"):
        s.add("milk")


def test_name_is_a_converging_register() -> None:
    base = ShoppingList(LIST_ID, "base", "groceries")
    a, b = fork(base, "a"), fork(base, "b")
    a.rename("party")
    b.rename("bbq")
    a.merge(b)
    b.merge(a)
    assert "party" == a.name == b.name  # concurrent names: the greatest is shown
    assert ["bbq", "party"] == a.names
    a.rename("dinner")
    b.merge(a)
    assert ["dinner"] == b.names


def test_to_json_schema_and_order() -> None:
    s = ShoppingList(LIST_ID, "a", "weekly")
    s.add("tea", 2)
    s.add("apples", 5)
    s.acquire("apples", 5)
    s.acquire("tea", 1)
    assert {
        "id": LIST_ID,
        "name": "weekly",
        "version": 5,
        "list": [
            {"id": "apples", "quantity": 0, "needed": 5, "bought": 5, "acquired": True},
            {"id": "tea", "quantity": 1, "needed": 2, "bought": 1, "acquired": False},
        ],
    } == s.to_json()


def test_version_grows_with_every_operation() -> None:
    s = ShoppingList(LIST_ID, "a")
    versions = [s.version]
    for op in (
        lambda: s.add("milk"),
        lambda: s.add("milk", 2),
        lambda: s.acquire("milk"),
        lambda: s.rename("x"),
        lambda: s.remove("milk"),
    ):
        op()
        versions.append(s.version)
    assert [0, 1, 2, 3, 4, 5] == versions
