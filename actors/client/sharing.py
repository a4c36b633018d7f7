"""A client session's sharing: who may read and edit a list, and invites to it.

:class:`SharingMixin` is the part of :class:`~actors.client.session.ClientSession`
that asks the cluster to change or show a list's access: share and revoke by
key, invite links (:class:`~actors.client.invites.InviteLink`), members, and
deleting a list for everyone. Each is one request (see
:class:`~actors.client.requests.RequestsMixin`) answered with an
:class:`~protocol.AccessReply`; the cluster refuses with
:class:`~actors.client.link.Forbidden` what this client's key may not do.

It holds no state of its own: the attributes it declares are the session's.
"""

from __future__ import annotations

from collections.abc import Callable

from actors.client.invites import InviteLink, new_invite, parse_invite
from actors.client.link import ClusterUnavailable
from actors.client.requests import RequestsMixin
from crdt import ShoppingList
from protocol import (
    AccessReply,
    Archive,
    CancelInvite,
    Invite,
    Join,
    Members,
    Message,
    Revoke,
    Role,
    Share,
)

__all__ = ["SharingMixin"]


class SharingMixin(RequestsMixin):
    """Sharing and access of a :class:`~actors.client.session.ClientSession`."""

    #: the session's :meth:`~actors.client.session.ClientSession.flush`
    flush: Callable[[str], bool]

    def whoami(self) -> str:
        """This client's public key (Z85): what others share lists with."""
        return self.store.curve_keys()[0].decode()

    def share(self, list_id: str, key: str, role: Role = "editor") -> AccessReply:
        """Give the client of ``key`` ``role`` on a list this client owns.

        A list not saved by the cluster yet is pushed first (its first write
        makes this client its owner).

        Raises:
            Forbidden: this client is not the list's owner.
            ClusterUnreachable, ClusterUnavailable: nothing changed.
        """
        self._saved_first(list_id)
        return self._access(
            lambda mid, tid, traced: Share(
                **self._envelope(mid, tid, traced), list_id=list_id, key=key, role=role
            )
        )

    def revoke(self, list_id: str, key: str) -> AccessReply:
        """Take the access of the client of ``key`` away (as :meth:`share`)."""
        return self._access(
            lambda mid, tid, traced: Revoke(
                **self._envelope(mid, tid, traced), list_id=list_id, key=key
            )
        )

    def delete_everywhere(self, list_id: str) -> AccessReply:
        """Delete a list this client owns for everyone (the cluster archives
        it: its data stays on the servers), then the local copy.

        Raises:
            Forbidden: this client is not the list's owner; nothing changed.
            ListDeleted: it was deleted for everyone already.
            ClusterUnreachable, ClusterUnavailable: nothing changed.
        """
        self._saved_first(list_id)
        reply = self._access(
            lambda mid, tid, traced: Archive(**self._envelope(mid, tid, traced), list_id=list_id)
        )
        self.store.delete(list_id)
        return reply

    def invite(
        self, list_id: str, role: Role = "editor", expires_in_s: int = 0
    ) -> tuple[InviteLink, AccessReply]:
        """A new invite to a list this client owns: whoever redeems it
        (:meth:`join`) gets ``role``, until ``expires_in_s`` (0: never) or a cancel."""
        self._saved_first(list_id)
        link = new_invite(list_id)
        reply = self._access(
            lambda mid, tid, traced: Invite(
                **self._envelope(mid, tid, traced),
                list_id=list_id,
                secret_hash=link.secret_hash,
                role=role,
                expires_in_s=expires_in_s,
            )
        )
        return link, reply

    def cancel_invite(self, list_id: str, secret_hash: bytes) -> AccessReply:
        """Close one of the list's invites (its hash, as :meth:`members` shows them)."""
        return self._access(
            lambda mid, tid, traced: CancelInvite(
                **self._envelope(mid, tid, traced), list_id=list_id, secret_hash=secret_hash
            )
        )

    def join(self, invite: str) -> ShoppingList:
        """Redeem an invite and fetch the list.

        Raises:
            ValueError: ``invite`` is not an invite link.
            Forbidden: the invite is unknown, cancelled or expired.
        """
        link = parse_invite(invite)
        self._access(
            lambda mid, tid, traced: Join(
                **self._envelope(mid, tid, traced), list_id=link.list_id, secret=link.secret
            )
        )
        return self.pull(link.list_id)

    def members(self, list_id: str) -> AccessReply:
        """Who has access to the list (open invites too, for its owner)."""
        return self._access(
            lambda mid, tid, traced: Members(**self._envelope(mid, tid, traced), list_id=list_id)
        )

    def _saved_first(self, list_id: str) -> None:
        if self.store.load(list_id) is not None and self.store.has_pending(list_id):
            self.flush(list_id)

    def _access(self, build: Callable[[str, str, bool], Message]) -> AccessReply:
        reply = self._request(build)
        if not isinstance(reply, AccessReply):
            raise ClusterUnavailable(f"unexpected answer {type(reply).__name__}")
        return reply
