"""A list's access list: who owns it, who may read or change it, open invites.

A join-semilattice, replicated with the list (it travels in the list's
state, :attr:`crdt.ShoppingList.access`), so it converges as the items do.

State
    * ``owner``: the key that first stored the list. Two owners can only
      meet if two keys created the same list id apart (list ids are random
      uuid4s, so never by chance); the join then keeps the smaller key, so
      every copy agrees.
    * ``members``: key -> (epoch, rank), rank 0 editor, 1 viewer, 2 revoked.
      The join keeps the greater pair. A change of a member writes the next
      epoch of what its writer saw, so a later change wins; two concurrent
      changes share an epoch and the greater rank wins: a revoke beats a
      grant, and viewer beats editor (the safe side).
    * ``invites``: SHA-256 of a secret -> (rank, expiry, cancelled). The
      join keeps the lesser access: the greater rank, the earlier expiry,
      cancelled once cancelled anywhere.
    * ``archived``: the owner deleted the list for everyone. The join is
      ``or``: once archived anywhere, archived for good (the data stays on
      the replicas; the proxy answers ``deleted`` for it).

Mutators return a delta (an :class:`AccessList` with what changed), which
joins like a full state. Pure code: no clock is read here; expiry is
compared with the ``now_s`` (Unix seconds) a caller passes.

Thread safety: none; an access list belongs to one thread at a time.
"""

from __future__ import annotations

from typing import Final

from typing_extensions import override

from protocol.access import AccessState, Grant, Role

__all__ = ["AccessList"]

_RANK_OF: Final[dict[Role, int]] = {"editor": 0, "viewer": 1}
_ROLE_OF: Final[dict[int, Role]] = {0: "editor", 1: "viewer"}
REVOKED: Final = 2
#: An invite without expiry, in comparisons (its wire form says 0).
_NEVER: Final = 2**62

Member = tuple[int, int]  # (epoch, rank)
Invite = tuple[int, int, bool]  # (rank, expires_s or 0, cancelled)


class AccessList:
    """Who may read and change one list; see the module docstring."""

    __slots__ = ("archived", "invites", "members", "owner")

    def __init__(self, owner: str = "", archived: bool = False) -> None:
        self.owner = owner
        self.members: dict[str, Member] = {}
        self.invites: dict[bytes, Invite] = {}
        self.archived = archived

    # ------------------------------------------------------------------ queries

    def __bool__(self) -> bool:
        return bool(self.owner or self.members or self.invites or self.archived)

    def grant_of(self, key: str) -> Grant | None:
        """What ``key`` may do: ``"owner"``, a role, or ``None`` (no access)."""
        if key == self.owner:
            return "owner"
        member = self.members.get(key)
        if member is None or member[1] == REVOKED:
            return None
        return _ROLE_OF[member[1]]

    def may_read(self, key: str) -> bool:
        return self.grant_of(key) is not None

    def may_write(self, key: str) -> bool:
        return self.grant_of(key) in ("owner", "editor")

    def roles(self) -> list[tuple[str, Role]]:
        """Every member that has access, with its role, sorted by key."""
        return [
            (key, _ROLE_OF[rank])
            for key, (_, rank) in sorted(self.members.items())
            if rank != REVOKED
        ]

    def open_invites(self, now_s: float) -> list[tuple[bytes, Role, int]]:
        """Invites neither cancelled nor expired at ``now_s``: (hash, role, expiry or 0)."""
        return [
            (h, _ROLE_OF[rank], expires)
            for h, (rank, expires, cancelled) in sorted(self.invites.items())
            if not cancelled and (expires or _NEVER) > now_s
        ]

    def invite_role(self, secret_hash: bytes, now_s: float) -> Role | None:
        """The role an invite grants at ``now_s``, or ``None`` (unknown, cancelled, expired)."""
        invite = self.invites.get(secret_hash)
        if invite is None:
            return None
        rank, expires, cancelled = invite
        if cancelled or (expires or _NEVER) <= now_s:
            return None
        return _ROLE_OF[rank]

    # ---------------------------------------------------------------- mutators

    def claim(self, owner: str) -> AccessList:
        """Make ``owner`` the owner of a list that has none."""
        if self.owner:
            raise ValueError("the list has an owner already")
        if not owner:
            raise ValueError("an owner is a public key, not empty")
        self.owner = owner
        return AccessList(owner)

    def share(self, key: str, role: Role) -> AccessList:
        """Give ``key`` ``role`` (after any change of it seen here)."""
        return self._set(key, _RANK_OF[role])

    def revoke(self, key: str) -> AccessList:
        """Take ``key``'s access away; wins over a concurrent :meth:`share`."""
        return self._set(key, REVOKED)

    def _set(self, key: str, rank: int) -> AccessList:
        if key == self.owner:
            raise ValueError("the owner's access cannot change")
        epoch = self.members.get(key, (0, 0))[0] + 1
        self.members[key] = (epoch, rank)
        delta = AccessList()
        delta.members[key] = (epoch, rank)
        return delta

    def archive(self) -> AccessList:
        """Mark the list deleted for everyone (for good); the delta says just that."""
        self.archived = True
        return AccessList(archived=True)

    def invite(self, secret_hash: bytes, role: Role, expires_s: int) -> AccessList:
        """Open an invite; ``expires_s`` is Unix seconds, 0 for none."""
        entry = (_RANK_OF[role], expires_s, False)
        self._join_invite(secret_hash, entry)
        delta = AccessList()
        delta.invites[secret_hash] = entry
        return delta

    def cancel(self, secret_hash: bytes) -> AccessList:
        """Close an invite for good."""
        rank, expires, _ = self.invites.get(secret_hash, (1, 0, True))
        entry = (rank, expires, True)
        self.invites[secret_hash] = entry
        delta = AccessList()
        delta.invites[secret_hash] = entry
        return delta

    # ------------------------------------------------------------------ lattice

    def merge(self, other: AccessList) -> None:
        """Join ``other`` into this access list, in place."""
        if other.owner and (not self.owner or other.owner < self.owner):
            self.owner = other.owner
        members = self.members
        for key, entry in other.members.items():
            mine = members.get(key)
            if mine is None or entry > mine:
                members[key] = entry
        for h, invite in other.invites.items():
            self._join_invite(h, invite)
        self.archived = self.archived or other.archived

    def _join_invite(self, secret_hash: bytes, invite: Invite) -> None:
        mine = self.invites.get(secret_hash)
        if mine is None:
            self.invites[secret_hash] = invite
            return
        expiry = min(mine[1] or _NEVER, invite[1] or _NEVER)
        self.invites[secret_hash] = (
            max(mine[0], invite[0]),
            0 if expiry == _NEVER else expiry,
            mine[2] or invite[2],
        )

    def leq(self, other: AccessList) -> bool:
        """True when merging this into ``other`` changes nothing."""
        if self.owner and (not other.owner or self.owner < other.owner):
            return False
        if self.archived and not other.archived:
            return False
        theirs = other.members
        if any(key not in theirs or entry > theirs[key] for key, entry in self.members.items()):
            return False
        probe = other.copy()
        for h, invite in self.invites.items():
            probe._join_invite(h, invite)
        return probe.invites == other.invites

    def copy(self) -> AccessList:
        new = AccessList(self.owner, self.archived)
        new.members = dict(self.members)
        new.invites = dict(self.invites)
        return new

    @override
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccessList):
            return NotImplemented
        return (self.owner, self.members, self.invites, self.archived) == (
            other.owner,
            other.members,
            other.invites,
            other.archived,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    @override
    def __repr__(self) -> str:
        owner, members, invites = self.owner[:8], len(self.members), len(self.invites)
        return (
            f"AccessList(owner={owner!r}, members={members}, invites={invites}, "
            f"archived={self.archived})"
        )

    # ---------------------------------------------------------- serialisation

    def to_state(self) -> AccessState:
        """The canonical wire form: both tables sorted."""
        return AccessState(
            owner=self.owner,
            members=[(k, e, r) for k, (e, r) in sorted(self.members.items())],
            invites=[(h, r, x, c) for h, (r, x, c) in sorted(self.invites.items())],
            archived=self.archived,
        )

    @classmethod
    def from_state(cls, state: AccessState) -> AccessList:
        """From the wire form; a key or hash listed twice keeps the join of its entries."""
        new = cls(state.owner, state.archived)
        for key, epoch, rank in state.members:
            mine = new.members.get(key)
            if mine is None or (epoch, rank) > mine:
                new.members[key] = (epoch, rank)
        for h, rank, expires, cancelled in state.invites:
            new._join_invite(h, (rank, expires, cancelled))
        return new
