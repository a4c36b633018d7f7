"""The sharing commands of ``run.py client``: share, invite, join, members,
revoke, and ``delete LIST --everyone``.

A list is shared by the public key of the other client (``whoami`` prints
one), or by an invite link that the other person redeems with ``join``.
Only the list's owner (the client that first saved it) can share, invite,
revoke and delete for everyone; a client without access is answered
``forbidden`` (exit 5).

A list deleted for everyone is archived in the cluster (its data stays on
the servers). Any command that reaches the cluster about it then removes
the local copy and says so: exit 6 for a command about that list, a note on
stderr for one that only met it (``sync``).
"""

from __future__ import annotations

import re
import sys
from typing import Any, Final

from actors.client import ClientSession
from protocol import AccessReply, Role
from protocol.access import Z85_KEY_PATTERN
from ui.cli.output import emit, expect, list_arg
from ui.client import ClientOptions
from ui.contract import EXIT_OK

__all__ = [
    "SHARING_COMMANDS",
    "cmd_delete_everyone",
    "deleted_message",
    "note_deleted",
    "parse_duration",
]

_KEY: Final = re.compile(Z85_KEY_PATTERN)
_DURATION: Final = re.compile(r"(\d+)([smhd]?)\Z")
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest invite the cluster accepts.
MAX_EXPIRY_S: Final = 10 * 365 * 86400


def parse_duration(text: str) -> int:
    """Seconds in ``7d``, ``12h``, ``30m``, ``90s`` or ``90``.

    Raises:
        ValueError: not such a duration, zero, or longer than ten years.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"a duration is a whole number with d, h, m or s (as 7d), got {text!r}")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not 0 < seconds <= MAX_EXPIRY_S:
        raise ValueError(f"a duration is between 1 s and 10 years, got {text!r}")
    return seconds


def _key(text: str) -> str:
    if _KEY.fullmatch(text) is None:
        raise ValueError(
            f"a client's key is the 40 characters that its `whoami` prints, got {text!r}"
        )
    return text


def _flags(args: list[str], valued: set[str], bare: set[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``args`` into positionals and ``--flag [value]`` options."""
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in valued:
            if i + 1 >= len(args):
                raise ValueError(f"{arg} needs a value")
            options[arg] = args[i + 1]
            i += 2
        elif arg in bare:
            options[arg] = ""
            i += 1
        elif arg.startswith("--"):
            raise ValueError(f"unknown option {arg}")
        else:
            positional.append(arg)
            i += 1
    return positional, options


def _doc(reply: AccessReply) -> dict[str, Any]:
    return {
        "list_id": reply.list_id,
        "you": reply.grant,
        "owner": reply.owner,
        "members": [{"key": key, "role": role} for key, role in reply.members],
        "invites": [
            {"id": h.hex()[:12], "role": role, "expires": expires}
            for h, role, expires in reply.invites
        ],
    }


def _text(reply: AccessReply) -> str:
    lines = [f"owner   {reply.owner}" + ("  (you)" if reply.grant == "owner" else "")]
    lines += [f"{role:<7} {key}" for key, role in reply.members]
    lines += [
        f"invite  {h.hex()[:12]}  {role}" + (f", expires at {expires} (Unix s)" if expires else "")
        for h, role, expires in reply.invites
    ]
    return "\n".join(lines)


def cmd_share(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Give another client's key access: editor, or viewer with --read-only."""
    positional, options = _flags(args, {"--with"}, {"--read-only"})
    expect(positional, 1, 1, "share LIST --with KEY [--read-only]")
    if "--with" not in options:
        raise ValueError("usage: share LIST --with KEY [--read-only]")
    role: Role = "viewer" if "--read-only" in options else "editor"
    reply = session.share(list_arg(session, positional), _key(options["--with"]), role)
    emit(opts, session, _doc(reply), f"shared with {options['--with']} as {role}")
    return EXIT_OK


def cmd_revoke(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Take a member's access away."""
    expect(args, 2, 2, "revoke LIST KEY")
    reply = session.revoke(list_arg(session, args), _key(args[1]))
    emit(opts, session, _doc(reply), f"revoked {args[1]}")
    return EXIT_OK


def cmd_invite(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Print a new invite link (or cancel one with --cancel ID, as `members` lists it)."""
    usage = "invite LIST [--read-only] [--expires 7d] | invite LIST --cancel ID"
    positional, options = _flags(args, {"--expires", "--cancel"}, {"--read-only"})
    expect(positional, 1, 1, usage)
    list_id = list_arg(session, positional)
    if "--cancel" in options:
        prefix = options["--cancel"].lower()
        matches = [h for h, _, _ in session.members(list_id).invites if h.hex().startswith(prefix)]
        if len(matches) != 1:
            raise ValueError(f"{len(matches)} open invites match {prefix!r}; `members` lists them")
        reply = session.cancel_invite(list_id, matches[0])
        emit(opts, session, _doc(reply), f"cancelled invite {prefix}")
        return EXIT_OK
    role: Role = "viewer" if "--read-only" in options else "editor"
    expires = parse_duration(options["--expires"]) if "--expires" in options else 0
    link, reply = session.invite(list_id, role, expires)
    doc = {**_doc(reply), "invite": str(link), "role": role, "expires_in_s": expires}
    if opts.json:
        emit(opts, session, doc, "")
    else:
        print(link)
    return EXIT_OK


def cmd_join(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Redeem an invite link and fetch the list."""
    expect(args, 1, 1, "join INVITE")
    state = session.join(args[0])
    emit(opts, session, {"list": state.to_json()}, f"joined {state.name!r} ({state.list_id})")
    return EXIT_OK


def cmd_members(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """Who has access to the list (and its open invites, for its owner)."""
    expect(args, 1, 1, "members LIST")
    reply = session.members(list_arg(session, args))
    emit(opts, session, _doc(reply), _text(reply))
    return EXIT_OK


def cmd_delete_everyone(session: ClientSession, opts: ClientOptions, args: list[str]) -> int:
    """``delete LIST --everyone``: the owner deletes the list for all its members."""
    expect(args, 1, 1, "delete LIST --everyone")
    list_id = list_arg(session, args)
    session.delete_everywhere(list_id)
    text = f"deleted {list_id} for everyone (the cluster keeps it archived)"
    emit(opts, session, {"deleted": list_id, "everyone": True}, text)
    return EXIT_OK


def deleted_message(list_id: str) -> str:
    """What a person is told of a list its owner deleted for everyone."""
    return f"list {list_id} was deleted by its owner; its copy on this device is removed"


def note_deleted(session: ClientSession, code: int) -> int:
    """After a command that succeeded: on stderr, a line per list the cluster
    said its owner deleted (their local copies are gone); ``code`` unchanged."""
    for list_id in sorted(session.deleted):
        print(deleted_message(list_id), file=sys.stderr, flush=True)
    return code


SHARING_COMMANDS: Final = {
    "share": cmd_share,
    "invite": cmd_invite,
    "join": cmd_join,
    "members": cmd_members,
    "revoke": cmd_revoke,
}
