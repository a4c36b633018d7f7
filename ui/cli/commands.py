"""The client commands of ``run.py client``: one command, one exit code.

Exit codes (a contract for users and tests; named in :mod:`ui.contract`, with
the commands, so that ``run.py`` parses without importing the client):

== ==========================================================================
0  success, including an edit saved offline
2  bad usage or input (argparse, a bad quantity, an item not on the list)
3  unknown list
4  the cluster could not be reached (or could not save) for pull, push, sync
5  forbidden: the cluster has no such list, or this client's key may not do
   that with it (read it, change it, or share it: only its owner shares)
6  the list's owner deleted it for everyone; its copy here is removed
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

from rich.table import Table

from actors.client import (
    ClientSession,
    ClusterUnavailable,
    ClusterUnreachable,
    Forbidden,
    ListChange,
    ListDeleted,
    UnknownList,
)
from crdt import ShoppingList, ShoppingListError
from supervisor.topology import TopologyError
from ui.changes import describe
from ui.cli.output import emit, expect, fail, list_arg
from ui.cli.sharing import SHARING_COMMANDS, cmd_delete_everyone, deleted_message, note_deleted
from ui.client import (
    ClientOptions,
    open_session,
    parse_quantity,
    render_list,
    resolve_list,
    unknown_message,
    unreachable_message,
)
from ui.contract import (
    COMMANDS,
    EXIT_DELETED,
    EXIT_FORBIDDEN,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)

__all__ = [
    "COMMANDS",
    "EXIT_FORBIDDEN",
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
        return fail(opts, EXIT_USAGE, f"unknown command {command!r}")
    try:
        session = open_session(opts)
    except TopologyError as exc:
        return fail(opts, EXIT_USAGE, str(exc))
    try:
        return note_deleted(session, handler(session, opts, args))
    except (
        UnknownList,
        ClusterUnreachable,
        ClusterUnavailable,
        ValueError,
        ShoppingListError,
        TypeError,
    ) as exc:
        return fail(opts, *_failure(session, exc))
    finally:
        if opts.trace and session.last_trace_id:
            print(f"trace id: {session.last_trace_id}", file=sys.stderr)
        session.close()


def _failure(session: ClientSession, exc: Exception) -> tuple[int, str]:
    """The exit code and message of a command that failed with ``exc``."""
    if isinstance(exc, UnknownList):
        return EXIT_UNKNOWN, unknown_message(exc)
    if isinstance(exc, ListDeleted):
        return EXIT_DELETED, deleted_message(exc.list_id)
    if isinstance(exc, Forbidden):
        reason = "forbidden: no such list in the cluster, or this client has no access to it"
        return EXIT_FORBIDDEN, reason
    if isinstance(exc, ClusterUnreachable):
        return EXIT_UNREACHABLE, f"{unreachable_message(session)}; nothing changed here"
    if isinstance(exc, ClusterUnavailable):
        return EXIT_UNREACHABLE, f"the cluster could not do it, nothing changed here: {exc}"
    return EXIT_USAGE, str(exc)


# ------------------------------------------------------------------ output


def _saved_note(pushed: bool) -> str:
    return "[green]saved to the cluster[/green]" if pushed else "[yellow]saved offline[/yellow]"


# ----------------------------------------------------------------- commands


def _qty(args: list[str], index: int) -> int:
    return parse_quantity(args[index]) if len(args) > index else 1


def cmd_create(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 1, 1, "create NAME")
    state, pushed = session.create(args[0])
    doc = {"id": state.list_id, "name": state.name, "pushed": pushed}
    if opts.json:
        emit(opts, session, doc, "")
    else:
        print(state.list_id)
    return EXIT_OK


def cmd_lists(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 0, 0, "lists")
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
        emit(opts, session, {"lists": rows}, "")
    else:
        opts.console.print(table)
    return EXIT_OK


def cmd_show(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 1, 1, "show LIST")
    state = session.get_local(list_arg(session, args))
    if state is None:
        raise UnknownList(args[0])
    if opts.json:
        emit(opts, session, state.to_json(), "")
    else:
        opts.console.print(render_list(state))
    return EXIT_OK


def _edit_result(
    session: ClientSession, opts: ClientOptions, state: ShoppingList, pushed: bool, what: str
) -> int:
    """Report an edit. It is saved here in any case; if the cluster refused
    it (no write access), exit code 5 says so."""
    refused = state.list_id in session.forbidden
    note = (
        "[red]saved here only: the cluster refused it (no write access)[/red]"
        if refused
        else _saved_note(pushed)
    )
    doc: dict[str, Any] = {"pushed": pushed, "list": state.to_json()}
    if refused:
        doc["refused"] = "forbidden"
    emit(opts, session, doc, f"{what} ({note})")
    return EXIT_FORBIDDEN if refused else EXIT_OK


def cmd_add(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 2, 3, "add LIST ITEM [QTY]")
    qty = _qty(args, 2)
    state, pushed = session.add(list_arg(session, args), args[1], qty)
    return _edit_result(session, opts, state, pushed, f"added {qty} {args[1].strip()}")


def cmd_remove(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 2, 2, "remove LIST ITEM")
    state, pushed = session.remove(list_arg(session, args), args[1])
    return _edit_result(session, opts, state, pushed, f"removed {args[1].strip()}")


def cmd_acquire(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 2, 3, "acquire LIST ITEM [QTY]")
    qty = _qty(args, 2)
    state, pushed = session.acquire(list_arg(session, args), args[1], qty)
    return _edit_result(session, opts, state, pushed, f"bought {qty} {args[1].strip()}")


def cmd_rename(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 2, 2, "rename LIST NAME")
    name = args[1].strip()
    if not name:
        raise ValueError("a list's name cannot be empty")
    state, pushed = session.rename(list_arg(session, args), name)
    return _edit_result(session, opts, state, pushed, f"renamed to {name!r}")


def cmd_pull(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 1, 1, "pull LIST")
    state = session.pull(resolve_list(session, args[0], pulling=True))
    if opts.json:
        emit(opts, session, {"list": state.to_json()}, "")
    else:
        opts.console.print(render_list(state))
    return EXIT_OK


def cmd_push(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 1, 1, "push LIST")
    saved = session.push(list_arg(session, args))
    emit(
        opts,
        session,
        {"saved": True, "acks": saved.acks, "list_id": saved.list_id},
        f"[green]saved[/green] on {saved.acks} replicas",
    )
    return EXIT_OK


def cmd_sync(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    expect(args, 0, 0, "sync")
    report = session.sync()
    doc = {"pushed": report.pushed, "pulled": report.pulled, "failed": report.failed}
    emit(
        opts,
        session,
        doc,
        f"pushed {len(report.pushed)}, pulled {len(report.pulled)}, failed {len(report.failed)}",
    )
    return EXIT_UNREACHABLE if report.failed else EXIT_OK


def cmd_delete(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    if "--everyone" in args:
        return cmd_delete_everyone(session, opts, [a for a in args if a != "--everyone"])
    expect(args, 1, 1, "delete LIST [--everyone]")
    list_id = list_arg(session, args)
    if not session.delete(list_id):
        raise UnknownList(list_id)
    text = (
        f"deleted {list_id} from this device only; others keep it; "
        f"`delete {list_id} --everyone` (owner) deletes it for all"
    )
    emit(opts, session, {"deleted": list_id, "everyone": False}, text)
    return EXIT_OK


#: How often ``watch`` looks at its connection, to say when it went or came back.
_LINK_POLL_S = 0.2


def cmd_watch(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Print what every published update changes in the local lists, in words
    (JSON lines with ``--json``), and when the cluster goes and comes back,
    until interrupted."""
    expect(args, 0, 0, "watch")
    session.close()

    def show(change: ListChange) -> None:
        if opts.json:
            doc = {"update": change.state.to_json(), "writer": change.writer}
            print(json.dumps({**doc, "changes": describe(change)}), flush=True)
        else:
            for line in describe(change):
                opts.console.print(line, markup=False, highlight=False)

    watcher = open_session(opts, subscribe=True, on_update=show)
    try:
        ids = watcher.store.ids()
        emit(opts, watcher, {"watching": ids}, f"watching {len(ids)} lists; Ctrl-C stops")
        _watch_link(watcher, opts)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
    return EXIT_OK


def _watch_link(watcher: ClientSession, opts: ClientOptions) -> None:
    """Say when the connection to the cluster is lost or comes back; runs until interrupted."""
    where = unreachable_message(watcher)
    up = watcher.connected() or watcher.wait_connected()
    if not up:
        emit(opts, watcher, {"link": "down"}, f"offline: {where}; waiting for it")
    stop = threading.Event()
    while not stop.wait(_LINK_POLL_S):
        now = watcher.connected()
        if now == up:
            continue
        up = now
        if up:
            emit(opts, watcher, {"link": "up"}, "connected to the cluster again")
        else:
            emit(opts, watcher, {"link": "down"}, f"offline: {where}; waiting for it")


def cmd_whoami(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """This client's public key: who it is to a secured cluster (made on first use)."""
    expect(args, 0, 0, "whoami")
    public = session.store.curve_keys()[0].decode()
    emit(
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


def cmd_web(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Serve the client's page on 127.0.0.1 (see :mod:`ui.web`) until interrupted."""
    # Imported here: no other command needs the web server.
    from ui.web import run_web  # noqa: PLC0415

    session.close()
    return run_web(opts, args)


_COMMANDS = {
    "create": cmd_create,
    "lists": cmd_lists,
    "show": cmd_show,
    "add": cmd_add,
    "remove": cmd_remove,
    "acquire": cmd_acquire,
    "rename": cmd_rename,
    "pull": cmd_pull,
    "push": cmd_push,
    "sync": cmd_sync,
    "delete": cmd_delete,
    "watch": cmd_watch,
    "whoami": cmd_whoami,
    **SHARING_COMMANDS,
    "shell": cmd_shell,
    "web": cmd_web,
}
