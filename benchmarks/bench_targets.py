"""The cluster benchmark's targets and tables: pure, apart from printing.

The targets are the issue's bounds on the figures of the top-level (secured)
run. They are evaluated into a JSON-safe dict and printed as ``met`` or
``TARGET MISSED``; never asserted (figures are the bench's business, the
exit status is the lost writes').
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rich.console import Console
from rich.table import Table

__all__ = [
    "P50_RATIO_TARGET",
    "TARGETS",
    "WRITES_RATIO_TARGET",
    "Target",
    "compare",
    "evaluate",
    "percentile",
    "print_figures",
    "print_targets",
    "ratio",
]

#: The issue's bounds for the secured cluster against the plaintext one.
WRITES_RATIO_TARGET: Final = 0.7  # secured writes/s at least this share of plaintext's
P50_RATIO_TARGET: Final = 1.3  # one client's secured p50 at most this multiple


@dataclass(frozen=True)
class Target:
    """``figures[key] <op> bound`` must hold; ``op`` is ``">="``, ``"<="`` or ``"=="``."""

    key: str
    op: str
    bound: float


_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}

#: name -> target, in the order they are printed.
TARGETS: Final[dict[str, Target]] = {
    "ratio_vs_quorum_baseline": Target("ratio_vs_quorum_baseline", ">=", 0.5),
    "ratio_throughput": Target("ratio_throughput", ">=", 0.25),
    "p50_over_quorum_baseline": Target("p50_over_quorum_baseline", "<=", 2.0),
    "p99_ms": Target("p99_ms", "<=", 3.0),
    "ratio_vs_redis": Target("ratio_vs_redis", ">=", 0.5),
    "bytes_per_cached_list": Target("bytes_per_cached_list", "<=", 3072),
    "lost_writes": Target("lost_writes", "==", 0),
}


def percentile(sorted_ms: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted samples; 0.0 for none."""
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))] if sorted_ms else 0.0


def ratio(num: float | None, den: float | None, digits: int) -> float | None:
    """``num / den`` rounded to ``digits``; ``None`` if either is missing or ``den`` is 0."""
    if num is None or not den:
        return None
    return round(num / den, digits)


def evaluate(
    figures: Mapping[str, Any], targets: Mapping[str, Target] = TARGETS
) -> dict[str, dict[str, Any]]:
    """Each target as ``{"value", "target", "met"}``; ``target`` is the bound
    with its operator (``">= 0.5"``). A figure missing or ``None`` (Redis not
    installed, a baseline of zero) is not met."""
    out: dict[str, dict[str, Any]] = {}
    for name, target in targets.items():
        value = figures.get(target.key)
        met = isinstance(value, int | float) and _OPS[target.op](value, target.bound)
        out[name] = {"value": value, "target": f"{target.op} {target.bound:g}", "met": met}
    return out


def print_targets(console: Console, targets: Mapping[str, Mapping[str, Any]]) -> None:
    """One line per target: its value, bound, and ``met`` or ``TARGET MISSED``."""
    for name, t in targets.items():
        verdict = "met" if t["met"] else "TARGET MISSED"
        console.print(f"{name} {t['value']} (target {t['target']}): {verdict}")


def print_figures(console: Console, title: str, figures: Mapping[str, Any]) -> None:
    """The figures as a two-column table (nested dicts and lists as text)."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        shown = f"{value:,}" if numeric else str(value)
        table.add_row(key, shown)
    console.print(table)


def compare(console: Console, secured: dict[str, Any], insecure: dict[str, Any]) -> None:
    """Print the two runs side by side, the ratios, and whether their targets were met."""
    table = Table(title="secured (curve) against plaintext (off)")
    table.add_column("figure")
    table.add_column("curve", justify="right")
    table.add_column("off", justify="right")
    table.add_column("curve / off", justify="right")
    for key in ("writes_per_s", "reads_per_s", "p50_ms", "p99_ms", "load_p50_ms", "load_p99_ms"):
        r = ratio(secured[key], insecure[key], 3)
        table.add_row(key, f"{secured[key]:,}", f"{insecure[key]:,}", "-" if r is None else f"{r}")
    console.print(table)
    print_targets(
        console,
        evaluate(
            secured,
            {
                "secured_over_insecure_writes": Target(
                    "secured_over_insecure_writes", ">=", WRITES_RATIO_TARGET
                ),
                "secured_over_insecure_p50": Target(
                    "secured_over_insecure_p50", "<=", P50_RATIO_TARGET
                ),
            },
        ),
    )
