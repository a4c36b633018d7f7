"""How item names are matched: one item per normalised name, shown as first written.

Stored state
    A list's item store stays keyed by the name *as written* (stripped of
    surrounding whitespace): the wire form and every stored list are
    unchanged. Two written forms of one name (``Milk`` and ``milk``) are
    separate keys of the store only when replicas added them concurrently,
    or in lists written before names were matched this way.

Matching
    :func:`item_key` is the name with every run of whitespace made one space,
    stripped, and ``casefold()``-ed: ``"  Skim   MILK "`` and ``"skim milk"``
    are one item. The view and every operation work on the *group* of
    written forms that share a key (:func:`group_items`): their counts add
    up, a remove drops the dots of every form it saw, and an add or acquire
    writes under the group's display name, so sequential edits keep one key.

Display name
    Of a group's written forms, the one whose earliest live dot is smallest
    by ``(counter, replica id)``. No two forms share a dot, so the order is
    total, and it depends on the merged state only: every replica that has
    seen the same operations shows the same name. Within one replica's
    history the smaller counter is the earlier write, so a name is shown as
    first written.

Pure code: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from crdt.context import Dot, ItemStore
from protocol.limits import MAX_ITEM_NAME_CHARS, MAX_QUANTITY

__all__ = ["check_quantity", "check_utf8", "clean_item", "group_items", "item_key"]

#: Sorts a form without dots (not reachable by the mutators) after every other.
_NO_DOT: Final = (2**63, "")


def item_key(name: str) -> str:
    """The key items are matched by: whitespace runs made one space, stripped, casefolded."""
    return " ".join(name.split()).casefold()


def group_items(items: ItemStore) -> dict[str, list[str]]:
    """Key -> the written forms stored under it, display name first.

    Raises nothing; O(items) plus a sort per group of more than one form.
    """
    groups: dict[str, list[str]] = {}
    for written in items:
        groups.setdefault(item_key(written), []).append(written)
    for forms in groups.values():
        if len(forms) > 1:
            forms.sort(key=lambda written: _first_dot(items[written]))
    return groups


def _first_dot(dots: Iterable[Dot]) -> tuple[int, str]:
    return min(((counter, replica) for replica, counter in dots), default=_NO_DOT)


def clean_item(item: object) -> str:
    """An item name as stored: stripped of surrounding whitespace.

    Raises:
        TypeError: ``item`` is not a string.
        ValueError: it is empty once stripped, too long, or not valid unicode.
    """
    if not isinstance(item, str):
        raise TypeError(f"item name must be a string, got {type(item).__name__}")
    name = item.strip()
    if not name or len(name) > MAX_ITEM_NAME_CHARS:
        raise ValueError(f"item name must have 1 to {MAX_ITEM_NAME_CHARS} characters")
    check_utf8(name)
    return name


def check_utf8(text: str) -> None:
    """Raises ValueError when ``text`` cannot be encoded as UTF-8 (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("names must be valid unicode text") from None


def check_quantity(quantity: object) -> None:
    """Raises ValueError unless ``quantity`` is an int in 1..MAX_QUANTITY (not a bool)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValueError(f"quantity must be an int >= 1, got {quantity!r}")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError(f"quantity must be between 1 and {MAX_QUANTITY}, got {quantity}")
