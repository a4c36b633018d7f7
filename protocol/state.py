"""The wire form of a shopping-list CRDT state (or delta).

This is plain data: the CRDT in ``crdt/`` converts to and from it and checks
the semantic rules (indices in range, every stored dot inside the causal
context). Replica ids are interned in a sorted table and dots refer to them by
index, which keeps a state with many small dots compact.

The encoding is canonical: ``crdt`` sorts every table, so two equal states
encode to equal bytes and a digest of the bytes identifies the state.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.access import AccessState
from protocol.limits import MAX_DOTS, MAX_ITEMS, MAX_REPLICAS
from protocol.types import Count, Id, ItemName, ListId, ListName, Quantity

__all__ = ["NIL", "ItemState", "ListState", "RawListState", "StateHead"]

ReplicaIndex = Annotated[int, msgspec.Meta(ge=0, lt=MAX_REPLICAS)]
Counter = Annotated[int, msgspec.Meta(ge=1, le=2**62)]

#: (replica index, counter, needed increment, acquired increment)
ItemDot = tuple[ReplicaIndex, Counter, Quantity, Quantity]
#: (replica index, counter, name)
NameDot = tuple[ReplicaIndex, Counter, ListName]
#: (replica index, counter)
Dot = tuple[ReplicaIndex, Counter]


class ItemState(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True, gc=False):
    """One item: its name and the dots of the operations that still count.

    A server keeps one per item of every list it holds decoded, so neither
    it (``gc=False``: a name and a tuple of ints cannot form a cycle) nor its
    tuple of dots (once the collector has seen it) adds to the cyclic
    collector's work.
    """

    name: ItemName
    dots: Annotated[tuple[ItemDot, ...], msgspec.Meta(min_length=1, max_length=MAX_DOTS)]


class ListState(
    msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True, omit_defaults=True
):
    """A whole list state or a delta; both have the same shape.

    ``access`` is last, with a default: the six-field blobs stored before
    access lists existed still decode (as lists without one). msgspec writes
    a ``None`` as a trailing nil all the same (``omit_defaults`` does not
    apply to array-like structs).
    """

    list_id: ListId
    replicas: Annotated[list[Id], msgspec.Meta(max_length=MAX_REPLICAS)]
    #: version vector, aligned with ``replicas``
    vv: Annotated[list[Count], msgspec.Meta(max_length=MAX_REPLICAS)]
    #: dots seen beyond the version vector
    cloud: Annotated[list[Dot], msgspec.Meta(max_length=MAX_DOTS)]
    names: Annotated[list[NameDot], msgspec.Meta(max_length=MAX_DOTS)]
    items: Annotated[list[ItemState], msgspec.Meta(max_length=MAX_ITEMS)]
    #: who may read and change the list (:mod:`crdt.access`)
    access: AccessState | None = None


class RawListState(msgspec.Struct, frozen=True, array_like=True, omit_defaults=True):
    """A :class:`ListState` whose items are already encoded; encoding only.

    ``items`` is each item's encoding, or the encoding of the whole array.
    """

    list_id: str
    replicas: list[str]
    vv: list[int]
    cloud: list[tuple[int, int]]
    names: list[tuple[int, int, str]]
    items: list[msgspec.Raw] | msgspec.Raw
    access: AccessState | None = None


#: msgpack's nil, as a :class:`StateHead` holds a missing access list
NIL = msgspec.Raw(b"\xc0")


class StateHead(msgspec.Struct, frozen=True, array_like=True):
    """A :class:`ListState` read for its causal context only: its names, items
    and access list are left encoded (skipped over, not decoded). Nothing of
    it is checked beyond the shape; decoding only."""

    list_id: str
    replicas: list[str]
    vv: list[int]
    cloud: list[tuple[int, int]]
    names: msgspec.Raw
    items: msgspec.Raw
    #: :data:`NIL` when the state has no access list (or predates them)
    access: msgspec.Raw = NIL
