"""Operator tools: ``run.py status`` and ``run.py trace``.

``status`` joins two views: the ring as the proxy sees it (a
:class:`StatusReply`) and, when the cluster's supervisor runs on this
machine, its processes (from each :class:`SupervisorState` running here:
pid, uptime, restarts, last exit code). A server that has never answered a probe is ``starting``;
one that did and then missed is ``missed`` or ``suspect``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from protocol import MemberStatus, StatusReply
from supervisor.state import ProcessState, SupervisorState, find_process

__all__ = ["print_status", "print_trace", "read_trace", "ring_state", "status_to_json"]

_decoder = msgspec.json.Decoder(dict[str, Any])


def ring_state(member: MemberStatus) -> str:
    """``starting`` (no probe answered yet), ``suspect``, ``answered`` or ``missed``."""
    if member.last_seen_s < 0:
        return "starting"
    if member.suspect:
        return "suspect"
    return "answered" if member.alive else "missed"


def _process_json(p: ProcessState | None, now: float) -> dict[str, Any]:
    if p is None:
        return {"pid": None, "uptime_s": None, "restarts": None, "last_exit_code": None}
    return {
        "pid": p.pid,
        "uptime_s": round(now - p.started_at, 1) if p.pid is not None else None,
        "restarts": p.restarts,
        "last_exit_code": p.last_exit_code,
        "phase": p.phase,
    }


def status_to_json(
    status: StatusReply, states: Sequence[SupervisorState] = (), now: float | None = None
) -> dict[str, Any]:
    """The status as JSON: the ring, and each process's pid, uptime, restarts
    and last exit code when its supervisor (among ``states``, those running
    on this machine) is known (``null`` where it is not)."""
    now = time.time() if now is None else now

    def proc(name: str) -> ProcessState | None:
        return find_process(states, name)

    return {
        "n": status.n,
        "r": status.r,
        "w": status.w,
        "ring_epoch": status.ring_epoch,
        "security": status.security,
        "queued": status.queued,
        "supervisors": [
            {"pid": s.pid, "host": s.host, "uptime_s": round(now - s.started_at, 1)} for s in states
        ],
        "proxy": _process_json(proc("proxy"), now),
        "members": [
            {
                "id": m.node_id,
                "state": ring_state(m),
                **_process_json(proc(m.node_id), now),
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


_STATE_STYLE = {"starting": "cyan", "suspect": "red", "answered": "green", "missed": "yellow"}


def _uptime(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _process_cells(p: ProcessState | None, now: float) -> list[str]:
    """pid, uptime, restarts (last exit code) of one process; ``?`` unknown here."""
    if p is None:
        return ["?", "?", "?"]
    if p.pid is None:
        pid, up = f"[yellow]{p.phase.replace('_', ' ')}[/yellow]", "-"
    else:
        pid, up = str(p.pid), _uptime(now - p.started_at)
    last = "" if p.last_exit_code is None else f" (last exit {p.last_exit_code})"
    return [pid, up, f"{p.restarts}{last}"]


def print_status(
    status: StatusReply,
    console: Console,
    show_ranges: int = 2,
    states: Sequence[SupervisorState] = (),
    now: float | None = None,
) -> None:
    """Two tables: each process (pid, uptime, restarts, ring state; the pid
    and the rest only where its supervisor is among ``states``), then each
    ring member's share, store and first ``show_ranges`` key ranges."""
    now = time.time() if now is None else now
    console.print(_processes_table(status, states, now))
    table = Table(
        title=f"ring epoch {status.ring_epoch}: N={status.n} R={status.r} W={status.w}",
    )
    for column in ("server", "vnodes", "share", "last seen", "store", "key ranges (start, end]"):
        table.add_column(column)
    for m in status.members:
        seen = "never" if m.last_seen_s < 0 else f"{m.last_seen_s:.1f}s ago"
        store = {
            "ok": "ok",
            "disk_full": "[red]disk full: refusing writes[/red]",
            "rebuilding": f"[yellow]rebuilding: {m.rebuilt_lists} lists back[/yellow]",
        }[m.health]
        table.add_row(
            m.node_id,
            str(m.vnodes),
            f"{m.share:.1%}",
            seen,
            store,
            "\n".join(_ranges(m, show_ranges)),
        )
    console.print(table)
    queued = ", ".join(status.queued) if status.queued else "none"
    console.print(f"waiting to join: {queued}")
    if status.security == "curve":
        console.print("security: CurveZMQ on every socket; only the cluster's server keys join")
    else:
        console.print("[red]security: off (plaintext; anyone who reaches a port is trusted)[/red]")


def _processes_table(status: StatusReply, states: Sequence[SupervisorState], now: float) -> Table:
    if not states:
        title = "processes (no supervisor of this cluster runs on this machine)"
    else:
        ups = [f"pid {s.pid}, up {_uptime(now - s.started_at)}" for s in states]
        title = f"processes of supervisor {'; '.join(ups)}"
    table = Table(title=title)
    for column in ("process", "pid", "uptime", "restarts", "ring"):
        table.add_column(column)

    def proc(name: str) -> ProcessState | None:
        return find_process(states, name)

    table.add_row("proxy", *_process_cells(proc("proxy"), now), "-")
    for m in status.members:
        ring = ring_state(m)
        cell = f"[{_STATE_STYLE[ring]}]{ring}[/{_STATE_STYLE[ring]}]"
        table.add_row(m.node_id, *_process_cells(proc(m.node_id), now), cell)
    return table


def _ranges(m: MemberStatus, show: int) -> list[str]:
    shown = [f"({a[:8]}…, {b[:8]}…]" for a, b in m.ranges[:show]]
    more = len(m.ranges) - len(shown)
    if more > 0:
        shown.append(f"… {more} more")
    return shown


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
