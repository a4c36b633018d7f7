"""The wire form of a list's access list, and the field types of sharing.

Plain data, as :mod:`protocol.state` is for the items: :mod:`crdt.access`
converts to and from :class:`AccessState` and owns the join. A public key is
a client's CURVE public key in Z85 (40 characters); the cluster knows a
client by it, read from the authenticated connection.

The encoding is canonical: ``crdt`` sorts both tables, so equal access lists
encode to equal bytes.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from protocol.types import Count

__all__ = [
    "MAX_INVITES",
    "MAX_MEMBERS",
    "OWNER_PATTERN",
    "Z85_KEY_PATTERN",
    "AccessState",
    "Grant",
    "InviteEntry",
    "MemberEntry",
    "PublicKey",
    "Rank",
    "Role",
    "Secret",
    "SecretHash",
]

#: 40 characters of the Z85 alphabet: a 32-byte CURVE public key.
Z85_KEY_PATTERN: Final = r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}\Z"
PublicKey = Annotated[str, msgspec.Meta(pattern=Z85_KEY_PATTERN)]
OWNER_PATTERN: Final = r"^(?:[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40})?\Z"
#: What a member may do; the owner may also change who is a member.
Role = Literal["editor", "viewer"]
#: Someone's access to a list, as the proxy answers it.
Grant = Literal["owner", "editor", "viewer"]
#: 0 editor, 1 viewer, 2 revoked: the higher, the less access.
Rank = Annotated[int, msgspec.Meta(ge=0, le=2)]
#: The secret of an invite (what the link holds), and its SHA-256 (what the cluster keeps).
Secret = Annotated[bytes, msgspec.Meta(min_length=16, max_length=64)]
SecretHash = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]

MAX_MEMBERS: Final = 10_000
MAX_INVITES: Final = 1_000

#: (member key, epoch, rank): the entry with the greatest (epoch, rank) wins.
MemberEntry = tuple[PublicKey, Count, Rank]
#: An invite's expiry in Unix seconds, 0 for none (below 2**62, which the join
#: uses for "never").
Expiry = Annotated[int, msgspec.Meta(ge=0, lt=2**62)]
#: (SHA-256 of the secret, rank, expiry, cancelled)
InviteEntry = tuple[SecretHash, Annotated[int, msgspec.Meta(ge=0, le=1)], Expiry, bool]


class AccessState(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Who may read and change a list: its owner, members and open invites,
    and whether its owner deleted it for everyone.

    ``archived`` is last, with a default: the three-field access lists
    stored before it existed still decode (as not archived).
    """

    #: the key that first stored the list; empty in a delta that does not set it
    owner: Annotated[str, msgspec.Meta(pattern=OWNER_PATTERN)]
    members: Annotated[list[MemberEntry], msgspec.Meta(max_length=MAX_MEMBERS)]
    invites: Annotated[list[InviteEntry], msgspec.Meta(max_length=MAX_INVITES)]
    #: the owner deleted the list for everyone; once true, true for good
    archived: bool = False
