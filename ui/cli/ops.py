"""Operator tools: ``run.py status`` and ``run.py trace``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from protocol import StatusReply

__all__ = ["print_status", "print_trace", "read_trace", "status_to_json"]

_decoder = msgspec.json.Decoder(dict[str, Any])


def status_to_json(status: StatusReply) -> dict[str, Any]:
    return {
        "n": status.n,
        "r": status.r,
        "w": status.w,
        "ring_epoch": status.ring_epoch,
        "security": status.security,
        "queued": status.queued,
        "members": [
            {
                "id": m.node_id,
                "vnodes": m.vnodes,
                "share": m.share,
                "alive": m.alive,
                "suspect": m.suspect,
                "last_seen_s": m.last_seen_s,
                "health": m.health,
                "rebuilt_lists": m.rebuilt_lists,
                "ranges": [list(r) for r in m.ranges],
            }
            for m in status.members
        ],
    }


def print_status(status: StatusReply, console: Console, show_ranges: int = 2) -> None:
    """A table of ring members; each with its first ``show_ranges`` key ranges."""
    table = Table(
        title=f"ring epoch {status.ring_epoch}: N={status.n} R={status.r} W={status.w}",
    )
    for column in (
        "server",
        "vnodes",
        "share",
        "last probe",
        "last seen",
        "store",
        "key ranges (start, end]",
    ):
        table.add_column(column)
    for m in status.members:
        if m.suspect:
            probe = "[red]suspect[/red]"
        elif m.alive:
            probe = "[green]answered[/green]"
        else:
            probe = "[yellow]missed[/yellow]"
        seen = "never" if m.last_seen_s < 0 else f"{m.last_seen_s:.1f}s ago"
        shown = [f"({a[:8]}…, {b[:8]}…]" for a, b in m.ranges[:show_ranges]]
        more = len(m.ranges) - len(shown)
        if more > 0:
            shown.append(f"… {more} more")
        store = {
            "ok": "ok",
            "disk_full": "[red]disk full: refusing writes[/red]",
            "rebuilding": f"[yellow]rebuilding: {m.rebuilt_lists} lists back[/yellow]",
        }[m.health]
        table.add_row(
            m.node_id, str(m.vnodes), f"{m.share:.1%}", probe, seen, store, "\n".join(shown)
        )
    console.print(table)
    queued = ", ".join(status.queued) if status.queued else "none"
    console.print(f"waiting to join: {queued}")
    if status.security == "curve":
        console.print("security: CurveZMQ on every socket; only the cluster's server keys join")
    else:
        console.print("[red]security: off (plaintext; anyone who reaches a port is trusted)[/red]")


def read_trace(trace_id: str, log_dir: Path) -> list[dict[str, Any]]:
    """Every log event of one trace, from every JSON log under ``log_dir``, in time order."""
    events = [e for e in _events(log_dir) if e.get("trace_id") == trace_id]
    events.sort(key=lambda e: str(e.get("timestamp", "")))
    return events


def _events(log_dir: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(log_dir.rglob("*.jsonl")):
        with path.open("rb") as f:
            for line in f:
                if b'"trace_id"' not in line:
                    continue  # cheap filter before decoding
                try:
                    yield _decoder.decode(line)
                except msgspec.DecodeError:
                    continue  # a torn last line of a killed process


_SKIP = {"timestamp", "level", "node", "role", "event", "trace_id", "msg_id", "hop"}


def print_trace(
    trace_id: str, events: list[dict[str, Any]], console: Console, as_json: bool
) -> None:
    if as_json:
        print(json.dumps({"trace_id": trace_id, "events": events}))
        return
    if not events:
        console.print(f"no events for trace {trace_id}")
        return
    start = _seconds(events[0]["timestamp"])
    table = Table(title=f"trace {trace_id}: {len(events)} events")
    for column in ("+ms", "node", "role", "event", "details"):
        table.add_column(column)
    for e in events:
        offset = (_seconds(e["timestamp"]) - start) * 1000.0
        details = " ".join(f"{k}={e[k]}" for k in e if k not in _SKIP)
        table.add_row(
            f"{offset:8.2f}", str(e.get("node")), str(e.get("role")), str(e.get("event")), details
        )
    console.print(table)


def _seconds(timestamp: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
