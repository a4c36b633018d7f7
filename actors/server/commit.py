"""A server's commit path: a poll's writes merged in one transaction, then answered.

:class:`Committer` takes the Stores of one bridge poll that the server actor
accepted (decoded, and of the list they name), merges them into the store
in a single transaction (group commit, :meth:`ListStore.merge_many
<actors.server.store.ListStore.merge_many>`) and acknowledges them only once
it committed: a ``Stored`` for a lone write, ``StoredBatch`` for more. A
full disk refuses them all (``unavailable``: the proxy goes to the next
replica at once); any other failure commits them one list at a time, so
that a poison write is skipped, refused (``internal``) and never
re-delivered.

No sockets: answers go out through the callables the actor passes (``send``
to its backend, ``send_now`` to have them sent at once). Runs on the
server's bridge thread, which hosts the ServerActor and owns the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import logs
from actors.server.damage import StoreFull
from actors.server.hints import Hint
from actors.server.store import ListStore, Update
from protocol import ErrorCode, ErrorReply, Message, Store, Stored, StoredBatch, reply_envelope
from protocol.limits import MAX_BATCH_ITEMS

__all__ = ["Committer", "stored_batches"]

log = logs.get_logger("server")


class Committer:
    """Commits and answers the server's writes; see the module docstring.

    Args:
        store: the server's store.
        send: sends a message to the proxy (on the backend).
        send_now: sends what was queued at once (the bridge's ``send_now``).
        new_id: makes a message id.
        node_id: this server's id (a hint naming it is a write of its own).
    """

    def __init__(
        self,
        store: ListStore,
        send: Callable[[Message], None],
        send_now: Callable[[], None],
        new_id: Callable[[], str],
        node_id: str,
    ) -> None:
        self.store = store
        self._send = send
        self._send_now = send_now
        self._new_id = new_id
        self.node_id = node_id

    def commit(
        self, accepted: list[Store], updates: list[Update], hints: list[Hint]
    ) -> set[str] | None:
        """Merge a poll's accepted Stores in one transaction, then acknowledge them.

        ``accepted`` are the Stores of ``updates`` and ``hints``, in their
        order. A failure other than a full disk is isolated by
        :meth:`_commit_apart`.

        Returns:
            The lists changed, or ``None`` if a full disk refused every write.
        """
        acked: list[bool] = []

        def acknowledge() -> None:
            acked.append(True)
            self._acknowledge(accepted)

        try:
            return self.store.merge_many(updates, hints, committed=acknowledge)
        except StoreFull:
            # Logged by the store, once: not per write.
            self._refuse(accepted, "unavailable", "disk full")
            return None
        except Exception as exc:  # isolated, and logged, by _commit_apart
            if acked:  # committed and answered; what failed after is the cache's
                log.exception("server.after_commit_failed", stores=len(accepted))
                # Their digests must still be filed, or anti-entropy would
                # see them differ (and repair them in vain) every round.
                return {m.list_id for m in accepted}
            return self._commit_apart(accepted, updates, hints, exc)

    def _commit_apart(
        self, accepted: list[Store], updates: list[Update], hints: list[Hint], error: Exception
    ) -> set[str]:
        """After a batch failed (not for want of space): commit it one list at a time.

        A list whose writes still fail is skipped, logged once and refused
        (``internal``: the proxy tries another replica); the others are
        committed and acknowledged. ``accepted`` are the Stores of
        ``updates`` and ``hints``, in their order. Returns the lists changed.
        """
        log.error("server.batch_failed", stores=len(accepted), error=repr(error))
        by_list: dict[str, tuple[list[Store], list[Update], list[Hint]]] = {}
        own, hinted = iter(updates), iter(hints)
        for msg in accepted:
            msgs, ups, hs = by_list.setdefault(msg.list_id, ([], [], []))
            msgs.append(msg)
            if msg.hint and msg.hint != self.node_id:
                hs.append(next(hinted))
            else:
                ups.append(next(own))
        changed: set[str] = set()
        for list_id, (msgs, ups, hs) in by_list.items():
            try:
                changed |= self.store.merge_many(ups, hs, partial(self._acknowledge, msgs))
            except StoreFull:
                self._refuse(msgs, "unavailable", "disk full")
            except Exception as exc:  # noqa: BLE001 - the poison: skipped, logged, refused
                log.error("server.write_skipped", list_id=list_id, error=repr(exc))
                reason = f"this replica cannot store the list ({type(exc).__name__})"
                self._refuse(msgs, "internal", reason)
        return changed

    def _acknowledge(self, accepted: list[Store]) -> None:
        """Committed: answer at once (the cached copies are joined on the tick)."""
        if len(accepted) == 1:
            msg = accepted[0]
            self._send(Stored(**self._answer(msg), list_id=msg.list_id))
        else:
            for ack in stored_batches([m.msg_id for m in accepted], self._new_id, self.node_id):
                self._send(ack)
        self._send_now()

    def _refuse(self, stores: list[Store], code: ErrorCode, reason: str) -> None:
        """Answer Stores that were not committed with an error, at once (logged by the caller)."""
        for msg in stores:
            self._send(ErrorReply(**self._answer(msg), code=code, reason=reason))
        self._send_now()

    def _answer(self, msg: Message) -> dict[str, Any]:
        return reply_envelope(msg, self._new_id(), self.node_id)


def stored_batches(
    msg_ids: list[str], new_id: Callable[[], str], sender: str
) -> Iterator[StoredBatch]:
    """The acknowledgements of the committed Stores ``msg_ids``: a poll under
    load can commit more than one StoredBatch may name, so they are split."""
    for start in range(0, len(msg_ids), MAX_BATCH_ITEMS):
        ids = msg_ids[start : start + MAX_BATCH_ITEMS]
        yield StoredBatch(msg_id=new_id(), sender=sender, reply_to=ids)
