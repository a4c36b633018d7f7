"""The shopping list as a delta-state causal CRDT.

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

from crdt.context import CausalContext, Dot
from crdt.errors import OverAcquireError, ShoppingListError, UnknownItemError
from crdt.shopping_list import ShoppingList

__all__ = [
    "CausalContext",
    "Dot",
    "OverAcquireError",
    "ShoppingList",
    "ShoppingListError",
    "UnknownItemError",
]
