"""Deadlines: attempts come out earliest first, only once due, each once."""

from __future__ import annotations

from actors.proxy.deadlines import Deadlines


def test_attempts_expire_in_deadline_order_once_due() -> None:
    """Added in time order or not, they come out sorted, and only when due."""
    deadlines = Deadlines()
    for deadline_s, msg_id in [(1.0, "a"), (2.0, "b"), (0.5, "early"), (3.0, "c")]:
        deadlines.add(deadline_s, msg_id)
    assert ["early", "a"] == list(deadlines.expired(1.5))
    assert ["b"] == list(deadlines.expired(2.0))
    assert [] == list(deadlines.expired(2.5))
    assert 1 == len(deadlines)
    assert ["c"] == list(deadlines.expired(10.0))
