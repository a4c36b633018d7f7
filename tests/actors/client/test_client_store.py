"""The client's local store: its replica id, edits with pending deltas, remote merges."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from zmq.utils import z85

from actors.client import ClientStore
from crdt import ShoppingList, UnknownItemError, key_tag, may_write_for, writer_of

LIST_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClientStore]:
    s = ClientStore(tmp_path / "alice", "alice")
    yield s
    s.close()


def pending_state(store: ClientStore, list_id: str) -> ShoppingList:
    deltas = dict(store.pending())
    return ShoppingList.decode(deltas[list_id])


def remote_copy(list_id: str = LIST_ID, replica: str = "bob") -> ShoppingList:
    shopping = ShoppingList(list_id, replica, "shared")
    shopping.add("bread", 2)
    return shopping


# ---------------------------------------------------------------- replica id


def test_the_replica_id_persists_across_reopening(tmp_path: Path) -> None:
    first = ClientStore(tmp_path / "c", "alice")
    replica = first.replica_id
    first.close()
    again = ClientStore(tmp_path / "c", "alice")
    try:
        assert replica == again.replica_id
    finally:
        again.close()


def test_the_replica_id_is_one_the_stores_own_key_may_write(store: ClientStore) -> None:
    public_key = z85.decode(store.curve_keys()[0])
    assert key_tag(public_key) == writer_of(store.replica_id)
    assert may_write_for(public_key)(store.replica_id)
    device = store.replica_id.split(".")[1]
    assert (8, True) == (
        len(device),
        all(c in "0123456789abcdefghijklmnopqrstuvwxyz" for c in device),
    )


def test_a_store_with_an_id_not_of_its_key_takes_a_new_one_and_keeps_the_old_dots(
    tmp_path: Path,
) -> None:
    """A store made before replica ids came from keys: its lists keep the old
    id's dots, and its next edit is made under an id of its key."""
    first = ClientStore(tmp_path / "c", "alice")
    created = first.create("groceries")
    first.close()
    with sqlite3.connect(tmp_path / "c" / "client.db") as db:
        old = ShoppingList(created.list_id, "alice.0badc0de", "groceries")
        old.add("milk")
        db.execute("UPDATE meta SET value = 'alice.0badc0de' WHERE key = 'replica_id'")
        db.execute("UPDATE lists SET state = ? WHERE list_id = ?", (old.encode(), old.list_id))
    db.close()
    again = ClientStore(tmp_path / "c", "alice")
    try:
        public_key = z85.decode(again.curve_keys()[0])
        assert may_write_for(public_key)(again.replica_id)
        edited = again.edit(created.list_id, lambda s: s.add("eggs"))
        assert edited is not None
        state, delta = edited
        assert ["eggs", "milk"] == state.items()
        assert {"alice.0badc0de", again.replica_id} == state.context.replicas()
        assert {again.replica_id} == delta.context.replicas()
    finally:
        again.close()
    reopened = ClientStore(tmp_path / "c", "alice")
    try:
        assert again.replica_id == reopened.replica_id
    finally:
        reopened.close()


def test_the_same_client_id_in_another_store_gets_another_replica_id(tmp_path: Path) -> None:
    one = ClientStore(tmp_path / "one", "alice")
    two = ClientStore(tmp_path / "two", "alice")
    try:
        assert one.replica_id != two.replica_id
    finally:
        one.close()
        two.close()


# -------------------------------------------------------------------- edits


def test_create_saves_a_named_list_and_makes_it_pending(store: ClientStore) -> None:
    created = store.create("groceries")
    assert "groceries" == created.name
    assert store.replica_id == created.replica_id
    assert created == store.load(created.list_id)
    assert [created.list_id] == store.ids()
    assert store.has_pending(created.list_id)
    assert created == pending_state(store, created.list_id)


def test_edit_saves_the_new_state_and_returns_it_with_its_delta(store: ClientStore) -> None:
    created = store.create("groceries")
    result = store.edit(created.list_id, lambda s: s.add("milk", 2))
    assert result is not None
    state, delta = result
    assert 2 == state.needed("milk")
    assert ["milk"] == delta.items()
    assert state == store.load(created.list_id)


def test_pending_accumulates_every_edit_into_one_delta(store: ClientStore) -> None:
    created = store.create("groceries")
    store.edit(created.list_id, lambda s: s.add("milk", 2))
    store.edit(created.list_id, lambda s: s.add("eggs", 6))
    store.edit(created.list_id, lambda s: s.acquire("milk"))
    assert 1 == len(store.pending())
    pending = pending_state(store, created.list_id)
    assert store.load(created.list_id) == pending
    assert (1, 6) == (pending.remaining("milk"), pending.needed("eggs"))


def test_editing_a_list_that_is_not_here_is_none(store: ClientStore) -> None:
    assert store.edit(LIST_ID, lambda s: s.add("milk")) is None
    assert [] == store.pending()


def test_an_op_that_raises_writes_nothing(store: ClientStore) -> None:
    created = store.create("groceries")
    store.edit(created.list_id, lambda s: s.add("milk"))
    before_state = store.load(created.list_id)
    before_pending = store.pending()
    with pytest.raises(UnknownItemError):
        store.edit(created.list_id, lambda s: s.remove("caviar"))

    def add_then_fail(s: ShoppingList) -> ShoppingList:
        s.add("tea")
        return s.acquire("caviar")

    with pytest.raises(UnknownItemError):
        store.edit(created.list_id, add_then_fail)
    assert before_state == store.load(created.list_id)
    assert before_pending == store.pending()


def test_clear_pending_clears_the_delta_that_was_pushed(store: ClientStore) -> None:
    created = store.create("groceries")
    [(list_id, pushed)] = store.pending()
    store.clear_pending(list_id, pushed)
    assert [] == store.pending()
    assert not store.has_pending(list_id)
    assert created == store.load(list_id)


def test_clear_pending_keeps_a_delta_that_grew_while_it_was_pushed(
    store: ClientStore,
) -> None:
    created = store.create("groceries")
    [(list_id, pushed)] = store.pending()
    store.edit(created.list_id, lambda s: s.add("milk"))
    store.clear_pending(list_id, pushed)
    assert store.has_pending(list_id)
    assert ["milk"] == pending_state(store, list_id).items()


# ------------------------------------------------------------------- remote


def test_merge_remote_of_a_new_list_stores_it_under_our_replica_id(store: ClientStore) -> None:
    remote = remote_copy()
    local, changed = store.merge_remote(remote)
    assert changed
    assert store.replica_id == local.replica_id
    assert remote == store.load(LIST_ID)
    assert [] == store.pending()
    # Ours to edit now, under our own replica id.
    result = store.edit(LIST_ID, lambda s: s.add("milk"))
    assert result is not None
    assert ["bread", "milk"] == result[0].items()


def test_merge_remote_joins_into_our_copy_and_reports_no_change_when_seen(
    store: ClientStore,
) -> None:
    store.merge_remote(remote_copy())
    store.edit(LIST_ID, lambda s: s.add("milk"))
    remote = remote_copy()
    remote.add("jam")
    local, changed = store.merge_remote(remote)
    assert changed
    assert ["bread", "jam", "milk"] == local.items()
    assert local == store.load(LIST_ID)
    assert (local, False) == store.merge_remote(remote)


# ------------------------------------------------------------ ids and delete


def test_resolve_takes_a_full_id_or_a_unique_prefix(store: ClientStore) -> None:
    for list_id in (
        "abcd1111-0000-4000-8000-000000000000",
        "abcd2222-0000-4000-8000-000000000000",
        "ef001111-0000-4000-8000-000000000000",
    ):
        store.merge_remote(remote_copy(list_id))
    assert "ef001111-0000-4000-8000-000000000000" == store.resolve("ef00")
    assert "abcd2222-0000-4000-8000-000000000000" == store.resolve(" ABCD2 ")
    assert store.resolve("abcd") is None  # ambiguous
    assert store.resolve("ef0") is None  # too short
    assert store.resolve("9999") is None  # unknown
    assert LIST_ID == store.resolve(LIST_ID.upper())


def test_delete_removes_the_list_and_its_pending_delta(store: ClientStore) -> None:
    created = store.create("groceries")
    other = store.create("hardware")
    assert store.delete(created.list_id)
    assert store.load(created.list_id) is None
    assert not store.has_pending(created.list_id)
    assert [other.list_id] == store.ids()
    assert [other] == store.all()
    assert not store.delete(created.list_id)


def test_two_stores_on_one_directory_share_lists_and_replica_id(tmp_path: Path) -> None:
    one = ClientStore(tmp_path / "c", "alice")
    two = ClientStore(tmp_path / "c", "alice")
    try:
        created = one.create("groceries")
        assert one.replica_id == two.replica_id
        assert created == two.load(created.list_id)
    finally:
        one.close()
        two.close()


# ------------------------------------------------------------ damaged file


def test_a_damaged_store_is_set_aside_as_it_was_and_a_new_one_started(tmp_path: Path) -> None:
    """A store whose file no longer reads as a database (its header zeroed)
    is moved aside byte for byte, never deleted, and the client starts
    afresh; a sound store is opened as it is."""
    first = ClientStore(tmp_path / "c", "alice")
    first.create("groceries")
    first.close()
    sound = ClientStore(tmp_path / "c", "alice")
    assert sound.quarantined is None
    assert 1 == len(sound.all())
    sound.close()
    path = tmp_path / "c" / "client.db"
    data = path.read_bytes()
    bad = b"\0" * 100 + data[100:]
    path.write_bytes(bad)
    again = ClientStore(tmp_path / "c", "alice")
    try:
        assert again.quarantined is not None
        assert again.quarantined.name.startswith("client.db.corrupt-")
        assert bad == again.quarantined.read_bytes()
        assert [] == again.all()
        again.create("new start")
        assert 1 == len(again.all())
    finally:
        again.close()
