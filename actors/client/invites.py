"""Invites: what an owner sends to let someone join a list.

An invite is a ``shoplist:`` link that holds the list id and a random
secret (32 bytes, URL-safe base64). The cluster keeps only the secret's
SHA-256, with the role it grants and its expiry; whoever shows the secret
(``Join``) becomes a member. Pure code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final

from typing_extensions import override

from protocol.types import UUID4_PATTERN

__all__ = ["SCHEME", "InviteLink", "new_invite", "parse_invite"]

SCHEME: Final = "shoplist:"
SECRET_BYTES: Final = 32
_LINK: Final = re.compile(
    rf"(?:{SCHEME}(?://join/)?)?({UUID4_PATTERN[1:-2]})[/#:]([A-Za-z0-9_-]{{43}})\Z"
)


@dataclass(frozen=True)
class InviteLink:
    """A list id and the secret of one of its invites. ``repr`` hides the secret."""

    list_id: str
    secret: bytes

    @property
    def secret_hash(self) -> bytes:
        """What the cluster keeps of the secret."""
        return hashlib.sha256(self.secret).digest()

    @override
    def __str__(self) -> str:
        token = base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()
        return f"{SCHEME}//join/{self.list_id}/{token}"

    @override
    def __repr__(self) -> str:
        return f"InviteLink({self.list_id!r}, secret=...)"


def new_invite(list_id: str) -> InviteLink:
    """A fresh invite to ``list_id`` with an unguessable secret."""
    return InviteLink(list_id, secrets.token_bytes(SECRET_BYTES))


def parse_invite(text: str) -> InviteLink:
    """The invite in ``text``: a ``shoplist://join/<list id>/<secret>`` link
    (or ``<list id>/<secret>``).

    Raises:
        ValueError: it is not an invite.
    """
    match = _LINK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an invite link (expected {SCHEME}//join/LIST-ID/SECRET)")
    try:
        secret = base64.urlsafe_b64decode(match.group(2) + "=")
    except (binascii.Error, ValueError):
        raise ValueError("the invite's secret is damaged") from None
    return InviteLink(match.group(1), secret)
