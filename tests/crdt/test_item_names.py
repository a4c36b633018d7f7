"""Item names match without regard to case and spacing; a list shows them as first written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Accepted, OverAcquireError, ShoppingList, UnknownItemError, check_write
from crdt.item_names import item_key
from protocol import encode_state
from protocol.state import ItemState, ListState
from tests.crdt.strategies import LIST_ID

# ------------------------------------------------------------ the matching key


def test_key_ignores_case_surrounding_and_repeated_spaces() -> None:
    assert "skim milk" == item_key("  Skim \t MILK ")


def test_key_casefolds_beyond_lowercase() -> None:
    assert item_key("straße") == item_key("STRASSE")


def test_key_keeps_inner_words_apart() -> None:
    assert item_key("skimmilk") != item_key("skim milk")


# ------------------------------------------------------ one replica's sequence


def test_add_of_another_case_grows_the_item_written_first() -> None:
    lst = ShoppingList(LIST_ID, "a")
    lst.add("Milk", 2)
    lst.add(" milk ", 3)
    assert (["Milk"], 5, 1) == (lst.items(), lst.needed("MILK"), lst.key_count())


def test_delta_of_an_add_in_another_case_carries_the_written_name() -> None:
    lst = ShoppingList(LIST_ID, "a")
    lst.add("Milk")
    delta = lst.add("milk")
    assert ["Milk"] == [item.name for item in delta.to_state().items]


def test_acquire_and_remove_take_any_case() -> None:
    lst = ShoppingList(LIST_ID, "a")
    lst.add("Eggs", 6)
    lst.acquire("EGGS", 4)
    assert 2 == lst.remaining("eggs")
    lst.remove(" eggs")
    assert ([], 0) == (lst.items(), len(lst))


def test_lookup_contains_and_display_name_match_any_case() -> None:
    lst = ShoppingList(LIST_ID, "a")
    lst.add("Tea")
    assert (True, True, "Tea") == (lst.lookup("TEA"), "tea" in lst, lst.display_name(" tea "))


def test_unknown_item_stays_unknown_in_every_case() -> None:
    lst = ShoppingList(LIST_ID, "a")
    lst.add("Tea")
    with pytest.raises(UnknownItemError):
        lst.acquire("coffee")
    assert None is lst.display_name("coffee")


def test_items_sort_by_key_not_by_case() -> None:
    lst = ShoppingList(LIST_ID, "a")
    for name in ("banana", "Apple", "cherry"):
        lst.add(name)
    assert ["Apple", "banana", "cherry"] == lst.items()


# ------------------------------------------- concurrent written forms, merged


def concurrent_milk() -> ShoppingList:
    """Replica a adds 2 ``Milk`` and replica b 3 ``milk``, offline; a merges b."""
    a, b = ShoppingList(LIST_ID, "a"), ShoppingList(LIST_ID, "b")
    a.add("Milk", 2)
    b.add("milk", 3)
    a.merge(b)
    return a


def test_concurrent_forms_show_as_one_item_with_their_sum() -> None:
    lst = concurrent_milk()
    expected = [{"id": "Milk", "quantity": 5, "needed": 5, "bought": 0, "acquired": False}]
    assert (expected, 1, 2) == (lst.to_json()["list"], len(lst), lst.key_count())


def test_display_name_is_the_form_with_the_smallest_counter_then_replica() -> None:
    a, b = ShoppingList(LIST_ID, "a"), ShoppingList(LIST_ID, "b")
    a.add("tea")
    a.add("Milk")  # dot (a, 2)
    b.add("milk")  # dot (b, 1): the smaller counter
    a.merge(b)
    b.merge(a)
    assert ["milk", "tea"] == a.items() == b.items()


def test_acquire_counts_against_the_group_and_writes_under_the_display_name() -> None:
    lst = concurrent_milk()
    delta = lst.acquire("MILK", 4)
    assert (1, ["Milk"]) == (lst.remaining("milk"), [i.name for i in delta.to_state().items])
    with pytest.raises(OverAcquireError):
        lst.acquire("milk", 2)


def test_remove_drops_every_observed_form() -> None:
    lst = concurrent_milk()
    lst.remove("milk")
    assert ([], 0) == (lst.items(), lst.key_count())


def test_remove_keeps_a_concurrent_add_of_another_form() -> None:
    a, b = ShoppingList(LIST_ID, "a"), ShoppingList(LIST_ID, "b")
    b.merge(a.add("Milk", 2))
    a.remove("milk")
    b.add("MILK", 1)  # b writes under "Milk", its display name
    b.merge(ShoppingList(LIST_ID, "c").add("milk ", 4))
    a.merge(b)
    assert (["Milk"], 5) == (a.items(), a.needed("milk"))


# ---------------------------------------------------- stored lists and limits


def test_a_stored_list_with_two_forms_decodes_as_one_item() -> None:
    wire = ListState(
        list_id=LIST_ID,
        replicas=["a"],
        vv=[2],
        cloud=[],
        names=[],
        items=[ItemState("MILK", ((0, 2, 1, 0),)), ItemState("milk", ((0, 1, 3, 0),))],
    )
    lst = ShoppingList.decode(encode_state(wire))
    assert (["milk"], 4, encode_state(wire)) == (lst.items(), lst.needed("Milk"), lst.encode())


@pytest.mark.parametrize("edit", ["acquire", "remove"])
def test_write_gate_admits_an_edit_of_a_merged_pair_of_forms(edit: str) -> None:
    server = concurrent_milk()
    client = ShoppingList.decode(server.encode(), "c")
    delta = client.acquire("milk", 5) if edit == "acquire" else client.remove("MILK")
    verdict = check_write(server, delta, lambda r: r == "c", observed=server.context)
    assert isinstance(verdict, Accepted)


# ---------------------------------------------------------------- convergence

BASE_NAMES = ("milk", "skim milk", "eggs")


@st.composite
def variant(draw: st.DrawFn) -> str:
    """A case and spacing variant of one of :data:`BASE_NAMES`."""
    words = draw(st.sampled_from(BASE_NAMES)).split()
    cased = ["".join(c.upper() if draw(st.booleans()) else c for c in word) for word in words]
    gaps = [draw(st.sampled_from([" ", "  ", "\t"])) for _ in cased[1:]]
    pad = draw(st.sampled_from(["", " ", "  "]))
    body = cased[0] + "".join(g + w for g, w in zip(gaps, cased[1:], strict=True))
    return pad + body + draw(st.sampled_from(["", " "]))


op = st.tuples(st.sampled_from(["add", "add", "acquire", "remove"]), st.integers(0, 2), variant())


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=30), st.permutations(range(3)), st.permutations(range(3)))
def test_variants_converge_to_one_view_whose_totals_are_the_sums(
    ops: list[tuple[str, int, str]], order_x: list[int], order_y: list[int]
) -> None:
    reps = [ShoppingList(LIST_ID, f"r{i}") for i in range(3)]
    for kind, i, name in ops:
        rep = reps[i]
        if kind == "add":
            rep.add(name, 2)
        elif kind == "acquire" and rep.remaining(name):
            rep.acquire(name, 1)
        elif kind == "remove" and rep.lookup(name):
            rep.remove(name)
    x, y = ShoppingList(LIST_ID, ""), ShoppingList(LIST_ID, "")
    for k in order_x:
        x.merge(reps[k])
    for k in order_y:
        y.merge(reps[k].copy())
    assert x.to_json() == y.to_json()
    assert len({item_key(i) for i in x.items()}) == len(x.items())
    wire = x.to_state()
    for name in x.items():
        forms = [it for it in wire.items if item_key(it.name) == item_key(name)]
        assert sum(a for it in forms for *_, a, _ in it.dots) == x.needed(name)
