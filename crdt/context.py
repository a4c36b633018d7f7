"""The causal context: which operations (dots) a state has seen.

A dot ``(replica, n)`` names the n-th operation made by ``replica``. The
context is a version vector (every dot up to ``vv[replica]`` has been seen)
plus a *dot cloud* of dots seen out of order, as in Almeida, Shoker and
Baquero's delta-state CRDTs. Deltas carry only a cloud; merging them in order
folds the cloud back into the vector, so a context stays as small as the
number of replicas once everything has been delivered.

The representation is canonical after :meth:`CausalContext.compact`: no cloud
dot is already covered by, or adjacent to, the vector. Equal sets of dots then
have equal representations, which makes ``==`` and the encoding well defined.

A causal CRDT is a context plus *dot stores* that map the dots still alive
to what they carry; the shopping list's two stores are typed here, so that
the list (``crdt.shopping_list``) and its wire form (``crdt.encoding``) share
them without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from typing_extensions import override

__all__ = ["CausalContext", "Counts", "Dot", "ItemStore", "NameStore", "join_dots"]

Dot = tuple[str, int]
#: (needed increment, acquired increment): what one dot of an item carries
Counts = tuple[int, int]
#: item name -> {dot: counts}: the store of a shopping list's items
ItemStore = dict[str, dict[Dot, Counts]]
#: {dot: list name}: the store of a list's name, a multi-value register
NameStore = dict[Dot, str]

V = TypeVar("V")


class CausalContext:
    """A set of dots stored as a version vector plus a dot cloud.

    Not thread-safe; a context belongs to one :class:`~crdt.ShoppingList`.
    """

    __slots__ = ("cloud", "vv")

    def __init__(self, vv: dict[str, int] | None = None, cloud: Iterable[Dot] = ()) -> None:
        self.vv: dict[str, int] = {r: n for r, n in vv.items() if n > 0} if vv else {}
        self.cloud: set[Dot] = set(cloud)
        self.compact()

    def copy(self) -> CausalContext:
        new = CausalContext.__new__(CausalContext)
        new.vv = dict(self.vv)
        new.cloud = set(self.cloud)
        return new

    def __contains__(self, dot: Dot) -> bool:
        return dot[1] <= self.vv.get(dot[0], 0) or dot in self.cloud

    @override
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CausalContext):
            return NotImplemented
        return self.vv == other.vv and self.cloud == other.cloud

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __len__(self) -> int:
        """Number of dots in the set: the number of operations seen."""
        return sum(self.vv.values()) + len(self.cloud)

    @override
    def __repr__(self) -> str:
        return f"CausalContext(vv={self.vv!r}, cloud={sorted(self.cloud)!r})"

    def dots(self) -> Iterator[Dot]:
        """Every dot in the set (the vector expanded); for tests and small deltas."""
        for replica, top in self.vv.items():
            for n in range(1, top + 1):
                yield (replica, n)
        yield from self.cloud

    def replicas(self) -> set[str]:
        return set(self.vv) | {r for r, _ in self.cloud}

    def max_counter(self, replica: str) -> int:
        top = self.vv.get(replica, 0)
        for r, n in self.cloud:
            if r == replica and n > top:
                top = n
        return top

    def next_dot(self, replica: str) -> Dot:
        """A dot of ``replica`` that this context has not seen yet."""
        return (replica, self.max_counter(replica) + 1)

    def add(self, dot: Dot) -> None:
        replica, n = dot
        top = self.vv.get(replica, 0)
        if n == top + 1:
            self.vv[replica] = n
            self._fold(replica)
        elif n > top:
            self.cloud.add(dot)

    def update(self, other: CausalContext) -> None:
        """Union ``other`` into this context."""
        vv = self.vv
        for replica, n in other.vv.items():
            if n > vv.get(replica, 0):
                vv[replica] = n
        if other.cloud:
            self.cloud |= other.cloud
        if self.cloud:
            self.compact()

    def issubset(self, other: CausalContext) -> bool:
        """True when every dot of this context is in ``other``."""
        ovv = other.vv
        for replica, n in self.vv.items():
            seen = ovv.get(replica, 0)
            if n > seen and any((replica, k) not in other.cloud for k in range(seen + 1, n + 1)):
                return False
        return all(dot in other for dot in self.cloud)

    def compact(self) -> None:
        """Fold cloud dots that are covered by or adjacent to the vector into it."""
        if not self.cloud:
            return
        vv = self.vv
        keep: set[Dot] = set()
        # Sorting visits each replica's dots in counter order, so a run of
        # consecutive dots folds into the vector in a single pass.
        for replica, n in sorted(self.cloud):
            top = vv.get(replica, 0)
            if n == top + 1:
                vv[replica] = n
            elif n > top:
                keep.add((replica, n))
        self.cloud = keep

    def _fold(self, replica: str) -> None:
        if not self.cloud:
            return
        top = self.vv[replica]
        while (replica, top + 1) in self.cloud:
            top += 1
            self.cloud.discard((replica, top))
        self.vv[replica] = top


def join_dots(
    mine: dict[Dot, V] | None,
    theirs: dict[Dot, V] | None,
    my_ctx: CausalContext,
    their_ctx: CausalContext,
) -> dict[Dot, V]:
    """Join two dot stores: keep what both have, and what the other side never saw."""
    if not theirs:
        if not mine:
            return {}
        return {d: v for d, v in mine.items() if d not in their_ctx}
    if not mine:
        return {d: v for d, v in theirs.items() if d not in my_ctx}
    if mine == theirs:
        return dict(mine)
    joined = {d: v for d, v in mine.items() if d in theirs or d not in their_ctx}
    for d, v in theirs.items():
        if d not in joined and d not in my_ctx:
            joined[d] = v
    return joined
