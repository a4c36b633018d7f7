"""Round trips through protocol's codec, and rejection of malformed blobs."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import ShoppingList
from crdt.encoding import RAWS_AFTER_ENCODES, EncodingCache
from protocol import ListState, ProtocolError, encode_state
from protocol.state import ItemState
from tests.crdt.strategies import LIST_ID, Replicas, replicas, step


@settings(max_examples=1000, deadline=None)
@given(replicas(min_replicas=1, max_replicas=4))
def test_round_trip_gives_an_equal_state(reps: object) -> None:
    for s in reps.lists + [d for ds in reps.deltas for d in ds]:  # type: ignore[attr-defined]
        back = ShoppingList.decode(s.encode(), replica_id=s.replica_id)
        assert s == back
        assert s.to_json() == back.to_json()
        assert s.encode() == back.encode()
        assert s.digest() == back.digest()


def valid_state() -> ListState:
    s = ShoppingList(LIST_ID, "a", "n")
    s.add("milk", 2)
    return s.to_state()


def blob(state: ListState) -> bytes:
    return msgspec.msgpack.encode(state)


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (lambda s: msgspec.structs.replace(s, replicas=["a", "a"], vv=[1, 1]), "unique"),
        (lambda s: msgspec.structs.replace(s, vv=[2, 0]), "version vector"),
        (lambda s: msgspec.structs.replace(s, vv=[1]), "not in the context"),
        (lambda s: msgspec.structs.replace(s, cloud=[(5, 9)]), "out of range"),
        (
            lambda s: msgspec.structs.replace(
                s, items=[ItemState(name="milk", dots=((0, 1, 2, 0),))]
            ),
            "used twice",
        ),
        (
            lambda s: msgspec.structs.replace(
                s, items=[ItemState(name="milk", dots=((0, 2, 2, 0), (0, 2, 2, 0)))]
            ),
            r"dot \('a', 2\) is used twice",
        ),
        (
            lambda s: msgspec.structs.replace(s, items=[*s.items, *s.items]),
            "appears twice",
        ),
        (lambda s: msgspec.structs.replace(s, replicas=[""]), "non-empty"),
    ],
)
def test_semantically_invalid_states_raise_protocol_error(mutation: object, reason: str) -> None:
    bad = mutation(valid_state())  # type: ignore[operator]
    with pytest.raises(ProtocolError, match=reason):
        ShoppingList.decode(blob(bad))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",
        b"\x90",
        b"garbage that is not msgpack",
        msgspec.msgpack.encode(["not-a-uuid", [], [], [], [], []]),
        msgspec.msgpack.encode([LIST_ID, ["a"], [-1], [], [], []]),
        msgspec.msgpack.encode([LIST_ID, ["a"], [1], [], [], [["", [[0, 1, 1, 0]]]]]),
        msgspec.msgpack.encode([LIST_ID, ["a"], [1], [], [], [["milk", []]]]),
    ],
)
def test_malformed_blobs_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        ShoppingList.decode(raw)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        ShoppingList.decode(raw)


@settings(max_examples=1000, deadline=None)
@given(st.integers(2, 4), st.lists(step, max_size=40), st.lists(st.booleans(), max_size=40))
def test_incremental_encoding_equals_encoding_the_whole_state(
    count: int, history: list[tuple[str, int, int, str, int]], encode_after: list[bool]
) -> None:
    # encode() keeps each item's bytes and re-encodes only the changed ones;
    # whenever it is called, it must give the bytes of the whole state.
    reps = Replicas.new(count)
    for k, s in enumerate(history):
        reps.apply(s)
        if k < len(encode_after) and encode_after[k]:
            for replica in reps.lists:
                assert encode_state(replica.to_state()) == replica.encode()
    for replica in [*reps.lists, *(d for ds in reps.deltas for d in ds)]:
        expected = encode_state(replica.to_state())
        assert expected == replica.encode()
        assert expected == replica.copy().encode()
        assert expected == ShoppingList.decode(expected).encode()


@pytest.mark.parametrize("count", [0, 1, 15, 16, 300])
def test_incremental_encoding_of_lists_of_every_array_size(count: int) -> None:
    s = ShoppingList(LIST_ID, "a", "n")
    for k in range(count):
        s.add(f"item {k:04d}")
        if k % 7 == 0:
            s.encode()
    assert encode_state(s.to_state()) == s.encode()
    if count:
        s.remove("item 0000")
    else:
        s.rename("m")
    assert encode_state(s.to_state()) == s.encode()


def test_a_decoded_list_encodes_correctly_before_and_after_it_keeps_item_bytes() -> None:
    # The first RAWS_AFTER_ENCODES encodes take the whole-list path, the next
    # one builds the per-item bytes, and later ones re-encode changed items.
    s = ShoppingList(LIST_ID, "a", "n")
    for k in range(20):
        s.add(f"item {k:02d}")
    copy = ShoppingList.decode(s.encode(), "b")
    for k in range(RAWS_AFTER_ENCODES + 3):
        copy.add(f"item {k * 3:02d}", k + 1)
        if k == 2:
            copy.remove("item 19")
        assert encode_state(copy.to_state()) == copy.encode()


def _fresh_encoding(s: ShoppingList) -> bytes:
    """The list's bytes from a cache that has seen none of its history."""
    copy = s.copy()
    copy._cache = EncodingCache()
    return encode_state(copy.to_state())


@settings(max_examples=500, deadline=None)
@given(st.integers(2, 4), st.lists(step, max_size=40))
def test_bytes_kept_across_whole_state_merges_equal_a_fresh_encoding(
    count: int, history: list[tuple[str, int, int, str, int]]
) -> None:
    # A join that may remove (a whole state) drops the bytes of only the
    # items it changes; encoding after every step keeps the per-item bytes
    # in use, so a stale item would show against a fresh cache.
    reps = Replicas.new(count)
    for s in history:
        reps.apply(s)
        for replica in reps.lists:
            assert _fresh_encoding(replica) == replica.encode()


def test_a_whole_state_merge_into_a_long_list_re_encodes_as_a_fresh_cache_does() -> None:
    """Items changed, removed and added by the other copy all show in the bytes."""
    a = ShoppingList(LIST_ID, "a", "n")
    for k in range(300):
        a.add(f"item {k:03d}")
    b = ShoppingList.decode(a.encode(), "b")
    b.add("item 000")
    a.merge(b)  # both replicas in the table, which then stays
    for _ in range(RAWS_AFTER_ENCODES + 1):
        a.encode()  # now it keeps each item's bytes
    b.remove("item 007")
    b.add("item 100", 4)
    b.add("item 999")
    a.add("item 200")
    a.merge(b)
    assert _fresh_encoding(a) == a.encode()
    assert ("item 007" in a, a.needed("item 100"), "item 999" in a) == (False, 5, True)
