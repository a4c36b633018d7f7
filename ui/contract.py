"""What ``run.py client`` promises before it runs anything: its command names
and exit codes.

``run.py`` builds its parser (``--help``, the choices of ``command``, usage
errors) from these names without importing the client, which is most of a
command's start-up; :mod:`ui.cli` runs the commands and exports these names
too. The exit codes are explained in :mod:`ui.cli.commands`. This module
imports nothing from the project.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COMMANDS",
    "EXIT_FORBIDDEN",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
]

#: The client commands, in the order ``--help`` lists them.
COMMANDS: Final = (
    "create",
    "lists",
    "show",
    "add",
    "remove",
    "acquire",
    "pull",
    "push",
    "sync",
    "delete",
    "watch",
    "whoami",
    "share",
    "invite",
    "join",
    "members",
    "revoke",
    "shell",
    "web",
)

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_UNKNOWN: Final = 3
EXIT_UNREACHABLE: Final = 4
EXIT_FORBIDDEN: Final = 5
