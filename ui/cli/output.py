"""What every client command shares: its output, its failures, its arguments."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from actors.client import ClientSession
from ui.client import ClientOptions, resolve_list

__all__ = ["emit", "expect", "fail", "list_arg"]


def emit(opts: ClientOptions, session: ClientSession, obj: dict[str, Any], text: str) -> None:
    """Print a command's result: ``obj`` as one JSON line with ``--json``, else ``text``."""
    if opts.json:
        if opts.trace and session.last_trace_id:
            obj = {**obj, "trace_id": session.last_trace_id}
        print(json.dumps(obj), flush=True)
    else:
        opts.console.print(text)


def fail(opts: ClientOptions, code: int, reason: str) -> int:
    """Report a failure (on stderr, or as JSON on stdout) and return its exit code."""
    if opts.json:
        print(json.dumps({"error": reason, "exit_code": code}), flush=True)
    else:
        Console(stderr=True, highlight=False).print(f"[red]error:[/red] {reason}")
    return code


def list_arg(session: ClientSession, args: list[str], index: int = 0) -> str:
    """The list id that ``args[index]`` names (see :func:`ui.client.resolve_list`)."""
    if len(args) <= index:
        raise ValueError("a list is required: its id, a unique id prefix, or its name")
    return resolve_list(session, args[index])


def expect(args: list[str], low: int, high: int, usage: str) -> None:
    """Between ``low`` and ``high`` arguments, or a usage error."""
    if not low <= len(args) <= high:
        got = ", ".join(repr(a) for a in args) if args else "none"
        raise ValueError(f"usage: {usage} (arguments given: {got})")
