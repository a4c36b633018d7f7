"""What a quorum request answers once it is decided: replies, publication, read repair.

:class:`Responder` builds and sends what the :class:`~actors.proxy.coordinator.Coordinator`
decided: a write's ``Saved`` (and its publication to subscribers), a
handoff's ``Stored``, a read's ``ListReply`` with the join of the replicas'
copies (:func:`join_copies`), an error, and, once every slot of a read is
done, the read repairs: the join sent to each owner whose copy was behind.

No I/O here: the coordinator passes the proxy actor's callables to send,
reply and publish. Runs where the coordinator does: on the proxy actor's
bridge thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.kernel import Channel
from actors.proxy.quorum import Request
from crdt import ShoppingList
from crdt.copies import Head, dominant, head_of
from logs import Logger, Tracer
from protocol import (
    ErrorCode,
    ErrorReply,
    Get,
    Handoff,
    ListReply,
    Message,
    ProtocolError,
    Put,
    Saved,
    Store,
    Stored,
    Update,
    next_envelope,
    reply_envelope,
)
from protocol.limits import MAX_ID_CHARS

__all__ = ["Publish", "Reply", "Responder", "Send", "join_copies"]


def _has_seen(blob: bytes, top: Head, best: bytes) -> bool:
    """Whether the copy ``blob`` has seen everything the join ``best`` (whose
    head is ``top``) has: from their heads, or, where their access lists
    differ, from the decoded states.

    Raises:
        ProtocolError: a copy does not decode.
    """
    head = head_of(blob)
    if head.access == top.access:
        return head.covers(top)
    return ShoppingList.decode(best).compare(ShoppingList.decode(blob))


Send = Callable[[str, Message], None]
#: (channel, peer, message): frontend for clients, backend for servers
Reply = Callable[[Channel, bytes, Message], None]
#: (list id, a maker of the update): the update is made only if somebody
#: watches the list (most saved writes have no watcher)
Publish = Callable[[str, Callable[[], Update]], None]


def join_copies(blobs: list[bytes | None]) -> bytes | None:
    """The join of the replicas' copies; skips the work when they agree, or
    when one has seen what the others have (:func:`crdt.copies.dominant`:
    it is their join, read from the copies' contexts without the items).

    Raises:
        ProtocolError: a copy does not decode.
    """
    present = [b for b in blobs if b is not None]
    if not present:
        return None
    if all(b == present[0] for b in present):
        return present[0]
    top = dominant(present)
    if top is not None:
        return top
    merged = ShoppingList.decode(present[0])
    for blob in present[1:]:
        merged.merge(ShoppingList.decode(blob))
    return merged.encode()


class Responder:
    """Answers the coordinator's requests; see the module docstring."""

    def __init__(
        self,
        send: Send,
        reply: Reply,
        publish: Publish,
        new_id: Callable[[], str],
        node_id: str,
        tracer: Tracer,
        log: Logger,
    ) -> None:
        self._send = send
        self._reply = reply
        self._publish = publish
        self._new_id = new_id
        self.node_id = node_id
        self.tracer = tracer
        self.log = log
        #: read repairs sent so far
        self.repairs_sent = 0

    def succeed(self, req: Request, ok: int) -> None:
        """Answer a request that ``ok`` replicas carried out (a quorum)."""
        m = req.msg
        if isinstance(m, Handoff):
            done = Stored(**self.envelope(m), list_id=m.list_id)
            self._reply("backend", req.peer, done)
            return
        if isinstance(m, Put):
            answer: Message = Saved(**self.envelope(m), list_id=m.list_id, acks=ok)
            self._reply("frontend", req.peer, answer)
            self._publish(
                m.list_id,
                lambda: Update(
                    **next_envelope(m, self._new_id(), writer_name(m.sender, req.writer)),
                    list_id=m.list_id,
                    state=m.state,
                ),
            )
        else:
            try:
                state = join_copies([s.blob for s in req.slots if s.status == "ok"])
            except ProtocolError as exc:
                self.error(req.peer, m, "internal", f"a replica sent a bad state: {exc}")
                return
            answer = ListReply(**self.envelope(m), list_id=m.list_id, state=state)
            self._reply("frontend", req.peer, answer)
        if m.traced:
            self.tracer.hop(self.log, "proxy.answered", m, kind=req.kind, replicas=ok)

    def repair(self, req: Request) -> None:
        """Send the join to every owner that answered with an older copy."""
        answered = [s for s in req.slots if s.status == "ok"]
        try:
            best = join_copies([s.blob for s in answered])
        except ProtocolError:
            return
        if best is None:
            return
        top: Head | None = None
        for slot in answered:
            if slot.node != slot.owner or slot.blob == best:
                continue  # stand-ins hold hints, not copies; equal copies need nothing
            if slot.blob is not None:
                try:
                    if top is None:
                        top = head_of(best)
                    if _has_seen(slot.blob, top, best):
                        continue  # it has seen everything: an equal state, encoded alike
                except ProtocolError:
                    return
            m = req.msg
            repair = Store(
                **next_envelope(m, self._new_id(), self.node_id), list_id=m.list_id, state=best
            )
            self.tracer.hop(self.log, "proxy.read_repair", repair, to=slot.node)
            self.repairs_sent += 1
            self._send(slot.node, repair)

    def envelope(self, msg: Put | Get | Handoff) -> dict[str, Any]:
        """The envelope of an answer to ``msg``."""
        return reply_envelope(msg, self._new_id(), self.node_id)

    def error(
        self,
        peer: bytes,
        msg: Put | Get | Handoff,
        code: ErrorCode,
        reason: str,
        channel: Channel = "frontend",
    ) -> None:
        """Answer ``msg`` with an error (logged when it is a client's request)."""
        if channel == "frontend":
            self.log.info(
                "proxy.request_failed",
                trace_id=msg.trace_id,
                msg_id=msg.msg_id,
                list_id=msg.list_id,
                reason=reason,
            )
        self._reply(
            channel,
            peer,
            ErrorReply(**self.envelope(msg), code=code, reason=reason),
        )


#: Characters of the writer's public key (Z85, as `whoami` prints it) that an update shows.
KEY_TAG_CHARS = 8


def writer_name(claimed: str, key: str) -> str:
    """The writer an update names, for watchers to show: the client id the
    writer gave itself and, when the proxy knows the key it was authenticated
    with, the key's first characters, which only the proxy fills in (so no
    client can pass for another key by its choice of name)."""
    if not key:
        return claimed
    return f"{claimed[: MAX_ID_CHARS - KEY_TAG_CHARS - 3]} ({key[:KEY_TAG_CHARS]})"
