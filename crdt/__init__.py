"""The shopping list as a delta-state causal CRDT, and the gate in front of its merge.

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

from crdt.access import AccessList
from crdt.context import CausalContext, Dot
from crdt.errors import OverAcquireError, ShoppingListError, UnknownItemError
from crdt.observed import observed_blob, observed_context, peek_context
from crdt.replica_ids import key_tag, may_write_for, replica_id_for, writer_of
from crdt.shopping_list import ShoppingList
from crdt.validation import MayWrite, check_write
from crdt.verdicts import Accepted, RefusalKind, Refused, Undecided, UnseenKind, Verdict
from crdt.write_limits import COUNTER_CEILING, DEFAULT_LIMITS, MAX_NEW_DOTS, WriteLimits

__all__ = [
    "COUNTER_CEILING",
    "DEFAULT_LIMITS",
    "MAX_NEW_DOTS",
    "Accepted",
    "AccessList",
    "CausalContext",
    "Dot",
    "MayWrite",
    "OverAcquireError",
    "RefusalKind",
    "Refused",
    "ShoppingList",
    "ShoppingListError",
    "Undecided",
    "UnknownItemError",
    "UnseenKind",
    "Verdict",
    "WriteLimits",
    "check_write",
    "key_tag",
    "may_write_for",
    "observed_blob",
    "observed_context",
    "peek_context",
    "replica_id_for",
    "writer_of",
]
