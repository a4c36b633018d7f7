"""What the write gate knows of a list: its sources' dots, and the claims they cannot vouch for.

The helpers of :func:`crdt.validation.check_write`: :func:`knowledge` is the
union of the sources' contexts, :class:`Held` looks up what the sources hold
under a dot (rules 1 and 4), :func:`max_unseen` and :func:`frontier` compare
a claim with what was seen (rule 2), and :class:`Unseen` collects the claims
the knowledge cannot vouch for and turns them into a verdict: refused when
the knowledge is complete, else undecided.

Pure code: no I/O. Nothing passed in is changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from crdt.context import CausalContext, Counts, Dot
from crdt.shopping_list import ShoppingList
from crdt.verdicts import UNSEEN_KINDS, Refused, Undecided, UnseenKind

__all__ = [
    "Content",
    "Held",
    "Unseen",
    "by_replica",
    "describe",
    "frontier",
    "items_of",
    "knowledge",
    "max_unseen",
    "names_of",
]

#: What a dot holds: an item's (name, counts), or a list name.
Content = tuple[str, Counts] | str


class Unseen:
    """Claims the knowledge cannot vouch for, collected by rules 1 and 2."""

    __slots__ = ("first", "missing")

    def __init__(self) -> None:
        self.first: dict[UnseenKind, Dot] = {}
        self.missing: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.first)

    def add(self, kind: UnseenKind, replica: str, counter: int) -> None:
        self.first.setdefault(kind, (replica, counter))
        if counter > self.missing.get(replica, 0):
            self.missing[replica] = counter

    def verdict(self, known: CausalContext, step: int, complete: bool) -> Refused | Undecided:
        kind = next(k for k in UNSEEN_KINDS if k in self.first)
        replica, counter = self.first[kind]
        seen = known.max_counter(replica)
        here, everywhere = (
            _unseen_message(kind, replica, counter, seen, step, where)
            for where in ("this copy", "the cluster")
        )
        if complete:
            return Refused(kind, everywhere)
        return Undecided(kind, here, dict(self.missing), everywhere)


def _unseen_message(
    kind: UnseenKind, replica: str, counter: int, seen: int, step: int, where: str
) -> str:
    if kind == "forged_dot":
        return (
            f"the state holds dot {replica!r}:{counter} of a replica the sender may not "
            f"write, and {where} has seen that replica only up to {seen}: a client "
            "may add dots only under its own replica ids"
        )
    if kind == "forged_context":
        return (
            f"the causal context claims operation {counter} of replica {replica!r}, which "
            f"the sender may not write, and {where} has seen it only up to {seen}: a "
            "delta may claim only operations that exist"
        )
    return (
        f"the causal context claims operation {counter} of the sender's replica "
        f"{replica!r}, more than {step} beyond the {seen} {where} has seen of it"
    )


class Held:
    """Looks up what the sources hold under a dot; indexes them on the first miss."""

    __slots__ = ("_index", "_sources")

    def __init__(self, sources: Sequence[ShoppingList]) -> None:
        self._sources = sources
        self._index: dict[Dot, Content] | None = None

    def content(self, dot: Dot, hint: Content) -> Content | None:
        """What a source holds under ``dot`` (``None``: no source holds it);
        ``hint`` is the frame's content, tried first (a relayed dot)."""
        for source in self._sources:
            if isinstance(hint, str):
                name = names_of(source).get(dot)
                if name is not None:
                    return name
            else:
                counts = items_of(source).get(hint[0], {}).get(dot)
                if counts is not None:
                    return (hint[0], counts)
        if self._index is None:
            self._index = {}
            for source in self._sources:
                self._index.update(names_of(source))
                for item, dots in items_of(source).items():
                    self._index.update((d, (item, c)) for d, c in dots.items())
        return self._index.get(dot)


def describe(content: Content) -> str:
    if isinstance(content, str):
        return f"the list name {content!r}"
    item, (needed, acquired) = content
    return f"{item!r} needed +{needed} acquired +{acquired}"


def knowledge(sources: Sequence[ShoppingList]) -> CausalContext:
    """The union of the sources' contexts (shared, not copied, for one source)."""
    if not sources:
        return CausalContext()
    if len(sources) == 1:
        return sources[0].context
    known = sources[0].context.copy()
    for source in sources[1:]:
        known.update(source.context)
    return known


def by_replica(cloud: Iterable[Dot]) -> dict[str, set[int]]:
    grouped: dict[str, set[int]] = {}
    for replica, n in cloud:
        grouped.setdefault(replica, set()).add(n)
    return grouped


def frontier(known: CausalContext, replica: str, cloud: Mapping[str, set[int]]) -> int:
    return max(known.vv.get(replica, 0), max(cloud.get(replica, ()), default=0))


def max_unseen(vv: int, cloud: set[int], known_vv: int, known_cloud: set[int] | None) -> int:
    """The highest counter in ``1..vv`` or ``cloud`` not in ``1..known_vv`` or
    ``known_cloud``, or 0. Costs the size of the clouds, not of the counters:
    a claim of 2**61 operations is found as fast as a claim of one."""
    holes = known_cloud or set()
    top = vv
    while top > known_vv and top in holes:
        top -= 1
    best = top if top > known_vv else 0
    for n in cloud:
        if n > best and n > known_vv and n not in holes:
            best = n
    return best


# The validator reads the stores of the lists it compares. ShoppingList keeps
# them private (its mutators keep their invariants); reading them here, in
# the same package, avoids building a wire form of each list per write.
def items_of(state: ShoppingList) -> dict[str, dict[Dot, Counts]]:
    return state._items


def names_of(state: ShoppingList) -> dict[Dot, str]:
    return state._names
