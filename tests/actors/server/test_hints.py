"""Hinted writes: held apart from the server's own lists, merged per owner,
joined with the own copy on read, and dropped only if unchanged since handed over."""

from __future__ import annotations

from pathlib import Path

from actors.server import ListStore
from crdt import ShoppingList
from tests.actors.server.stores import LIST_A, changed


def test_a_hinted_write_is_held_apart_from_the_servers_own_lists(db_path: Path) -> None:
    delta = ShoppingList(LIST_A, "alice").add("milk")
    store = ListStore(db_path)
    try:
        assert set() == changed(store, [], hints=[("s2", LIST_A, delta)])
        assert store.get(LIST_A) is None
        assert 0 == store.count()
        assert delta.encode() == store.get_with_hints(LIST_A)
    finally:
        store.close()
    store = ListStore(db_path)
    try:
        assert 1 == store.hint_count()
        assert [("s2", LIST_A, delta.encode())] == store.hints(10)
        assert delta.encode() == store.get_with_hints(LIST_A)  # known to be hinted after a restart
    finally:
        store.close()


def test_a_read_after_the_last_hint_was_handed_over_returns_the_own_copy(
    db_path: Path,
) -> None:
    alice = ShoppingList(LIST_A, "alice")
    own, hinted = alice.add("milk"), alice.add("eggs")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, own)], hints=[("s2", LIST_A, hinted)])
        assert alice.encode() == store.get_with_hints(LIST_A)
        store.drop_hint("s2", LIST_A, hinted.encode())
        for _ in range(2):  # the first finds no hint left, the second asks no more
            assert own.encode() == store.get_with_hints(LIST_A)
        store.merge_many([], hints=[("s3", LIST_A, hinted)])  # hinted again
        assert alice.encode() == store.get_with_hints(LIST_A)
    finally:
        store.close()


def test_hinted_writes_for_one_owner_merge_and_join_the_own_copy_on_read(
    db_path: Path,
) -> None:
    alice = ShoppingList(LIST_A, "alice")
    own = alice.add("milk")
    first, second = alice.add("eggs"), alice.add("tea")
    store = ListStore(db_path)
    try:
        store.merge_many([(LIST_A, own)], hints=[("s2", LIST_A, first)])
        store.merge_many([], hints=[("s2", LIST_A, second), ("s3", LIST_A, first)])
        assert 2 == store.hint_count()
        held = {(o, i): s for o, i, s in store.hints(10)}
        assert ["eggs", "tea"] == ShoppingList.decode(held[("s2", LIST_A)]).items()
        assert own.encode() == store.get(LIST_A)
        joined = store.get_with_hints(LIST_A)
        assert joined is not None
        assert alice == ShoppingList.decode(joined)
    finally:
        store.close()


def test_a_hint_is_dropped_only_if_nothing_was_merged_into_it_since(db_path: Path) -> None:
    alice = ShoppingList(LIST_A, "alice")
    store = ListStore(db_path)
    try:
        store.merge_many([], hints=[("s2", LIST_A, alice.add("milk"))])
        [(_, _, handed_over)] = store.hints(10)
        store.merge_many([], hints=[("s2", LIST_A, alice.add("eggs"))])
        store.drop_hint("s2", LIST_A, handed_over)
        assert 1 == store.hint_count()
        [(_, _, current)] = store.hints(10)
        store.drop_hint("s2", LIST_A, current)
        assert 0 == store.hint_count()
    finally:
        store.close()
