"""What the cluster showed a client: contexts peeked from states, and their wire form."""

from __future__ import annotations

from crdt import CausalContext, ShoppingList, observed_blob, observed_context, peek_context

LIST = "c0ffee00-0000-4000-8000-000000000000"


def sample() -> ShoppingList:
    state = ShoppingList(LIST, "a.1", "groceries")
    state.add("milk", 2)
    other = state.copy("b.1")
    other.add("eggs")
    state.merge(other)
    return state


def test_peek_reads_the_context_a_full_decode_reads() -> None:
    state = sample()
    assert state.context == peek_context(state.encode())


def test_the_wire_form_round_trips_and_holds_no_items() -> None:
    ctx = CausalContext({"a.1": 3}, [("b.1", 5)])
    blob = observed_blob(LIST, ctx)
    assert ctx == observed_context(blob)
    assert [] == ShoppingList.decode(blob).items()
    assert observed_context(None) is None
