"""What the page is shown, and the checks of what it sends.

These functions run on the session's worker thread (:mod:`ui.web.worker`)
or are pure: each takes the session or the request's values and returns
plain JSON-ready dicts. A value the page sent that is not acceptable raises
:class:`BadInput` naming the form field it belongs to, before anything is
changed.
"""

from __future__ import annotations

from typing import Any

from actors.client import ClientSession, UnknownList
from crdt import ShoppingList
from protocol import ProtocolError
from protocol.limits import MAX_ITEM_NAME_CHARS, MAX_LIST_NAME_CHARS, MAX_QUANTITY

__all__ = [
    "BadInput",
    "check_buy",
    "list_doc",
    "parse_item",
    "parse_name",
    "parse_quantity",
    "set_needed",
    "state_doc",
    "status_doc",
]


class BadInput(ValueError):
    """A value the page sent is refused: ``field`` names its form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_name(value: object, field: str, limit: int = MAX_LIST_NAME_CHARS) -> str:
    """A non-empty name of at most ``limit`` characters, trimmed."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadInput(field, "Enter a name.")
    if len(text) > limit:
        raise BadInput(field, f"Use at most {limit} characters.")
    return text


def parse_item(value: object, field: str) -> str:
    return parse_name(value, field, MAX_ITEM_NAME_CHARS)


def parse_quantity(value: object, field: str) -> int:
    """A whole number from 1 to the protocol's maximum (digits only, as typed)."""
    typed = isinstance(value, str | int) and not isinstance(value, bool)
    text = str(value).strip() if typed else ""
    if not text.isdecimal() or text.startswith("0") or not text.isascii():
        raise BadInput(field, "Enter a whole number of at least 1.")
    quantity = int(text)
    if quantity > MAX_QUANTITY:
        raise BadInput(field, f"Enter at most {MAX_QUANTITY}.")
    return quantity


def _waiting(session: ClientSession) -> dict[str, list[str]]:
    """List id -> the items touched by its edits not yet saved by the cluster."""
    waiting: dict[str, list[str]] = {}
    for list_id, delta in session.store.pending():
        try:
            waiting[list_id] = ShoppingList.decode(delta).items()
        except ProtocolError:
            waiting[list_id] = []
    return waiting


def status_doc(session: ClientSession) -> dict[str, Any]:
    """Whether the cluster is connected, and which lists have edits waiting."""
    return {"online": session.connected(), "waiting": sorted(_waiting(session))}


def state_doc(session: ClientSession) -> dict[str, Any]:
    """The home view: who this is, the status, and every local list."""
    waiting = _waiting(session)
    lists = [
        {"id": s.list_id, "name": s.name, "items": len(s), "waiting": s.list_id in waiting}
        for s in sorted(session.lists(), key=lambda s: (s.name.casefold(), s.list_id))
    ]
    return {
        "client_id": session.client_id,
        "online": session.connected(),
        "waiting": sorted(waiting),
        "lists": lists,
    }


def list_doc(session: ClientSession, list_id: str) -> dict[str, Any]:
    """One list: its items to buy and those bought, and what is waiting.

    Raises:
        UnknownList: the list is not held here.
    """
    state = session.get_local(list_id)
    if state is None:
        raise UnknownList(list_id)
    waiting = _waiting(session)
    doc = state.to_json()
    items = waiting.get(list_id, [])
    for row in doc["list"]:
        row["waiting"] = row["id"] in items
    return {
        "id": list_id,
        "name": doc["name"],
        "to_buy": [row for row in doc["list"] if not row["acquired"]],
        "bought": [row for row in doc["list"] if row["acquired"]],
        "waiting": list_id in waiting,
        "refused": list_id in session.forbidden,
        "online": session.connected(),
    }


def set_needed(session: ClientSession, list_id: str, item: str, needed: int) -> None:
    """Make ``needed`` the item's quantity: added to if it grows; if it
    shrinks, the item is put on again with ``needed`` (and with what was
    bought, up to ``needed``), since a needed count only grows.

    Raises:
        UnknownList: the list is not held here.
        BadInput: the item is not on the list.
    """
    state = session.get_local(list_id)
    if state is None:
        raise UnknownList(list_id)
    if not state.lookup(item):
        raise BadInput("quantity", "This item is no longer on the list.")
    now, bought = state.needed(item), state.acquired(item)
    if needed > now:
        session.add(list_id, item, needed - now)
    elif needed < now:
        session.remove(list_id, item)
        session.add(list_id, item, needed)
        if bought:
            session.acquire(list_id, item, min(bought, needed))


def check_buy(session: ClientSession, list_id: str, item: str, quantity: int | None) -> int:
    """How many to buy (``None``: all that remain), checked against what remains.

    Raises:
        UnknownList: the list is not held here.
        BadInput: nothing or fewer remain, or the item is gone.
    """
    state = session.get_local(list_id)
    if state is None:
        raise UnknownList(list_id)
    if not state.lookup(item):
        raise BadInput("buy", "This item is no longer on the list.")
    left = state.remaining(item)
    if left == 0:
        raise BadInput("buy", "Nothing is left to buy.")
    if quantity is None:
        return left
    if quantity > left:
        raise BadInput("buy", f"Only {left} left to buy.")
    return quantity
