"""Writes that no replica could decide: the coordinator's part of the write gate.

Each replica checks a client's frame against its own copy before it stores
it (:func:`crdt.validation.check_write`, ``docs/security.md``). A copy that
lags behind the others cannot vouch for claims it has not seen, and answers
``undecided`` without writing. When fewer than W replicas accepted a write
and some were undecided, the coordinator (:mod:`actors.proxy.coordinator`):

1. fetches the list from every healthy owner, and from each stand-in that
   answered the write (:func:`check_slots`);
2. decides (:func:`decide`):

   * a replica accepted: the frame is genuine (a replica's knowledge holds
     only genuine writes, and never covers a forgery). Each undecided replica
     gets the join of the copies, as a repair (a ``Store`` without a writer,
     not checked), then the frame again: :class:`Resend`;
   * none accepted: the proxy checks the frame itself, with the copies as
     witnesses, ``complete`` only if every owner answered. Accepted: as
     above. Refused: the client is answered ``refused``. Undecided (an owner
     did not answer): ``unavailable``, and the client tries again later
     (:class:`Answer`).

A replica that is undecided again after its repair fails its slot; a
request is verified at most once (a replica undecided while the checks are
out is repaired with the others).

Pure code: no sockets, no I/O. Runs where the coordinator does, on the
proxy actor's bridge thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from zmq.utils import z85

from actors.kernel import Channel
from actors.proxy.membership import Membership
from actors.proxy.quorum import Request, Slot, SlotStatus
from actors.proxy.responder import Responder
from crdt import Accepted, Refused, ShoppingList, check_write, may_write_for, observed_context
from crdt.access import AccessList
from logs import Logger, Tracer
from protocol import (
    AccessState,
    ErrorCode,
    ErrorReply,
    Fetch,
    Message,
    ProtocolError,
    Put,
    Store,
    next_envelope,
)
from protocol.limits import MAX_REASON_CHARS

__all__ = [
    "Answer",
    "Decision",
    "Resend",
    "Verifier",
    "check_slots",
    "client_frame",
    "decide",
    "reason_of",
]


@dataclass(frozen=True)
class Resend:
    """Repair each undecided replica with ``state`` (the join of the copies
    fetched; ``None``: none was), then send it the frame again."""

    state: bytes | None


@dataclass(frozen=True)
class Answer:
    """Answer the client with this error; the frame is stored nowhere more."""

    code: ErrorCode
    reason: str


Decision = Resend | Answer


def client_frame(blob: bytes, access: AccessState | None) -> ShoppingList:
    """A client's frame as a replica merges it: its own access part ignored
    (a client never changes who has access), the proxy's ``access`` change in
    its place.

    Raises:
        ProtocolError: the blob is not a list state.
    """
    frame = ShoppingList.decode(blob)
    frame.access = None if access is None else AccessList.from_state(access)
    return frame


def reason_of(verdict: Refused) -> str:
    """The reason an ``ErrorReply`` gives for a refusal: ``<kind>: <message>``."""
    return f"{verdict.kind}: {verdict.message}"[:MAX_REASON_CHARS]


def check_slots(req: Request, healthy: Callable[[str], bool]) -> list[Slot]:
    """The fetches that verify ``req``: one of each healthy owner's copy, and
    one of each stand-in that answered the write (it holds hints, which are
    copies too). A check slot's ``owner`` is the owner it reads for."""
    checks = [Slot(owner, node=owner, check=True) for owner in req.owners if healthy(owner)]
    seen = {slot.node for slot in checks}
    for slot in req.slots:
        if slot.status in ("ok", "undecided") and slot.node not in seen:
            seen.add(slot.node)
            checks.append(Slot(slot.owner, node=slot.node, check=True))
    return checks


def decide(req: Request) -> Decision:
    """What to do with a write once its checks are answered (see the module
    docstring). ``req`` is a client's Put, with a writer."""
    msg = req.msg
    assert isinstance(msg, Put)  # only a client's write is verified
    copies, owners_read = _copies(req, msg.list_id)
    joined = _join(copies)
    state = None if joined is None else joined.encode()
    if req.ok:
        if state is None:
            return Answer("unavailable", "no replica's copy could be read to repair the others")
        return Resend(state)
    answer = _check(req, msg, copies, owners_read)
    return Resend(state) if answer is None else answer


def _copies(req: Request, list_id: str) -> tuple[list[ShoppingList], set[str]]:
    """The copies the checks read, and the owners that answered (with a copy
    or without: a not-found is an answer)."""
    copies: list[ShoppingList] = []
    owners_read: set[str] = set()
    for slot in req.checks:
        if slot.status != "ok":
            continue
        if slot.blob is not None:
            try:
                copy = ShoppingList.decode(slot.blob)
            except ProtocolError:
                continue  # a bad copy is no knowledge: that owner did not answer
            if copy.list_id != list_id:
                continue
            copies.append(copy)
        if slot.node == slot.owner:
            owners_read.add(slot.owner)
    return copies, owners_read


def _check(
    req: Request, msg: Put, copies: list[ShoppingList], owners_read: set[str]
) -> Answer | None:
    """The proxy's own check of a frame no replica accepted: ``None`` if accepted."""
    try:
        frame = client_frame(msg.state, req.access)
        may_write = may_write_for(z85.decode(req.writer))
    except (ProtocolError, ValueError) as exc:
        return Answer("bad_request", f"the write cannot be checked: {exc}"[:MAX_REASON_CHARS])
    if frame.list_id != msg.list_id:
        return Answer("bad_request", "state belongs to another list")
    complete = set(req.owners) <= owners_read
    verdict = check_write(
        None,
        frame,
        may_write,
        observed=observed_context(req.observed),
        witnesses=copies,
        complete=complete,
    )
    if isinstance(verdict, Accepted):
        return None
    if isinstance(verdict, Refused):
        return Answer("refused", reason_of(verdict))
    missing = len(set(req.owners) - owners_read)
    return Answer(
        "unavailable",
        f"no replica could decide the write, and {missing} of the list's owners did not answer",
    )


class _Coordinator(Protocol):
    """What the verifier uses of the :class:`~actors.proxy.coordinator.Coordinator`."""

    membership: Membership
    responder: Responder
    node_id: str
    tracer: Tracer
    log: Logger

    def _new_id(self) -> str: ...
    def _send(self, node: str, msg: Message) -> None: ...
    def _attempt(self, req: Request, slot: Slot, node: str, now: float) -> None: ...
    def _dispatch(self, req: Request, slot: Slot, out: Message, now: float) -> None: ...
    def _settle(self, req: Request, now: float) -> None: ...
    def _replied(self, req: Request, now: float, congested: bool) -> None: ...


class Verifier:
    """The coordinator's handling of the write gate's answers (see the module
    docstring); it sends and settles through the coordinator that owns it."""

    def __init__(self, coordinator: _Coordinator) -> None:
        self._c = coordinator

    def gated(self, req: Request, slot: Slot, msg: ErrorReply, now: float) -> None:
        """A replica refused a client's frame (final: it is the client's answer,
        not retried elsewhere), or could not decide it (its copy may lag)."""
        c = self._c
        if msg.code == "undecided" and req.kind == "put" and not req.verified:
            req.finish(slot, "undecided")  # repaired and resent once the checks are in
        else:
            req.finish(slot, "failed")
            if msg.code == "refused" and not req.replied:
                c._replied(req, now, congested=False)
                channel: Channel = "backend" if req.kind == "handoff" else "frontend"
                c.responder.error(req.peer, req.msg, "refused", msg.reason, channel)
        c._settle(req, now)

    def escalate(self, req: Request, now: float) -> None:
        """Fewer than W accepted and some could not decide: fetch every owner's
        copy (the request is answered once the checks are)."""
        c, m = self._c, req.msg
        req.escalated = True
        req.checks = check_slots(req, c.membership.healthy)
        req.checking = len(req.checks)
        if m.traced:
            c.tracer.hop(c.log, "proxy.verify", m, nodes=[check.node for check in req.checks])
        for check in req.checks:
            check.msg_id = c._new_id()
            out = Fetch(**next_envelope(m, check.msg_id, c.node_id), list_id=m.list_id)
            c._dispatch(req, check, out, now)
        if not req.checks:
            self._verified(req, now)

    def checked(self, req: Request, check: Slot, status: SlotStatus, now: float) -> None:
        """A check was answered (``"ok"``, its copy in ``check.blob``) or failed."""
        check.status = status
        req.checking -= 1
        if req.checking == 0:
            self._verified(req, now)

    def _verified(self, req: Request, now: float) -> None:
        """Every check is in: repair the undecided replicas and send them the
        frame again, or answer the client (see :func:`decide`)."""
        c, m = self._c, req.msg
        req.verified = True
        if not req.replied:
            decision = decide(req)
            if isinstance(decision, Answer):
                c._replied(req, now, congested=False)
                c.responder.error(req.peer, m, decision.code, decision.reason)
            else:
                for slot in req.slots:
                    if slot.status != "undecided":
                        continue
                    if decision.state is not None:
                        # Sent before the frame on the same link: the replica
                        # stores the repair (unchecked), then checks the frame.
                        repair = Store(
                            **next_envelope(m, c._new_id(), c.node_id),
                            list_id=m.list_id,
                            state=decision.state,
                            hint=slot.owner if slot.node != slot.owner else "",
                        )
                        c._send(slot.node, repair)
                    req.resume(slot)
                    c._attempt(req, slot, slot.node, now)
        c._settle(req, now)


def _join(copies: list[ShoppingList]) -> ShoppingList | None:
    if not copies:
        return None
    joined = copies[0].copy()
    for copy in copies[1:]:
        joined.merge(copy)
    return joined
