"""What a published update changed, in words: what ``watch`` and the menu print.

Each line compares the list before and after the update, item by item:
``groceries: bob added 2 milk``, ``groceries: eggs bought by bob``,
``groceries: milk removed by bob``, ``groceries: renamed to 'party' by bob``.
The writer is named as the proxy names it (see
:func:`actors.proxy.responder.writer_name`): the client id the writer gave
itself, then the first characters of the key it was authenticated with (as
``whoami`` prints it), e.g. ``bob (Jx8f@2Lk)``; an update that changed nothing shown
(e.g. only merged history) is described as ``updated``.
"""

from __future__ import annotations

from typing import Any

from actors.client import ListChange

__all__ = ["describe"]


def describe(change: ListChange) -> list[str]:
    """One line per thing the update changed, each prefixed with the list's name."""
    who = change.writer or "someone"
    title = change.state.name or change.state.list_id
    before = _rows(change.before.to_json())
    after = _rows(change.state.to_json())
    lines: list[str] = []
    if change.before.name != change.state.name:
        lines.append(f"renamed to {change.state.name!r} by {who}")
    for item in sorted(before.keys() | after.keys()):
        lines += _item_lines(who, item, before.get(item), after.get(item))
    return [f"{title}: {line}" for line in lines or ["updated"]]


def _rows(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in doc["list"]}


def _item_lines(
    who: str, item: str, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> list[str]:
    if new is None:
        return [f"{item} removed by {who}"]
    was_needed = old["needed"] if old else 0
    was_bought = old["bought"] if old else 0
    lines = []
    if new["needed"] > was_needed:
        lines.append(f"{who} added {new['needed'] - was_needed} {item}")
    if new["bought"] > was_bought:
        if new["acquired"]:
            lines.append(f"{item} bought by {who}")
        else:
            lines.append(
                f"{who} bought {new['bought'] - was_bought} {item}, {new['quantity']} to go"
            )
    return lines
