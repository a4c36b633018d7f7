"""The bounds a list stays within, so that every later honest write still encodes.

The codec (``protocol.state``) refuses a counter above
:data:`COUNTER_CEILING`, and more replicas, items, dots or bytes than
``protocol.limits`` allows. A list that reached one of those limits would
turn its owners' next writes into malformed frames. :class:`WriteLimits`
keeps lists below them with headroom:

* counters: a write may claim at most :attr:`WriteLimits.max_new_dots`
  operations of a replica beyond the highest the cluster has seen of it, and
  no counter above :attr:`WriteLimits.max_counter`, which is at least
  ``max_new_dots`` below the ceiling. A state the cluster accepted, plus any
  write its owners make next, therefore stays encodable;
* sizes: a write that would make a list grow past three quarters of a codec
  limit is refused; the quarter left is room for the writes that follow
  (a rename ships the whole list).

:func:`size_excess` checks the sizes; :func:`crdt.validation.check_write`
applies both. Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, get_args

import msgspec

from crdt.shopping_list import ShoppingList
from protocol.limits import MAX_DOTS, MAX_ITEMS, MAX_REPLICAS, MAX_STATE_BYTES
from protocol.state import Counter
from protocol.types import Count

__all__ = [
    "COUNTER_CEILING",
    "DEFAULT_LIMITS",
    "MAX_NEW_DOTS",
    "MIN_DOT_BYTES",
    "WriteLimits",
    "join_size_bound",
    "merged_size_bound",
    "size_excess",
]


def _upper_bound(annotated: object) -> int:
    """The ``le`` of a msgspec-annotated int type."""
    for meta in get_args(annotated)[1:]:
        if isinstance(meta, msgspec.Meta) and meta.le is not None:
            return int(meta.le)
    raise TypeError(f"{annotated!r} has no upper bound")  # pragma: no cover - a codec change


#: The largest counter the codec accepts, in a dot (``Counter``) or a version
#: vector (``Count``): read from the codec's own types, so the two cannot drift.
COUNTER_CEILING: Final = min(_upper_bound(Counter), _upper_bound(Count))
#: Operations of one replica that one write may add beyond what the cluster
#: has seen of it: about the most dots one state can list (``MAX_DOTS``), far
#: more than a device makes between two pushes.
MAX_NEW_DOTS: Final = 2**20


def _soft(limit: int) -> int:
    return limit - limit // 4


@dataclass(frozen=True, slots=True)
class WriteLimits:
    """What a write may claim, and how big it may make a list.

    The defaults are the production limits; tests pass smaller ones.

    Raises:
        ValueError: a limit is not positive, is above the codec's, or
            ``max_counter + max_new_dots`` exceeds :data:`COUNTER_CEILING`
            (then an accepted state could make its owner's next write
            unencodable).
    """

    #: operations of one replica a write may claim beyond the cluster's frontier
    max_new_dots: int = MAX_NEW_DOTS
    #: the largest counter any accepted state may hold
    max_counter: int = COUNTER_CEILING - MAX_NEW_DOTS
    #: encoded bytes of the list
    max_bytes: int = _soft(MAX_STATE_BYTES)
    #: dots held in the stores (names and items), and dots in the cloud
    max_dots: int = _soft(MAX_DOTS)
    max_items: int = _soft(MAX_ITEMS)
    max_replicas: int = _soft(MAX_REPLICAS)

    def __post_init__(self) -> None:
        bounds = {
            "max_new_dots": COUNTER_CEILING,
            "max_counter": COUNTER_CEILING,
            "max_bytes": MAX_STATE_BYTES,
            "max_dots": MAX_DOTS,
            "max_items": MAX_ITEMS,
            "max_replicas": MAX_REPLICAS,
        }
        for name, ceiling in bounds.items():
            value = getattr(self, name)
            if not 0 < value <= ceiling:
                raise ValueError(f"{name} must be between 1 and {ceiling}, got {value}")
        if self.max_counter + self.max_new_dots > COUNTER_CEILING:
            raise ValueError("max_counter + max_new_dots must not exceed the codec's ceiling")


DEFAULT_LIMITS: Final = WriteLimits()

#: The measures size_excess compares, in the order it reports them.
_MEASURES: Final = ("replicas", "items", "dots", "cloud", "bytes")


def merged_size_bound(parts: Sequence[tuple[ShoppingList, int]]) -> int:
    """An upper bound on the encoded size of the join of ``parts``.

    ``parts`` are (state, its encoded size). The join holds a subset of the
    parts' replica ids, counters, names and dots, each encoded as before,
    except that a replica index may widen (from 1 byte to at most 3, as
    ``MAX_REPLICAS`` < 2**16) and an array header may widen (from 1 byte to
    at most 5). ``tests/crdt/test_validation.py`` checks the bound.
    """
    return sum(_bytes_bound(size, _counts(state, None)) for state, size in parts)


def join_size_bound(state: ShoppingList, size: int) -> int:
    """At most what ``state``, of encoded ``size`` bytes (or at most that), adds
    to the encoding of any join it is a part of (see :func:`merged_size_bound`).

    Read without walking the items (its dots are bounded by its bytes), so a
    caller can keep a bound on a list's size as deltas join it: the sum over
    a join's parts (not a bound of a bound) bounds the join's encoded size.
    """
    return _bytes_bound(size, _counts(state, size))


def size_excess(
    parts: Sequence[tuple[ShoppingList, int | None]],
    incoming: ShoppingList,
    limits: WriteLimits = DEFAULT_LIMITS,
    incoming_size: int | None = None,
) -> tuple[str, int, int] | None:
    """Whether joining ``incoming`` into the join of ``parts`` outgrows ``limits``.

    ``parts`` are what the copy knows of the list (its stored state, and any
    other copies), each with its encoded size when the caller has it (a
    server has the stored bytes), else ``None`` and it is encoded here; so
    is ``incoming``, unless ``incoming_size`` gives its size. Upper bounds
    of sizes will do: they decide the same, at worst by the join below. A
    write that shrinks a measure, or leaves it as it was, passes even on a
    list that is already over a limit (so a remove always goes through).

    Cheap bounds decide most writes; only a list near a limit is joined (on
    copies: nothing passed in is changed, beyond warming encoding caches).

    Returns:
        ``(measure, value, limit)`` for the first measure of
        ``replicas, items, dots, cloud, bytes`` that the join would push over
        its limit, or ``None``.
    """
    states = [state for state, _ in parts]
    sized = [
        (s, len(s.encode()) if n is None else n) for s, n in [*parts, (incoming, incoming_size)]
    ]
    caps = _caps(limits)
    # Each measure of the join is at most the sum over the parts: first with
    # the dots bounded by the bytes (no walk over the items), then counted
    # (a walk), and only then by joining.
    for counted in (False, True):
        counts = [_counts(state, None if counted else size) for state, size in sized]
        if all(sum(c[m] for c in counts) <= caps[m] for m in _COUNTED):
            total = sum(_bytes_bound(n, c) for (_, n), c in zip(sized, counts, strict=True))
            if total <= limits.max_bytes:
                return None
    before = _join(states)
    after = incoming.copy() if before is None else before.copy()
    if before is not None:
        after.merge(incoming)
    for measure in _MEASURES:
        value = _measure(after, measure)
        if value > caps[measure] and (before is None or value > _measure(before, measure)):
            return measure, value, caps[measure]
    return None


_COUNTED: Final = ("replicas", "items", "dots", "cloud")


#: Every stored dot takes at least this many bytes in a state's encoding: an
#: array header and three or four ints (or a string) of at least one byte.
MIN_DOT_BYTES: Final = 4


def _counts(state: ShoppingList, size: int | None) -> dict[str, int]:
    """Upper bounds of a state's measures, read without building anything.

    Given the encoded size, the dots are bounded by it instead of counted:
    counting walks every item, which would make each write to a long list
    pay for the whole list.
    """
    ctx = state.context
    return {
        "replicas": len(ctx.vv) + len(ctx.cloud),
        "items": state.key_count(),
        "dots": state.dot_count() if size is None else size // MIN_DOT_BYTES,
        "cloud": len(ctx.cloud),
    }


def _bytes_bound(size: int, counts: dict[str, int]) -> int:
    """What one part adds at most to the join's encoding (see merged_size_bound)."""
    indexed = counts["dots"] + counts["cloud"]
    arrays = counts["items"] + 5  # one per item, and the five tables of a ListState
    return size + 2 * indexed + 4 * arrays


def _caps(limits: WriteLimits) -> dict[str, int]:
    return {
        "replicas": limits.max_replicas,
        "items": limits.max_items,
        "dots": limits.max_dots,
        "cloud": limits.max_dots,
        "bytes": limits.max_bytes,
    }


def _join(states: Sequence[ShoppingList]) -> ShoppingList | None:
    if not states:
        return None
    joined = states[0].copy()
    for state in states[1:]:
        joined.merge(state)
    return joined


def _measure(state: ShoppingList, measure: str) -> int:
    if measure == "replicas":
        return len(state.context.replicas())
    if measure == "items":
        return state.key_count()
    if measure == "dots":
        return state.dot_count()
    if measure == "cloud":
        return len(state.context.cloud)
    return len(state.encode())
