"""What ``run.py client`` promises before it runs anything: its commands (names,
usage, a line on what each does, an example), the shape of a client id, the
messages shared by every interface, and the exit codes.

``run.py`` builds its parser (``--help``, a command's own ``--help``, the
choices of ``command``, usage errors) from this plain data without importing
the client, which is most of a command's start-up; :mod:`ui.cli` runs the
commands and exports these names too. The exit codes are explained in
:mod:`ui.cli.commands`. This module imports nothing from the project.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = [
    "CLIENT_ID",
    "COMMANDS",
    "EXIT_DELETED",
    "EXIT_FORBIDDEN",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "HELP",
    "WEB_PARENT_ENV",
    "CommandHelp",
    "command_help",
    "commands_overview",
    "unreachable",
]


class CommandHelp(NamedTuple):
    """One command's help: its arguments, what it does (one line), an example."""

    usage: str
    summary: str
    example: str


#: Every client command, in the order ``--help`` lists them.
HELP: Final[dict[str, CommandHelp]] = {
    "create": CommandHelp("create NAME", "make a new list; prints its id", "create groceries"),
    "lists": CommandHelp("lists", "the lists held here, and which have unsaved edits", "lists"),
    "show": CommandHelp("show LIST", "print the local copy of a list", "show groceries"),
    "add": CommandHelp(
        "add LIST ITEM [QTY]", "need QTY more of ITEM (default 1)", "add groceries milk 2"
    ),
    "remove": CommandHelp("remove LIST ITEM", "take ITEM off the list", "remove groceries milk"),
    "acquire": CommandHelp(
        "acquire LIST ITEM [QTY]", "mark QTY of ITEM bought (default 1)", "acquire groceries milk 1"
    ),
    "rename": CommandHelp("rename LIST NAME", "give the list a new name", "rename groceries party"),
    "pull": CommandHelp(
        "pull LIST",
        "fetch the cluster's copy and merge it (LIST: a full id if not held here)",
        "pull 0b7c6f7e-1d2a-4c3b-9e8f-5a6b7c8d9e0f",
    ),
    "push": CommandHelp("push LIST", "send the whole local list to the cluster", "push groceries"),
    "sync": CommandHelp("sync", "push every pending edit, pull every list held here", "sync"),
    "delete": CommandHelp(
        "delete LIST [--everyone]",
        "delete the copy here (the cluster keeps it); --everyone: the owner deletes it for all",
        "delete groceries",
    ),
    "watch": CommandHelp(
        "watch", "print what changes in the lists held here, until Ctrl-C", "watch"
    ),
    "whoami": CommandHelp(
        "whoami", "this client's public key (what lists are shared with)", "whoami"
    ),
    "share": CommandHelp(
        "share LIST --with KEY [--read-only]",
        "give another client's key access (owner only)",
        "share groceries --with KEY --read-only",
    ),
    "invite": CommandHelp(
        "invite LIST [--read-only] [--expires 7d] | invite LIST --cancel ID",
        "print an invite link for the list (or cancel one)",
        "invite groceries --expires 7d",
    ),
    "join": CommandHelp(
        "join LINK", "redeem an invite link and fetch its list", "join 'shoplist://join/...'"
    ),
    "members": CommandHelp(
        "members LIST", "who has access to the list, and its open invites", "members groceries"
    ),
    "revoke": CommandHelp(
        "revoke LIST KEY", "take a member's access away (owner only)", "revoke groceries KEY"
    ),
    "shell": CommandHelp("shell", "the interactive menu", "shell"),
    "web": CommandHelp(
        "web [--port P]", "serve this client's page on 127.0.0.1; prints its URL", "web"
    ),
}

#: The client command names, in the order ``--help`` lists them.
COMMANDS: Final = tuple(HELP)

#: A client id names its folder (``var/clients/<id>``): a plain name, no path.
CLIENT_ID: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_UNKNOWN: Final = 3
EXIT_UNREACHABLE: Final = 4
EXIT_FORBIDDEN: Final = 5
EXIT_DELETED: Final = 6


def unreachable(endpoint: str | None) -> str:
    """The one message for a cluster that did not answer (``endpoint``: where it
    was tried; ``None``: no endpoint is known, e.g. no cluster was started here)."""
    if endpoint is None:
        return "the cluster is not reachable (no running cluster is known here)"
    return f"the cluster is not reachable at {endpoint}"


def command_help(command: str) -> str:
    """A command's own help: usage, what it does, an example."""
    entry = HELP[command]
    return (
        f"usage: run.py client --id NAME [options] {entry.usage}\n\n"
        f"{entry.summary}\n\nexample:\n  run.py client --id alice {entry.example}\n"
        "\nLIST is a list's id, a unique prefix of it, or its name when unique here."
    )


def commands_overview() -> str:
    """Every command with its arguments and one line of what it does."""
    width = max(len(h.usage) for h in HELP.values() if len(h.usage) < 40)
    lines = ["commands (LIST: an id, a unique id prefix, or a unique name):"]
    for entry in HELP.values():
        if len(entry.usage) > width:
            lines += [f"  {entry.usage}", f"  {'':{width}}  {entry.summary}"]
        else:
            lines.append(f"  {entry.usage:{width}}  {entry.summary}")
    lines.append(
        "\n`run.py client --id NAME COMMAND --help` shows a command's usage and an example."
    )
    return "\n".join(lines)


#: Set (to its pid) by a process that starts ``web`` as its child (the menu):
#: the page then stops when that process ends, however it ends.
WEB_PARENT_ENV: Final = "SHOPLIST_WEB_PARENT"
