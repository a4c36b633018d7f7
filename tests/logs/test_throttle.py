"""ThrottledWarning: at most one line per interval, counting what it held back."""

from __future__ import annotations

from typing import Any

from logs import ThrottledWarning


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_one_line_per_interval_with_the_count_since_the_last() -> None:
    now = [0.0]
    lines = Lines()
    throttled = ThrottledWarning(lines, "x.refused", 1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert throttled.happened(key="a")
    assert not throttled.happened(key="b")
    assert not throttled.happened(2, key="c")
    now[0] = 1.0
    assert throttled.happened(key="d")
    assert [
        ("x.refused", {"refused": 1, "key": "a"}),
        ("x.refused", {"refused": 4, "key": "d"}),
    ] == lines.lines
