"""The commands of ``run.py``: a client's commands, and the operator's ``status`` and ``trace``."""

from ui.cli.commands import (
    COMMANDS,
    EXIT_FORBIDDEN,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    run_client,
)
from ui.cli.ops import print_status, print_trace, read_trace, status_to_json

__all__ = [
    "COMMANDS",
    "EXIT_FORBIDDEN",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "print_status",
    "print_trace",
    "read_trace",
    "run_client",
    "status_to_json",
]
