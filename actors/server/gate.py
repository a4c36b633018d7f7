"""The write gate of a server: a client's frame is checked against this copy before it is stored.

A ``Store`` that names its ``writer`` (the public key, in Z85, of the client
whose ``Put`` the proxy relays) carries a frame that the client made; the
server checks it with :func:`crdt.validation.check_write` before merging it
(``docs/security.md``):

* against the cached copy of the list (loaded if need be), with the deltas
  committed and not yet joined into it, and the states accepted earlier in
  the same poll, as witnesses; a hinted write (this server a stand-in) also
  with the hints held for the list;
* ``may_write`` from the writer's key: it may mint dots only under its own
  replica ids (:func:`crdt.replica_ids.may_write_for`).

:meth:`WriteGate.admit` prepares every Store's state as the server merges
it: a client's frame never changes who has access (its access part is
dropped), and the proxy's ``access`` change, if any, takes its place (the
proxy is an authenticated peer; a Store without a writer keeps its state's
access and joins the change into it). Stores without a writer (read repair,
anti-entropy, handoff: copies of genuine states) are not checked.

Costs: an add or acquire of the sender's own replica is checked in the
size of the frame plus the copy's cloud; the copy's size comes from the
cache's bound (:meth:`~actors.server.entries.Entry.size`), not an encoding.

Runs on the server's bridge thread, which owns the store.
"""

from __future__ import annotations

import sqlite3
import struct
from typing import Literal

from zmq.utils import z85

from actors.server.damage import StoreFull
from actors.server.store import ListStore
from crdt import Accepted, Refused, ShoppingList, check_write, may_write_for
from crdt.access import AccessList
from protocol import Store
from protocol.limits import MAX_REASON_CHARS

__all__ = ["Admission", "WriteGate"]

#: What :meth:`WriteGate.admit` decided: merge (``None``), or the error code
#: and reason to answer instead.
Admission = tuple[Literal["refused", "undecided", "bad_request", "unavailable"], str] | None


class WriteGate:
    """Checks the client frames of each poll; see the module docstring.

    Args:
        store: the server's store.
        node_id: this server's id (a hint naming it is a write of its own).
    """

    def __init__(self, store: ListStore, node_id: str) -> None:
        self.store = store
        self.node_id = node_id
        #: the states accepted in this poll, by list: witnesses for the
        #: frames after them (committed with them, or not at all)
        self._poll: dict[str, list[ShoppingList]] = {}

    def begin(self) -> None:
        """A new poll: forget the states of the last one."""
        self._poll = {}

    def admit(self, msg: Store, state: ShoppingList) -> Admission:
        """Prepare ``state`` (``msg``'s, decoded and of its list) for the merge,
        and check it if a client made it.

        Returns:
            ``None``: merge it (it is then a witness for the rest of the
            poll). Otherwise the answer: ``refused`` (final, ``<kind>:
            <message>``), ``undecided`` (this copy cannot vouch for what the
            frame claims), ``bad_request`` (the writer is not a key), or
            ``unavailable`` (the copy could not be read). Nothing is stored.
        """
        if msg.writer:
            state.access = None
        if msg.access is not None:
            change = AccessList.from_state(msg.access)
            if state.access is None:
                state.access = change
            else:
                state.access.merge(change)
        if msg.writer:
            answer = self._check(msg, state)
            if answer is not None:
                return answer
        self._poll.setdefault(msg.list_id, []).append(state)
        return None

    def _check(self, msg: Store, state: ShoppingList) -> Admission:
        try:
            may_write = may_write_for(z85.decode(msg.writer))
        except (ValueError, KeyError, struct.error):
            return "bad_request", "the writer is not a public key in Z85"
        hinted = bool(msg.hint) and msg.hint != self.node_id
        try:
            knowledge = self.store.knowledge(msg.list_id, hinted)
        except (StoreFull, sqlite3.Error) as exc:
            return "unavailable", f"this replica cannot read the list ({type(exc).__name__})"
        witnesses = knowledge.witnesses
        earlier = self._poll.get(msg.list_id)
        if earlier:
            witnesses = [*witnesses, *earlier]
        verdict = check_write(
            knowledge.state, state, may_write, witnesses=witnesses, stored_size=knowledge.size
        )
        if isinstance(verdict, Accepted):
            return None
        reason = f"{verdict.kind}: {verdict.message}"[:MAX_REASON_CHARS]
        return ("refused" if isinstance(verdict, Refused) else "undecided"), reason
