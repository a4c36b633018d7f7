"""What decoded lists share instead of holding each its own copy.

A server keeps thousands of lists decoded, each joined from many decoded
deltas, so ``decode_stores`` makes every decoded dot share:

* one ``str`` per replica id, whichever state or delta the dot came in
  (and so does the context's version vector);
* one ``str`` per item name, across the lists of a process;
* one counts tuple per common count (an add of up to 15).

None of this changes what a list holds or encodes to: the decoded list
equals the one encoded, and encodes to the same bytes.
"""

from __future__ import annotations

import random

from crdt import ShoppingList
from crdt.replica_ids import replica_id_for
from tests.crdt.strategies import LIST_ID


def writer_id(seed: int) -> str:
    """A replica id of a keyed client's shape (32 hex, a dot, a device)."""
    key = random.Random(seed).getrandbits(256).to_bytes(32, "big")
    return replica_id_for(key, f"d{seed}")


def joined_from_deltas(writer: str, deltas: int) -> tuple[ShoppingList, ShoppingList]:
    """(the writer's copy, a copy joined from each of its deltas decoded)."""
    mine = ShoppingList(LIST_ID, writer)
    server = ShoppingList.decode(ShoppingList(LIST_ID, "preload").encode())
    for k in range(deltas):
        delta = mine.add(f"item-{k % 3}", 1 + k % 2)
        server.merge(ShoppingList.decode(delta.encode()))
    return mine, server


def test_dots_joined_from_decoded_deltas_share_one_replica_id_string() -> None:
    """Every dot of one replica, from separately decoded deltas, refers to one
    string object, the one the context's version vector holds."""
    mine, server = joined_from_deltas(writer_id(1), 12)
    replica_strings = {id(replica) for dots in server._items.values() for replica, _ in dots} | {
        id(r) for r in server.context.vv
    }
    assert 1 == len(replica_strings)
    assert mine == server


def test_two_decoded_lists_share_item_names() -> None:
    """The same item name decoded in two lists is one string object."""
    state = ShoppingList(LIST_ID, writer_id(2))
    state.add("".join(["oat", " milk"]), 1)
    blob = state.encode()
    first, second = ShoppingList.decode(blob), ShoppingList.decode(blob)
    (name_1,), (name_2,) = first._items, second._items
    assert name_1 is name_2


def test_decoded_dots_share_their_common_counts() -> None:
    """Dots of adds of equal small quantities hold one tuple; larger ones, and
    acquires, their own; every count keeps its value."""
    state = ShoppingList(LIST_ID, writer_id(3))
    for item, quantity in [("a", 2), ("b", 2), ("c", 40), ("d", 40)]:
        state.add(item, quantity)
    state.acquire("a", 1)
    decoded = ShoppingList.decode(state.encode())
    counts = {item: list(dots.values()) for item, dots in decoded._items.items()}
    assert counts["a"][0] is counts["b"][0]
    assert counts["c"][0] is not counts["d"][0]
    assert {"a": [(2, 0), (0, 1)], "b": [(2, 0)], "c": [(40, 0)], "d": [(40, 0)]} == counts


def test_a_list_joined_from_decoded_deltas_encodes_as_the_writer_s_copy() -> None:
    """Sharing changes no byte: the joined copy encodes as the writer's own."""
    mine, server = joined_from_deltas(writer_id(4), 30)
    assert mine.encode() == server.encode()
    assert mine.digest() == server.digest()
