"""An update in words: what ``watch`` and the menu print for each kind of change."""

from __future__ import annotations

import uuid

from actors.client import ListChange
from crdt import ShoppingList
from ui.changes import describe


def change(before: ShoppingList, after: ShoppingList) -> list[str]:
    return describe(ListChange(before, after, "bob"))


def test_each_kind_of_change_has_its_words() -> None:
    before = ShoppingList(str(uuid.uuid4()), "r1", "groceries")
    before.add("eggs", 6)
    before.add("milk", 1)
    after = before.copy(replica_id="r2")
    after.add("milk", 2)
    after.add("tea", 1)
    after.acquire("eggs", 6)
    assert [
        "groceries: eggs bought by bob",
        "groceries: bob added 2 milk",
        "groceries: bob added 1 tea",
    ] == change(before, after)

    later = after.copy(replica_id="r2")
    later.remove("milk")
    later.acquire("tea", 1)
    later.rename("party")
    assert [
        "party: renamed to 'party' by bob",
        "party: milk removed by bob",
        "party: tea bought by bob",
    ] == change(after, later)


def test_a_partial_purchase_says_what_is_left() -> None:
    before = ShoppingList(str(uuid.uuid4()), "r1", "groceries")
    before.add("eggs", 6)
    after = before.copy(replica_id="r2")
    after.acquire("eggs", 2)
    assert ["groceries: bob bought 2 eggs, 4 to go"] == change(before, after)


def test_an_update_that_changed_nothing_shown_is_an_update() -> None:
    state = ShoppingList(str(uuid.uuid4()), "r1", "groceries")
    assert ["groceries: updated"] == change(state, state.copy())
