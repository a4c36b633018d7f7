"""Client requests under access control, on a secured cluster.

:class:`ClientFront` stands between the proxy's client socket and its
coordinator. A client is its public key, which the routing id of its
connection begins with (the bridge checks that per frame, see
:func:`actors.kernel.security.client_routing_id`). For each request about a
list, it asks :func:`actors.proxy.access.decide`, with the list's access list
from :class:`~actors.proxy.access.AccessCache`; a list not in the cache is
read first (a *lookup*, a quorum read of the list), and its requests wait.

* Reads and writes that pass go to the coordinator: a write carries the
  writer's key (the replicas check what it claims) and, for a list's first
  write, the claim that makes the writer its owner.
* A change of who has access is written as a quorum write of the list's
  access part alone; the owner is answered once W replicas saved it.
* Updates are sent, over the same authenticated connection, to the
  connections watching the list whose key may read it; never to others.

Lookups and access writes are the front's own requests: their answers come
back to a routing id no client can have (:data:`INTERNAL` + the client's).
No I/O here: the proxy actor passes callables; it calls in from its bridge
thread, with ``now`` (monotonic seconds); wall-clock time (invite expiry)
comes from ``wall_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from actors.kernel import KEY_CHARS
from actors.proxy.access import (
    UNKNOWN,
    AccessCache,
    ListRequest,
    Unknown,
    Waiting,
    access_reply,
    decide,
)
from actors.proxy.observed import ObservedContexts
from actors.proxy.watchers import Watchers
from crdt import AccessList, CausalContext, ShoppingList, peek_context
from logs import Logger, ThrottledWarning
from protocol import (
    AccessState,
    ErrorCode,
    ErrorReply,
    Get,
    ListReply,
    Message,
    ProtocolError,
    Put,
    Saved,
    Update,
    Watch,
    Watching,
    reply_envelope,
)

__all__ = ["INTERNAL", "ClientFront"]

#: Routing ids of the front's own requests begin with this byte, which no
#: client's can (they begin with a Z85 key).
INTERNAL: Final = b"\xff"
#: Owner claims kept until a write of the list is saved.
MAX_CLAIMS: Final = 10_000
#: Refusals are logged at most this often, with how many there were.
REFUSAL_LOG_INTERVAL_S: Final = 1.0

PutFn = Callable[[bytes, Put, float, str, AccessState | None, bytes | None], None]
GetFn = Callable[[bytes, Get, float], None]
ReplyFn = Callable[[bytes, Message], None]


class ClientFront:
    """See the module docstring. Owned by the proxy actor (its bridge thread).

    Args:
        put: the coordinator's write: (peer, Put, now, writer key, access
            change, what the writer was shown of the list).
        get: the coordinator's read: (peer, Get, now).
        reply: sends a message to a client connection.
        new_id: a new message id.
        log: where refusals are logged.
        enforce: check access (a secured cluster); ``False`` (security off,
            a comparison setup): every client may read, write and watch
            every list, and sharing is refused as ``bad_request``.
        wall_s: the wall clock, for invite expiry.
    """

    def __init__(
        self,
        put: PutFn,
        get: GetFn,
        reply: ReplyFn,
        new_id: Callable[[], str],
        log: Logger,
        enforce: bool = True,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self.enforce = enforce
        self._put = put
        self._get = get
        self._reply = reply
        self._new_id = new_id
        self.log = log
        self.wall_s = wall_s
        self.cache = AccessCache()
        self.watchers = Watchers()
        self.observed = ObservedContexts()
        #: lookup msg id -> list id
        self._lookups: dict[str, str] = {}
        #: access write msg id -> (client's routing id, its request, the change)
        self._changes: dict[str, tuple[bytes, ListRequest, AccessList]] = {}
        #: list id -> an owner claim sent with its writes until one is saved
        self._claims: dict[str, AccessState] = {}
        self._refusals = ThrottledWarning(log, "proxy.forbidden", REFUSAL_LOG_INTERVAL_S)

    # -------------------------------------------------------------- requests

    def request(self, peer: bytes, msg: ListRequest | Watch, now: float) -> None:
        """A client's request: decide it, or wait for its list's lookup."""
        if isinstance(msg, Watch):
            self._watch(peer, msg, now)
            return
        if not self.enforce:
            self._unchecked(peer, msg, now)
            return
        access = self.cache.get(msg.list_id)
        if isinstance(access, Unknown):
            self._park(msg.list_id, (peer, msg, now), now)
            return
        key = client_key(peer)
        decision = decide(access, key, msg, self.wall_s())
        if decision.refusal == "deleted":
            self._error(peer, msg, "deleted", "the list's owner deleted it for everyone")
        elif not decision.allowed:
            self._forbid(peer, key, msg)
        elif isinstance(msg, Put):
            if decision.change is not None:
                self.cache.change(msg.list_id, decision.change)
                self._claim(msg.list_id, decision.change.to_state())
            seen = self.observed.blob(key, msg.list_id)
            self._put(peer, msg, now, key, self._claims.get(msg.list_id), seen)
        elif isinstance(msg, Get):
            self._get(peer, msg, now)
        elif decision.change is None:
            self._answer_access(peer, msg, key)
        else:
            self._write_change(peer, msg, decision.change, now)

    def _unchecked(self, peer: bytes, msg: ListRequest, now: float) -> None:
        if isinstance(msg, Put):
            self._put(peer, msg, now, "", None, None)
        elif isinstance(msg, Get):
            self._get(peer, msg, now)
        else:
            reason = "the cluster runs without security (security = off): lists cannot be shared"
            self._error(peer, msg, "bad_request", reason)

    def _watch(self, peer: bytes, msg: Watch, now: float) -> None:
        ids = watched_ids(msg)
        if not self.enforce:
            self._watching(peer, msg, ids, [], now)
            return
        unknown = [list_id for list_id in ids if self.cache.get(list_id) is UNKNOWN]
        if unknown:
            for list_id in unknown[1:]:
                if self.cache.expect(list_id):
                    self._lookup(peer, msg, list_id, now)
            self._park(unknown[0], (peer, msg, now), now)
            return
        key = client_key(peer)
        readable = [i for i in ids if _may_read(self.cache.get(i), key)]
        refused = [i for i in ids if i not in set(readable)]
        if refused:
            self._count_refusal(key, msg, len(refused))
        self._watching(peer, msg, readable, refused, now)

    def _watching(
        self, peer: bytes, msg: Watch, readable: list[str], refused: list[str], now: float
    ) -> None:
        if not self.watchers.watch(peer, readable, now):
            self._error(peer, msg, "overloaded", "too many clients watch lists; try again later")
            return
        self._reply(
            peer,
            Watching(
                **reply_envelope(msg, self._new_id(), "proxy"),
                list_ids=readable,
                refused=refused,
                lapse_s=int(self.watchers.lapse_s),
            ),
        )

    def _park(self, list_id: str, waiting: Waiting, now: float) -> None:
        peer, msg, _ = waiting
        verdict = self.cache.park(list_id, waiting)
        if verdict == "full":
            self._error(peer, msg, "overloaded", "too many requests wait for their lists")
        elif verdict == "first":
            self._lookup(peer, msg, list_id, now)

    def _lookup(self, peer: bytes, msg: Message, list_id: str, now: float) -> None:
        lookup_id = self._new_id()
        self._lookups[lookup_id] = list_id
        get = Get(msg_id=lookup_id, trace_id=msg.trace_id, sender="proxy", list_id=list_id)
        self._get(INTERNAL + peer, get, now)

    def _claim(self, list_id: str, claim: AccessState) -> None:
        if len(self._claims) >= MAX_CLAIMS:
            self._claims.pop(next(iter(self._claims)))
        self._claims[list_id] = claim

    def _write_change(self, peer: bytes, msg: ListRequest, change: AccessList, now: float) -> None:
        write_id = self._new_id()
        self._changes[write_id] = (peer, msg, change)
        empty = ShoppingList(msg.list_id, "").encode()
        put = Put(
            msg_id=write_id,
            trace_id=msg.trace_id,
            sender="proxy",
            traced=msg.traced,
            list_id=msg.list_id,
            state=empty,
        )
        self._put(INTERNAL + peer, put, now, "", change.to_state(), None)

    def _answer_access(self, peer: bytes, msg: ListRequest, key: str) -> None:
        access = self.cache.get(msg.list_id)
        if not isinstance(access, AccessList):
            self._forbid(peer, key, msg)
            return
        self._reply(
            peer, access_reply(msg, access, key, msg.list_id, self._new_id(), self.wall_s())
        )

    # --------------------------------------------------------------- answers

    def answered(self, peer: bytes, msg: Message, now: float) -> bool:
        """The coordinator answers ``peer``; ``True`` if the front took the
        answer (one to its own request), ``False`` to send it on."""
        if not peer.startswith(INTERNAL):
            if isinstance(msg, Saved):
                self._claims.pop(msg.list_id, None)
            elif isinstance(msg, ListReply) and msg.state is not None and self.enforce:
                self._showed(client_key(peer), msg.list_id, msg.state)
            return False
        reply_to = getattr(msg, "reply_to", "")
        list_id = self._lookups.pop(reply_to, None)
        if list_id is not None:
            self._looked_up(list_id, msg, now)
            return True
        change = self._changes.pop(reply_to, None)
        if change is not None:
            client, request, delta = change
            if isinstance(msg, Saved):
                access = self.cache.change(request.list_id, delta)
                key = client_key(client)
                reply = access_reply(
                    request, access, key, request.list_id, self._new_id(), self.wall_s()
                )
                self._reply(client, reply)
            elif isinstance(msg, ErrorReply):
                self._error(client, request, msg.code, msg.reason)
        return True

    def _looked_up(self, list_id: str, msg: Message, now: float) -> None:
        if isinstance(msg, ListReply):
            access: AccessList | None = None
            try:
                if msg.state is not None:
                    access = ShoppingList.decode(msg.state).access
            except ProtocolError as exc:
                self.log.error("proxy.bad_copy", list_id=list_id, error=str(exc))
                self._fail_waiting(list_id, "internal", "a replica holds a bad copy")
                return
            for peer, request, came in self.cache.learn(list_id, access):
                self.request(peer, request, max(came, now))  # type: ignore[arg-type]
        else:
            code: ErrorCode = msg.code if isinstance(msg, ErrorReply) else "internal"
            reason = msg.reason if isinstance(msg, ErrorReply) else "the lookup failed"
            self._fail_waiting(list_id, code, reason)

    def _fail_waiting(self, list_id: str, code: ErrorCode, reason: str) -> None:
        for peer, request, _ in self.cache.unpark(list_id):
            self._error(peer, request, code, reason)

    # --------------------------------------------------------------- updates

    def publish(self, list_id: str, make: Callable[[], Update]) -> None:
        """Send a saved write's update (made by ``make``, only if the list
        has watchers) to the watchers that may read the list."""
        peers = self.watchers.of(list_id)
        if not peers:
            return
        update = make()
        access = self.cache.get(list_id)
        ctx: CausalContext | None = None
        for peer in peers:
            key = client_key(peer)
            if not self.enforce:
                self._reply(peer, update)
            elif _may_read(access, key):
                self._reply(peer, update)
                if ctx is None:
                    ctx = self._context(list_id, update.state)
                if ctx is not None:
                    self.observed.saw(key, list_id, ctx)
            else:
                self.watchers.unwatch(peer, list_id)

    def _showed(self, key: str, list_id: str, state: bytes) -> None:
        ctx = self._context(list_id, state)
        if ctx is not None:
            self.observed.saw(key, list_id, ctx)

    def _context(self, list_id: str, state: bytes) -> CausalContext | None:
        try:
            return peek_context(state)
        except ProtocolError as exc:
            self.log.error("proxy.bad_copy", list_id=list_id, error=str(exc))
            return None

    def gone(self, peer: bytes) -> None:
        """A message to ``peer`` could not be delivered: it left."""
        self.watchers.drop(peer)

    def expire(self, now: float) -> None:
        self.watchers.expire(now)

    # ---------------------------------------------------------------- errors

    def forbid(self, peer: bytes, msg: Message, reason: str) -> None:
        """Refuse ``msg`` as ``forbidden`` for ``reason`` (logged with the sender's key)."""
        self._count_refusal(client_key(peer), msg, 1)
        self._error(peer, msg, "forbidden", reason)

    def _forbid(self, peer: bytes, key: str, msg: Message) -> None:
        self._count_refusal(key, msg, 1)
        # One answer for "no access" and "no such list": it tells nothing.
        self._error(peer, msg, "forbidden", "no such list, or no access to it")

    def _count_refusal(self, key: str, msg: Message, n: int) -> None:
        # The key is public and names the client; the list's contents are not logged.
        list_id = getattr(msg, "list_id", "")
        self._refusals.happened(n, key=key, request=type(msg).__name__, list_id=list_id)

    def _error(self, peer: bytes, msg: Message, code: ErrorCode, reason: str) -> None:
        answer = ErrorReply(
            **reply_envelope(msg, self._new_id(), "proxy"), code=code, reason=reason
        )
        self._reply(peer, answer)


def client_key(peer: bytes) -> str:
    """The public key (Z85) a client connection's routing id begins with."""
    return peer[:KEY_CHARS].decode("ascii", errors="replace")


def _may_read(access: object, key: str) -> bool:
    return isinstance(access, AccessList) and access.may_read(key) and not access.archived


def watched_ids(msg: Watch) -> list[str]:
    """The distinct list ids of a Watch, in order."""
    return list(dict.fromkeys(msg.list_ids))
