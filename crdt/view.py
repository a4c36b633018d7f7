"""What a shopping list shows: its name, its items by display name, their counts.

:class:`ListView` is the read-only part of :class:`~crdt.shopping_list.ShoppingList`:
every query, and the seed design's JSON view. Items are shown grouped by
matching key (see :mod:`crdt.item_names`): a group of written forms is one
item, shown under its display name, its counts summed over every form. The
grouping is cached in the view's one slot, ``_groups``, which the list sets
to ``None`` on every change.

Besides that cache it holds no state: the other attributes it declares are
the list's. Pure code: no I/O.
"""

from __future__ import annotations

from typing import Any

from crdt.context import CausalContext, Counts, ItemStore, NameStore
from crdt.encoding import json_view
from crdt.item_names import clean_item, group_items, item_key

__all__ = ["ListView"]


class ListView:
    """The queries of a :class:`~crdt.shopping_list.ShoppingList`."""

    __slots__ = ("_groups",)

    #: matching key -> written forms, display name first; ``None`` after a change
    _groups: dict[str, list[str]] | None
    # The list's attributes the view reads (set by ShoppingList).
    list_id: str
    _ctx: CausalContext
    _items: ItemStore
    _names: NameStore

    @property
    def name(self) -> str:
        """The list name; of concurrent renames, the greatest string is shown."""
        return max(self._names.values(), default="")

    @property
    def names(self) -> list[str]:
        """Every concurrently set name, sorted (one unless renames raced)."""
        return sorted(set(self._names.values()))

    @property
    def version(self) -> int:
        """Number of operations this state has seen."""
        return len(self._ctx)

    @property
    def context(self) -> CausalContext:
        """The causal context; read-only by convention."""
        return self._ctx

    def items(self) -> list[str]:
        """The items on the list by display name, sorted by their matching key."""
        return [forms[0] for _, forms in sorted(self._grouped().items())]

    def __len__(self) -> int:
        """How many items the list shows (written forms of one name count once)."""
        return len(self._grouped())

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and item_key(item) in self._grouped()

    def lookup(self, item: str) -> bool:
        """True when ``item``, in any case and spacing, is on the list."""
        return item_key(clean_item(item)) in self._grouped()

    def display_name(self, item: str) -> str | None:
        """The name ``item`` is shown under, or ``None`` when it is not on the list."""
        forms = self._grouped().get(item_key(clean_item(item)))
        return forms[0] if forms else None

    def needed(self, item: str) -> int:
        return sum(n for n, _ in self._counts(item))

    def acquired(self, item: str) -> int:
        return sum(a for _, a in self._counts(item))

    def remaining(self, item: str) -> int:
        """How many are still to buy: ``max(0, needed - acquired)`` over the item's forms."""
        return max(0, sum(n - a for n, a in self._counts(item)))

    def key_count(self) -> int:
        """Keys of the item store (written forms): what the wire form holds per item."""
        return len(self._items)

    def dot_count(self) -> int:
        """Dots held in the stores: the size the state grows with."""
        return len(self._names) + sum(len(d) for d in self._items.values())

    def to_json(self) -> dict[str, Any]:
        """The list as the seed design's JSON schema: one row per item (its
        written forms summed, under its display name), sorted by matching key."""
        rows = [
            (forms[0], [c for form in forms for c in self._items[form].values()])
            for _, forms in sorted(self._grouped().items())
        ]
        return json_view(self.list_id, self.name, self.version, rows)

    def _grouped(self) -> dict[str, list[str]]:
        """Matching key -> written forms, display name first; rebuilt after a change."""
        if self._groups is None:
            self._groups = group_items(self._items)
        return self._groups

    def _counts(self, item: str) -> list[Counts]:
        forms = self._grouped().get(item_key(clean_item(item)), [])
        return [counts for form in forms for counts in self._items[form].values()]
