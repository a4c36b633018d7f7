"""The client commands of ``run.py client``: one command, one exit code.

Exit codes (a contract for users and tests; named in :mod:`ui.contract`, with
the commands, so that ``run.py`` parses without importing the client):

== ==========================================================================
0  success, including an edit saved offline
2  bad usage or input (argparse, a bad quantity, an item not on the list)
3  unknown list
4  the cluster could not be reached (or could not save) for pull, push, sync
== ==========================================================================

With ``--json`` a command prints exactly one JSON object on stdout; with
``--trace`` the trace id of its requests also goes to stderr (and into the
JSON object), for ``run.py trace``.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from rich.console import Console
from rich.table import Table

from actors.client import ClientSession, ClusterUnavailable, ClusterUnreachable, UnknownList
from crdt import ShoppingList, ShoppingListError
from supervisor.topology import TopologyError
from ui.client import ClientOptions, open_session, render_list
from ui.contract import COMMANDS, EXIT_OK, EXIT_UNKNOWN, EXIT_UNREACHABLE, EXIT_USAGE

__all__ = [
    "COMMANDS",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "run_client",
]


def run_client(opts: ClientOptions, command: str, args: list[str]) -> int:
    """Run one client command; returns its exit code."""
    handler = _COMMANDS.get(command)
    if handler is None:
        return _fail(opts, EXIT_USAGE, f"unknown command {command!r}")
    try:
        session = open_session(opts)
    except TopologyError as exc:
        return _fail(opts, EXIT_USAGE, str(exc))
    try:
        return handler(session, opts, args)
    except UnknownList as exc:
        return _fail(opts, EXIT_UNKNOWN, f"unknown list {exc.args[0] if exc.args else ''}")
    except (ClusterUnreachable, ClusterUnavailable) as exc:
        return _fail(opts, EXIT_UNREACHABLE, f"cluster not reached, nothing changed here: {exc}")
    except (ValueError, ShoppingListError, TypeError) as exc:
        return _fail(opts, EXIT_USAGE, str(exc))
    finally:
        if opts.trace and session.last_trace_id:
            print(f"trace id: {session.last_trace_id}", file=sys.stderr)
        session.close()


# ------------------------------------------------------------------ output


def _emit(opts: ClientOptions, session: ClientSession, obj: dict[str, Any], text: str) -> None:
    if opts.json:
        if opts.trace and session.last_trace_id:
            obj = {**obj, "trace_id": session.last_trace_id}
        print(json.dumps(obj), flush=True)
    else:
        opts.console.print(text)


def _fail(opts: ClientOptions, code: int, reason: str) -> int:
    if opts.json:
        print(json.dumps({"error": reason, "exit_code": code}), flush=True)
    else:
        Console(stderr=True, highlight=False).print(f"[red]error:[/red] {reason}")
    return code


def _saved_note(pushed: bool) -> str:
    return "[green]saved to the cluster[/green]" if pushed else "[yellow]saved offline[/yellow]"


# ----------------------------------------------------------------- commands


def _list_arg(session: ClientSession, args: list[str], index: int = 0) -> str:
    if len(args) <= index:
        raise ValueError("a list id is required")
    list_id = session.resolve(args[index])
    if list_id is None:
        raise UnknownList(args[index])
    return list_id


def _qty(args: list[str], index: int) -> int:
    if len(args) <= index:
        return 1
    try:
        return int(args[index])
    except ValueError:
        raise ValueError(f"quantity must be a whole number >= 1, got {args[index]!r}") from None


def _expect(args: list[str], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise ValueError(f"usage: {usage}")


def cmd_create(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 1, 1, "create NAME")
    state, pushed = session.create(args[0])
    doc = {"id": state.list_id, "name": state.name, "pushed": pushed}
    if opts.json:
        _emit(opts, session, doc, "")
    else:
        print(state.list_id)
    return EXIT_OK


def cmd_lists(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 0, 0, "lists")
    pending = {pid for pid, _ in session.store.pending()}
    states = session.lists()
    rows = [
        {"id": s.list_id, "name": s.name, "items": len(s), "pending": s.list_id in pending}
        for s in states
    ]
    table = Table("id", "name", "items", "")
    for s in states:
        note = "[yellow]unsaved edits[/yellow]" if s.list_id in pending else ""
        table.add_row(s.list_id, s.name, str(len(s)), note)
    if opts.json:
        _emit(opts, session, {"lists": rows}, "")
    else:
        opts.console.print(table)
    return EXIT_OK


def cmd_show(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 1, 1, "show LIST")
    state = session.get_local(_list_arg(session, args))
    if state is None:
        raise UnknownList(args[0])
    if opts.json:
        _emit(opts, session, state.to_json(), "")
    else:
        opts.console.print(render_list(state))
    return EXIT_OK


def _edit_result(
    session: ClientSession, opts: ClientOptions, state: ShoppingList, pushed: bool, what: str
) -> int:
    _emit(
        opts,
        session,
        {"pushed": pushed, "list": state.to_json()},
        f"{what} ({_saved_note(pushed)})",
    )
    return EXIT_OK


def cmd_add(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 2, 3, "add LIST ITEM [QTY]")
    qty = _qty(args, 2)
    state, pushed = session.add(_list_arg(session, args), args[1], qty)
    return _edit_result(session, opts, state, pushed, f"added {qty} {args[1].strip()}")


def cmd_remove(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 2, 2, "remove LIST ITEM")
    state, pushed = session.remove(_list_arg(session, args), args[1])
    return _edit_result(session, opts, state, pushed, f"removed {args[1].strip()}")


def cmd_acquire(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 2, 3, "acquire LIST ITEM [QTY]")
    qty = _qty(args, 2)
    state, pushed = session.acquire(_list_arg(session, args), args[1], qty)
    return _edit_result(session, opts, state, pushed, f"bought {qty} {args[1].strip()}")


def cmd_pull(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 1, 1, "pull LIST")
    list_id = session.resolve(args[0])
    if list_id is None:
        raise UnknownList(args[0])
    state = session.pull(list_id)
    if opts.json:
        _emit(opts, session, {"list": state.to_json()}, "")
    else:
        opts.console.print(render_list(state))
    return EXIT_OK


def cmd_push(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 1, 1, "push LIST")
    saved = session.push(_list_arg(session, args))
    _emit(
        opts,
        session,
        {"saved": True, "acks": saved.acks, "list_id": saved.list_id},
        f"[green]saved[/green] on {saved.acks} replicas",
    )
    return EXIT_OK


def cmd_sync(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 0, 0, "sync")
    report = session.sync()
    doc = {"pushed": report.pushed, "pulled": report.pulled, "failed": report.failed}
    _emit(
        opts,
        session,
        doc,
        f"pushed {len(report.pushed)}, pulled {len(report.pulled)}, failed {len(report.failed)}",
    )
    return EXIT_UNREACHABLE if report.failed else EXIT_OK


def cmd_delete(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    _expect(args, 1, 1, "delete LIST")
    list_id = _list_arg(session, args)
    if not session.delete(list_id):
        raise UnknownList(list_id)
    _emit(opts, session, {"deleted": list_id}, f"deleted the local copy of {list_id}")
    return EXIT_OK


def cmd_watch(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Print every update published for the local lists (JSON lines) until interrupted."""
    session.close()
    done = threading.Event()

    def show(state: ShoppingList) -> None:
        print(json.dumps({"update": state.to_json()}), flush=True)

    watcher = open_session(opts, subscribe=True, on_update=show)
    try:
        print(json.dumps({"watching": watcher.store.ids()}), flush=True)
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
    return EXIT_OK


def cmd_whoami(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """This client's public key: who it is to a secured cluster (made on first use)."""
    _expect(args, 0, 0, "whoami")
    public = session.store.curve_keys()[0].decode()
    _emit(
        opts,
        session,
        {"client_id": opts.client_id, "public_key": public},
        f"{public}  (the public key the cluster knows {opts.client_id} by; the secret "
        "one stays in the local store)",
    )
    return EXIT_OK


def cmd_shell(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    # Imported here: no other command needs the menu.
    from ui.menu import Shell  # noqa: PLC0415

    session.close()
    return Shell(opts).run()


_COMMANDS = {
    "create": cmd_create,
    "lists": cmd_lists,
    "show": cmd_show,
    "add": cmd_add,
    "remove": cmd_remove,
    "acquire": cmd_acquire,
    "pull": cmd_pull,
    "push": cmd_push,
    "sync": cmd_sync,
    "delete": cmd_delete,
    "watch": cmd_watch,
    "whoami": cmd_whoami,
    "shell": cmd_shell,
}
