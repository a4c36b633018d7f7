"""The write gate of a server: a client's frame is checked against this copy before it is stored.

A ``Store`` that names its ``writer`` (the public key, in Z85, of the client
whose ``Put`` the proxy relays) carries a frame that the client made; the
server checks it with :func:`crdt.validation.check_write` before merging it
(``docs/security.md``):

* against the cached copy of the list (loaded if need be, and its committed
  deltas joined into it; for a list out of the cache, first against its
  row's causal context and size alone, which is all the common write's
  check needs, :func:`crdt.validation.own_additions`), with the join of
  the states admitted earlier in the same poll as a witness; a hinted
  write (this server a stand-in) also with the hints held for the list;
* ``may_write`` from the writer's key: it may mint dots only under its own
  replica ids (:func:`crdt.replica_ids.may_write_for`).

:meth:`WriteGate.admit` prepares every Store's state as the server merges
it: a client's frame never changes who has access (its access part is
dropped), and the proxy's ``access`` change, if any, takes its place (the
proxy is an authenticated peer; a Store without a writer keeps its state's
access and joins the change into it). Stores without a writer (read repair,
anti-entropy, handoff: copies of genuine states) are not checked.

Costs: an add or acquire of the sender's own replica is checked in the
size of the frame plus the copy's cloud (and the join, in the size of each
frame, of the poll's earlier frames of the list, if any); the copy's size
comes from the cache's bound (:meth:`~actors.server.entries.Entry.size`),
not an encoding.

Runs on the server's bridge thread, which owns the store.
"""

from __future__ import annotations

import sqlite3
import struct
from typing import Final, Literal

from zmq.utils import z85

from actors.server.damage import StoreFull
from actors.server.store import ListStore
from crdt import (
    DEFAULT_LIMITS,
    Accepted,
    MayWrite,
    Refused,
    ShoppingList,
    check_write,
    may_write_for,
    observed_context,
)
from crdt.access import AccessList
from crdt.validation import own_additions
from crdt.write_limits import join_size_bound
from protocol import ProtocolError, Store
from protocol.limits import MAX_REASON_CHARS

__all__ = ["MAX_WRITERS_KEPT", "Admission", "WriteGate"]

#: Writers whose ``may_write`` is kept (all are forgotten beyond: a cache, not a record).
MAX_WRITERS_KEPT: Final = 4096

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
        #: the states admitted in this poll, by list: witnesses for the
        #: frames after them (committed with them, or not at all)
        self._poll: dict[str, _Earlier] = {}
        #: ``may_write`` of the writers seen lately (a client writes again and again)
        self._writers: dict[str, MayWrite] = {}

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
        as_sent = msg.access is None and (state.access is None or not msg.writer)
        if msg.writer:
            state.access = None
        if msg.access is not None:
            change = AccessList.from_state(msg.access)
            if state.access is None:
                state.access = change
            else:
                state.access.merge(change)
        if msg.writer:
            answer = self._check(msg, state, len(msg.state) if as_sent else None)
            if answer is not None:
                return answer
        earlier = self._poll.get(msg.list_id)
        if earlier is None:
            earlier = self._poll[msg.list_id] = _Earlier()
        earlier.add(state, len(msg.state) if as_sent else None)
        return None

    def _check(self, msg: Store, state: ShoppingList, size: int | None) -> Admission:
        may_write = self._writers.get(msg.writer)
        if may_write is None:
            try:
                may_write = may_write_for(z85.decode(msg.writer))
            except (ValueError, KeyError, struct.error):
                return "bad_request", "the writer is not a public key in Z85"
            if len(self._writers) >= MAX_WRITERS_KEPT:
                self._writers.clear()
            self._writers[msg.writer] = may_write
        hinted = bool(msg.hint) and msg.hint != self.node_id
        earlier = self._poll.get(msg.list_id)
        try:
            if not hinted and earlier is None and size is not None:
                # A list out of the cache: check_write's fast path needs only
                # the stored copy's context and size, so try it on the row's
                # head before decoding the list (actors.server.cold).
                head = self.store.head(msg.list_id)
                if head is not None and own_additions(
                    [head.context], state, may_write, DEFAULT_LIMITS, [head.size], size
                ):
                    return None
            knowledge = self.store.knowledge(msg.list_id, hinted)
        except (StoreFull, sqlite3.Error) as exc:
            return "unavailable", f"this replica cannot read the list ({type(exc).__name__})"
        witnesses = knowledge.witnesses
        sizes: list[int | None] = [None] * len(witnesses)
        if earlier is not None:
            witnesses.append(earlier.join())
            sizes.append(earlier.bound)
        try:
            # A frame that holds every dot it claims removes nothing: rule 3
            # (observed removes) has nothing to look at, so skip the decode.
            removes = len(state.context) != state.dot_count()
            observed = observed_context(msg.observed) if removes else None
        except ProtocolError as exc:
            return "bad_request", f"the observed context does not decode: {exc}"[:MAX_REASON_CHARS]
        verdict = check_write(
            knowledge.state,
            state,
            may_write,
            observed=observed,
            witnesses=witnesses,
            stored_size=knowledge.size,
            witness_sizes=sizes,
            incoming_size=size,
        )
        if isinstance(verdict, Accepted):
            return None
        reason = f"{verdict.kind}: {verdict.message}"[:MAX_REASON_CHARS]
        return ("refused" if isinstance(verdict, Refused) else "undecided"), reason


class _Earlier:
    """The states of one list admitted earlier in a poll, joined only when a
    later frame of the list is checked (most polls hold one write of a list)."""

    __slots__ = ("_joined", "_merged", "_sized", "bound", "states")

    def __init__(self) -> None:
        #: (state, its encoded size if known), in the order admitted
        self.states: list[tuple[ShoppingList, int | None]] = []
        self._joined: ShoppingList | None = None
        self._merged = 0
        self._sized = 0
        #: an upper bound on the encoded size of :meth:`join`
        #: (:func:`~crdt.write_limits.join_size_bound` of each state)
        self.bound = 0

    def add(self, state: ShoppingList, size: int | None) -> None:
        """Note an admitted state; it must not change after (it is not copied)."""
        self.states.append((state, size))

    def join(self) -> ShoppingList:
        """The join of the states so far, brought up to date (and ``bound`` with it)."""
        for state, size in self.states[self._sized :]:
            self.bound += join_size_bound(state, len(state.encode()) if size is None else size)
        self._sized = len(self.states)
        if self._joined is None:
            self._joined = self.states[0][0].copy()
            self._merged = 1
        for state, _ in self.states[self._merged :]:
            self._joined.merge(state)
        self._merged = len(self.states)
        return self._joined
