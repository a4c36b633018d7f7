"""A server's write gate: a client's frame is checked against the stored copy before it is merged.

The gate runs on a real store (SQLite in a temp dir); each test admits
Stores as the server actor does for one poll, and merges what it admits.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from zmq.utils import z85

from actors.server import ListStore
from actors.server.entries import Entry, join_all
from actors.server.gate import Admission, WriteGate
from crdt import COUNTER_CEILING, ShoppingList, replica_id_for
from crdt.access import AccessList
from protocol import Store, encode_state
from protocol.state import ListState
from tests.actors.server.stores import LIST_A

_ids = itertools.count(1)


def new_key() -> str:
    """A client's public key, in Z85 (as a Store names its writer)."""
    return zmq.curve_keypair()[0].decode()


ALICE, BOB = new_key(), new_key()
A = replica_id_for(z85.decode(ALICE), "phone")
B = replica_id_for(z85.decode(BOB), "laptop")


@pytest.fixture
def store(db_path: Path) -> Iterator[ListStore]:
    s = ListStore(db_path)
    try:
        yield s
    finally:
        s.close()


def store_msg(
    state: ShoppingList, writer: str = "", hint: str = "", access: AccessList | None = None
) -> Store:
    return Store(
        msg_id=f"proxy.{next(_ids)}",
        sender="proxy",
        list_id=state.list_id,
        state=state.encode(),
        hint=hint,
        writer=writer,
        access=None if access is None else access.to_state(),
    )


def poll(store: ListStore, *msgs: Store, node_id: str = "s1") -> list[Admission]:
    """Admit one poll's Stores as the server does, and merge those admitted."""
    gate = WriteGate(store, node_id)
    gate.begin()
    answers, updates, hints = [], [], []
    for msg in msgs:
        state = ShoppingList.decode(msg.state)
        answer = gate.admit(msg, state)
        answers.append(answer)
        if answer is None:
            if msg.hint and msg.hint != node_id:
                hints.append((msg.hint, msg.list_id, state))
            else:
                updates.append((msg.list_id, state))
    store.merge_many(updates, hints)
    return answers


def wire(vv: dict[str, int]) -> ShoppingList:
    """An empty state whose context is ``vv``, as an attacker puts it on the wire."""
    order = sorted(vv)
    return ShoppingList.decode(
        encode_state(ListState(LIST_A, order, [vv[r] for r in order], [], [], []))
    )


def stored(store: ListStore) -> ShoppingList:
    state = store.get_list(LIST_A)
    assert state is not None
    return state


def kind_of(answer: Admission) -> tuple[str, str]:
    """(code, refusal kind) of a gate's answer."""
    assert answer is not None
    code, reason = answer
    return code, reason.split(":", 1)[0]


def alice_list(store: ListStore) -> ShoppingList:
    """Alice's list with milk, stored by her; her replica of it."""
    alice = ShoppingList(LIST_A, A, "groceries")
    alice.add("milk", 2)
    assert [None] == poll(store, store_msg(alice.copy(), ALICE))
    return alice


# ------------------------------------------------------------------- honest


def test_an_add_of_the_writers_own_replica_is_merged(store: ListStore) -> None:
    alice = alice_list(store)
    assert [None] == poll(store, store_msg(alice.add("eggs"), ALICE))
    assert ["eggs", "milk"] == stored(store).items()


def test_another_keys_remove_of_what_it_was_shown_is_merged(store: ListStore) -> None:
    alice_list(store)
    bob = stored(store).copy(replica_id=B)
    assert [None] == poll(store, store_msg(bob.remove("milk"), BOB))
    assert [] == stored(store).items()


def test_a_committed_delta_not_yet_joined_counts_as_knowledge(store: ListStore) -> None:
    """Bob removes the eggs he read from a copy that has them; the server
    committed their add, and has not joined it into its cached list yet."""
    alice = alice_list(store)
    add = alice.add("eggs")
    assert [None] == poll(store, store_msg(add, ALICE))
    bob = alice.copy(replica_id=B)
    assert [None] == poll(store, store_msg(bob.remove("eggs"), BOB))
    assert ["milk"] == stored(store).items()


def test_a_frame_may_rely_on_one_admitted_before_it_in_the_same_poll(store: ListStore) -> None:
    alice = alice_list(store)
    bob = alice.copy(replica_id=B)
    add = bob.add("tea")
    remove = alice.copy(replica_id=replica_id_for(z85.decode(ALICE), "tablet"))
    remove.merge(add)
    assert [None, None] == poll(store, store_msg(add, BOB), store_msg(remove.remove("tea"), ALICE))
    assert ["milk"] == stored(store).items()


# ----------------------------------------------------------------- forgeries


def test_the_wipe_by_a_huge_counter_of_anothers_replica_is_undecided_and_changes_nothing(
    store: ListStore,
) -> None:
    """One copy cannot tell a forgery from a write it has not seen: it says
    so (the coordinator asks the others), and writes nothing."""
    alice_list(store)
    before = stored(store).encode()
    [answer] = poll(store, store_msg(wire({A: 10**12}), BOB))
    assert ("undecided", "forged_context") == kind_of(answer)
    assert before == stored(store).encode()


def test_the_wipe_by_the_owners_own_huge_counter_is_undecided(store: ListStore) -> None:
    alice_list(store)
    [answer] = poll(store, store_msg(wire({A: 10**12}), ALICE))
    assert ("undecided", "counter_jump") == kind_of(answer)
    assert ["milk"] == stored(store).items()


def test_a_counter_near_the_ceiling_is_refused_and_the_owner_keeps_writing(
    store: ListStore,
) -> None:
    alice = alice_list(store)
    [answer] = poll(store, store_msg(wire({A: COUNTER_CEILING}), ALICE))
    assert ("refused", "counter_ceiling") == kind_of(answer)
    assert [None] == poll(store, store_msg(alice.add("tea"), ALICE))
    assert ["milk", "tea"] == stored(store).items()
    assert stored(store).context.max_counter(A) < 10


def test_a_dot_under_another_keys_replica_id_is_not_merged(store: ListStore) -> None:
    alice_list(store)
    mallory = ShoppingList(LIST_A, replica_id_for(z85.decode(ALICE), "forged"))
    [answer] = poll(store, store_msg(mallory.add("poison"), BOB))
    assert ("undecided", "forged_dot") == kind_of(answer)
    assert ["milk"] == stored(store).items()


def test_a_writer_that_is_not_a_key_is_a_bad_request(store: ListStore) -> None:
    alice = alice_list(store)
    [answer] = poll(store, store_msg(alice.add("eggs"), "~" * 40))
    assert answer is not None
    assert "bad_request" == answer[0]


def test_a_store_without_a_writer_is_not_checked(store: ListStore) -> None:
    """Copies the cluster moves itself (repairs, handoffs) are genuine states."""
    alice_list(store)
    relayed = ShoppingList(LIST_A, B)
    relayed.add("bread")
    assert [None] == poll(store, store_msg(relayed))
    assert ["bread", "milk"] == stored(store).items()


# -------------------------------------------------------------------- access


def test_a_clients_frame_never_changes_who_has_access(store: ListStore) -> None:
    alice = alice_list(store)
    delta = alice.add("eggs")
    delta.access = AccessList().claim(BOB)
    assert [None] == poll(store, store_msg(delta, ALICE))
    assert stored(store).access is None


def test_the_proxys_access_change_is_merged_in_the_frames_place(store: ListStore) -> None:
    alice = alice_list(store)
    delta = alice.add("eggs")
    delta.access = AccessList().claim(BOB)
    granted = AccessList().claim(ALICE)
    assert [None] == poll(store, store_msg(delta, ALICE, access=granted))
    access = stored(store).access
    assert access is not None
    assert ALICE == access.owner
    assert None is access.grant_of(BOB)


def test_a_store_without_a_writer_keeps_its_access_and_joins_the_change(
    store: ListStore,
) -> None:
    alice_list(store)
    copy = stored(store).copy()
    copy.access = AccessList().claim(ALICE)
    change = AccessList().share(BOB, "viewer")
    assert [None] == poll(store, store_msg(copy, access=change))
    access = stored(store).access
    assert access is not None
    assert ("owner", "viewer") == (access.grant_of(ALICE), access.grant_of(BOB))


# --------------------------------------------------------------------- hints


def test_a_stand_in_checks_against_the_hints_it_holds(store: ListStore) -> None:
    """A stand-in has no copy of its own: a remove of another's dots is
    undecided, unless the dots are in a hint it holds for the list."""
    alice = ShoppingList(LIST_A, A, "groceries")
    alice.add("milk")
    remove = alice.copy(replica_id=B).remove("milk")
    [answer] = poll(store, store_msg(remove, BOB, hint="s2"))
    assert ("undecided", "forged_context") == kind_of(answer)
    assert [None] == poll(store, store_msg(alice.copy(), ALICE, hint="s2"))
    assert [None] == poll(store, store_msg(remove, BOB, hint="s3"))
    assert None is store.get_list(LIST_A)  # hints only: nothing of its own


# ----------------------------------------------------------------- the size


def test_a_cached_lists_size_bound_covers_its_encoding_after_joins() -> None:
    """The gate takes the cache's bound as the stored size: it must never be below it."""
    alice = ShoppingList(LIST_A, A, "groceries")
    for k in range(40):
        alice.add(f"item {k}", k + 1)
    entry = Entry(alice.copy(), alice.encode())
    for k in range(60):
        delta = alice.add(f"new {k % 25}") if k % 3 else alice.remove(f"item {k % 40}")
        join_all([(LIST_A, entry, delta, len(delta.encode()))])
        size = entry.size()
        assert size is not None
        assert size >= len(entry.state.encode())
    assert entry.state == alice
