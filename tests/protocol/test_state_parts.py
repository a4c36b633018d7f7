"""encode_state_parts and encode_state_body give the bytes of encode_state, for any item count."""

from __future__ import annotations

import msgspec
import pytest

from protocol import (
    ItemState,
    ListState,
    encode_item,
    encode_state,
    encode_state_body,
    encode_state_parts,
)

LIST_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.mark.parametrize("count", [0, 15, 16, 65_535, 65_536, 70_000])
def test_parts_encode_like_the_whole_state(count: int) -> None:
    items = [ItemState(name=f"i{k}", dots=((0, k + 2, 1, 0),)) for k in range(count)]
    state = ListState(
        list_id=LIST_ID, replicas=["a"], vv=[count + 1], cloud=[], names=[(0, 1, "n")], items=items
    )
    header = {f: getattr(state, f) for f in state.__struct_fields__ if f != "items"}
    parts = encode_state_parts(header, [encode_item(i) for i in items])
    assert encode_state(state) == parts
    assert state == msgspec.msgpack.decode(parts, type=ListState)


@pytest.mark.parametrize("count", [0, 15, 16, 65_535, 65_536, 70_000])
def test_a_joined_body_encodes_like_the_whole_state(count: int) -> None:
    """The items' encodings joined into one buffer give the same bytes, whatever
    width the array's header takes."""
    items = [ItemState(name=f"i{k}", dots=((0, k + 2, 1, 0),)) for k in range(count)]
    state = ListState(
        list_id=LIST_ID, replicas=["a"], vv=[count + 1], cloud=[], names=[(0, 1, "n")], items=items
    )
    header = {f: getattr(state, f) for f in state.__struct_fields__ if f != "items"}
    body = b"".join(encode_item(i) for i in items)
    assert encode_state(state) == encode_state_body(header, count, body)
