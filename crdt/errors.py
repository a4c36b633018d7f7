"""Errors a shopping-list operation can raise, besides ``ValueError`` for bad arguments."""

from __future__ import annotations

__all__ = ["OverAcquireError", "ShoppingListError", "UnknownItemError"]


class ShoppingListError(Exception):
    """An operation that is well-formed but not possible on this state."""


class UnknownItemError(ShoppingListError, LookupError):
    """The item is not on the list (in this replica's view)."""

    def __init__(self, item: str) -> None:
        super().__init__(f"{item!r} is not on the list")
        self.item = item


class OverAcquireError(ShoppingListError, ValueError):
    """More would be acquired than remains to buy (in this replica's view)."""

    def __init__(self, item: str, quantity: int, remaining: int) -> None:
        super().__init__(f"cannot acquire {quantity} of {item!r}: only {remaining} left to buy")
        self.item = item
        self.quantity = quantity
        self.remaining = remaining
