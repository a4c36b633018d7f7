"""The client: a local-first session over the client store, synced through the proxy.

:class:`ClientSession` is the API the command line, the shell and the tests
use. Every read and edit works on the local store with no cluster at all;
network operations go through its :class:`~actors.client.link.ClusterLink`:
a :class:`ClientActor` behind a bridge, so that the session's thread never
touches a socket. The session's thread waits for a reply on a future (it is
the user's thread, not a request path inside the cluster); the actor only
``tell``-s and never blocks.

Requests are retried by tenacity: three attempts, each first waiting for the
connection (``connect_timeout_s``) and then for the reply
(``client_timeout_s``). A write is idempotent (a CRDT merge), so a retry after
a lost reply is harmless.

A request about a list its owner deleted for everyone is answered
``deleted``: the session then removes its local copy (and pending edits),
notes the list in :attr:`ClientSession.deleted`, and raises
:class:`ListDeleted`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.client.actor import UpdateCallback
from actors.client.catchup import Catchup
from actors.client.invites import InviteLink, new_invite, parse_invite
from actors.client.link import (
    ClusterLink,
    ClusterUnavailable,
    ClusterUnreachable,
    Forbidden,
    ListDeleted,
    Refused,
)
from actors.client.store import ClientStore
from actors.kernel import CurveClient, CurveKeys
from crdt import ShoppingList
from logs import Tracer, new_trace_id
from protocol import (
    AccessReply,
    Archive,
    CancelInvite,
    Get,
    Invite,
    Join,
    ListReply,
    Members,
    Message,
    ProtocolError,
    Put,
    Revoke,
    Role,
    Saved,
    Share,
    StatusReply,
    StatusRequest,
)

__all__ = [
    "ClientSession",
    "ClusterUnavailable",
    "ClusterUnreachable",
    "Forbidden",
    "ListDeleted",
    "SyncReport",
    "UnknownList",
]


class UnknownList(LookupError):
    """Neither this client nor the cluster knows the list."""


@dataclass
class SyncReport:
    pushed: list[str]
    pulled: list[str]
    failed: list[str]
    #: lists their owner deleted for everyone; their local copies are gone
    deleted: list[str] = field(default_factory=list)


class ClientSession:
    """A client's lists, online or offline. Use as a context manager.

    Args:
        client_id: names the store and the log file.
        store_dir: the client's own folder (``var/clients/<id>`` by default).
        endpoints: the proxy's endpoints (``frontend`` and ``publish``), or
            ``None`` to work offline only.
        subscribe: receive published updates of the lists held here.
        on_update: called (in the bridge thread) with each change an update made here.
        trace: trace every request of this session (see :mod:`logs.tracing`).
        proxy_key: the proxy's public key (Z85) for a secured cluster: the
            session then speaks CurveZMQ with this client's own key pair
            (:meth:`ClientStore.curve_keys`); ``None``: plaintext.
    """

    def __init__(
        self,
        client_id: str,
        store_dir: Path,
        endpoints: dict[str, str] | None,
        *,
        client_timeout_s: float = 2.0,
        connect_timeout_s: float = 0.5,
        attempts: int = 3,
        tracer: Tracer | None = None,
        trace: bool = False,
        subscribe: bool = False,
        on_update: UpdateCallback | None = None,
        proxy_key: bytes | None = None,
    ) -> None:
        self.client_id = client_id
        self.store_dir = store_dir
        self.endpoints = endpoints
        self.client_timeout_s = client_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.attempts = attempts
        self.tracer = tracer or Tracer()
        self.trace = trace
        self.subscribe = subscribe
        self.on_update = on_update
        self.last_trace_id = ""
        #: lists whose pending edits the cluster refused (no write access)
        self.forbidden: set[str] = set()
        #: lists the cluster said their owner deleted; their local copies are gone
        self.deleted: set[str] = set()
        self.store = ClientStore(store_dir, client_id)
        #: pending edits pushed in the background of a command that reached the cluster
        self.catchup = Catchup()
        #: set while the session pushes every list itself (flush of all, sync)
        self._catchup_off = False
        curve = None
        if proxy_key is not None:
            curve = CurveClient(CurveKeys(*self.store.curve_keys()), proxy_key, keyed=True)
        self._link = ClusterLink(
            client_id,
            store_dir,
            endpoints,
            client_timeout_s=client_timeout_s,
            connect_timeout_s=connect_timeout_s,
            tracer=self.tracer,
            subscribe=subscribe,
            on_update=on_update,
            curve=curve,
        )

    # ------------------------------------------------------------- lifecycle

    def __enter__(self) -> ClientSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect (a no-op when offline by configuration, or already open)."""
        if self._link.open() and self.subscribe:
            self.watch(self.store.ids())

    def close(self) -> None:
        """Collect the background pushes (see :mod:`actors.client.catchup`), then disconnect."""
        if self.online:
            self.catchup.collect(self.store, self._link, wait=True)
        self._link.close()
        self.store.close()

    @property
    def online(self) -> bool:
        return self._link.online

    def connected(self) -> bool:
        """Whether the proxy is connected now (no waiting; ``False`` when offline)."""
        return self.online and self._link.up

    def wait_connected(self) -> bool:
        """Whether the proxy is connected, waiting up to ``connect_timeout_s``
        (not at all when its port takes no TCP connection)."""
        return self.online and self._link.connected()

    def watch(self, list_ids: list[str]) -> None:
        """Subscribe to published updates of these lists."""
        self._link.watch(list_ids)

    # ------------------------------------------------------------- local ops

    def lists(self) -> list[ShoppingList]:
        return self.store.all()

    def resolve(self, ref: str) -> str | None:
        return self.store.resolve(ref)

    def get_local(self, list_id: str) -> ShoppingList | None:
        return self.store.load(list_id)

    def delete(self, list_id: str) -> bool:
        return self.store.delete(list_id)

    def create(self, name: str) -> tuple[ShoppingList, bool]:
        """A new list, saved locally, then pushed if the cluster is reachable."""
        state = self.store.create(name)
        pushed = self.flush(state.list_id)
        # After the push: the proxy refuses to watch a list the cluster lacks.
        self.watch([state.list_id])
        return state, pushed

    def add(self, list_id: str, item: str, quantity: int = 1) -> tuple[ShoppingList, bool]:
        return self._edit(list_id, lambda s: s.add(item, quantity))

    def remove(self, list_id: str, item: str) -> tuple[ShoppingList, bool]:
        return self._edit(list_id, lambda s: s.remove(item))

    def acquire(self, list_id: str, item: str, quantity: int = 1) -> tuple[ShoppingList, bool]:
        return self._edit(list_id, lambda s: s.acquire(item, quantity))

    def rename(self, list_id: str, name: str) -> tuple[ShoppingList, bool]:
        """Give the list a new name (saved and pushed as any edit)."""
        return self._edit(list_id, lambda s: s.rename(name))

    def _edit(
        self, list_id: str, op: Callable[[ShoppingList], ShoppingList]
    ) -> tuple[ShoppingList, bool]:
        """Edit locally (fetching the list first if only the cluster has it), then push.

        Raises:
            UnknownList: neither here nor (if reachable) in the cluster.
            ListDeleted: its owner deleted it for everyone (the edit is gone too).
            ValueError, ShoppingListError: the edit itself is invalid.
        """
        if self.store.load(list_id) is None:
            try:
                self.pull(list_id)
            except (Forbidden, ListDeleted):
                raise
            except (ClusterUnreachable, ClusterUnavailable):
                raise UnknownList(list_id) from None
        done = self.store.edit(list_id, op)
        if done is None:
            raise UnknownList(list_id)
        pushed = self.flush(list_id)
        if list_id in self.deleted:
            raise ListDeleted(list_id, "its owner deleted it for everyone")
        return done[0], pushed

    # ----------------------------------------------------------- network ops

    def flush(self, list_id: str | None = None) -> bool:
        """Push pending edits (of one list, or all); True if all were saved.

        Never raises for the network: unsaved edits stay pending.
        """
        if not self.online:
            return False
        # Flushing every list: no background round besides (see _contact).
        before = self._catchup_off
        self._catchup_off = before or list_id is None
        try:
            return self._flush(list_id)
        finally:
            self._catchup_off = before

    def _flush(self, list_id: str | None) -> bool:
        ok = True
        for pending_id, delta in self.store.pending():
            if list_id is not None and pending_id != list_id:
                continue
            try:
                # After an edit (one list), an unreachable proxy ends the try
                # at once, so that offline edits stay quick; a lost request or
                # an unavailable cluster is tried again like any request.
                self._put(pending_id, delta, self.attempts, retry_unconnected=list_id is None)
            except Forbidden:
                # Kept pending: access may be given (or given back) later.
                self.forbidden.add(pending_id)
                ok = False
                continue
            except (ClusterUnreachable, ClusterUnavailable):
                ok = False
                continue
            self.forbidden.discard(pending_id)
            self.store.clear_pending(pending_id, delta)
        return ok

    def push(self, list_id: str) -> Saved:
        """Push the whole local list; succeeds only when the cluster answered SAVED.

        Raises:
            UnknownList: the list is not held locally.
            ClusterUnreachable, ClusterUnavailable: not saved.
        """
        state = self.store.load(list_id)
        if state is None:
            raise UnknownList(list_id)
        pending = dict(self.store.pending()).get(list_id)
        saved = self._put(list_id, state.encode(), self.attempts)
        if pending is not None:
            self.store.clear_pending(list_id, pending)  # the whole state covered it
        return saved

    def pull(self, list_id: str) -> ShoppingList:
        """Merge the cluster's copy into the local one (creating it if new).

        Raises:
            UnknownList: the cluster has no such list (and nothing was changed).
            ClusterUnreachable, ClusterUnavailable: local data untouched.
        """
        reply = self._request(
            lambda mid, tid, traced: Get(
                msg_id=mid, trace_id=tid, sender=self.client_id, traced=traced, list_id=list_id
            ),
            about=list_id,
        )
        if not isinstance(reply, ListReply):
            raise ClusterUnavailable(f"unexpected answer {type(reply).__name__}")
        if reply.state is None:
            local = self.store.load(list_id)
            if local is None:
                raise UnknownList(list_id)
            return local
        try:
            remote = ShoppingList.decode(reply.state)
        except ProtocolError as exc:
            raise ClusterUnavailable(f"the cluster sent a bad state: {exc}") from None
        if remote.list_id != list_id:
            raise ClusterUnavailable("the cluster answered with another list")
        merged, _ = self.store.merge_remote(remote)
        self.watch([list_id])
        return merged

    def sync(self) -> SyncReport:
        """Push pending edits and pull every local list.

        Raises:
            ClusterUnreachable: no cluster configured or reachable.
        """
        if not self.wait_connected():
            raise ClusterUnreachable("the proxy is not reachable")
        self._catchup_off = True
        try:
            return self._sync()
        finally:
            self._catchup_off = False

    def _sync(self) -> SyncReport:
        report = SyncReport([], [], [])
        pending_before = {pid for pid, _ in self.store.pending()}
        self.flush()
        pending_after = {pid for pid, _ in self.store.pending()}
        report.pushed = sorted(pending_before - pending_after - self.deleted)
        report.failed = sorted(pending_after)
        for list_id in self.store.ids():
            try:
                self.pull(list_id)
                report.pulled.append(list_id)
            except ListDeleted:
                pass  # in self.deleted, reported below
            except (UnknownList, Forbidden):
                # Created here and never saved by the cluster (to which a
                # list it has never seen is "forbidden"): push it whole; a
                # list of someone else's stays refused.
                try:
                    self.push(list_id)
                    report.pushed.append(list_id)
                except (ClusterUnreachable, ClusterUnavailable):
                    report.failed.append(list_id)
            except (ClusterUnreachable, ClusterUnavailable):
                report.failed.append(list_id)
        report.deleted = sorted(self.deleted)
        return report

    # --------------------------------------------------------------- sharing

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

    def _envelope(self, msg_id: str, trace_id: str, traced: bool) -> dict[str, Any]:
        return {"msg_id": msg_id, "trace_id": trace_id, "sender": self.client_id, "traced": traced}

    def status(self) -> StatusReply:
        reply = self._request(
            lambda mid, tid, traced: StatusRequest(
                msg_id=mid, trace_id=tid, sender=self.client_id, traced=traced
            )
        )
        if not isinstance(reply, StatusReply):
            raise ClusterUnavailable(f"unexpected answer {type(reply).__name__}")
        return reply

    def _put(
        self, list_id: str, blob: bytes, attempts: int, retry_unconnected: bool = True
    ) -> Saved:
        """Write ``blob``. A write refused as ``unobserved`` (it removes what
        the proxy has no record of showing this client: it restarted, or
        forgot) is sent once more after a pull, which shows it."""
        try:
            return self._put_once(list_id, blob, attempts, retry_unconnected)
        except Refused as exc:
            if exc.kind != "unobserved":
                raise
        self.pull(list_id)
        return self._put_once(list_id, blob, attempts, retry_unconnected)

    def _put_once(self, list_id: str, blob: bytes, attempts: int, retry_unconnected: bool) -> Saved:
        reply = self._request(
            self._put_builder(list_id, blob),
            attempts=attempts,
            retry_unconnected=retry_unconnected,
            about=list_id,
        )
        if not isinstance(reply, Saved):
            raise ClusterUnavailable(f"unexpected answer {type(reply).__name__}")
        return reply

    def _put_builder(self, list_id: str, blob: bytes) -> Callable[[str, str, bool], Message]:
        return lambda mid, tid, traced: Put(
            msg_id=mid,
            trace_id=tid,
            sender=self.client_id,
            traced=traced,
            list_id=list_id,
            state=blob,
        )

    def _request(
        self,
        build: Callable[[str, str, bool], Message],
        attempts: int | None = None,
        retry_unconnected: bool = True,
        about: str | None = None,
    ) -> Message:
        """Send a request and wait for its answer (see :meth:`ClusterLink.request
        <actors.client.link.ClusterLink.request>`), under a new trace id.

        Any answer, even a refusal, starts the background push of the pending
        edits of other lists than ``about`` (see :mod:`actors.client.catchup`).

        Raises:
            ClusterUnreachable: no answer after every attempt.
            ListDeleted: the list was deleted for everyone (its local copy now too).
            ClusterUnavailable: the proxy answered with another error.
        """
        if not self.online:
            raise ClusterUnreachable("no cluster configured")
        trace_id = new_trace_id()
        traced = self.tracer.sample(forced=self.trace)
        self.last_trace_id = trace_id
        try:
            reply = self._link.request(
                build, trace_id, traced, attempts or self.attempts, retry_unconnected
            )
        except ListDeleted as exc:
            if exc.list_id:
                self.store.delete(exc.list_id)
                self.deleted.add(exc.list_id)
            self._contact(trace_id, about)  # it answered, if only to refuse
            raise
        except ClusterUnavailable:
            self._contact(trace_id, about)  # it answered, if only to refuse
            raise
        self._contact(trace_id, about)
        return reply

    def _contact(self, trace_id: str, about: str | None) -> None:
        """The cluster answered: push the other lists' pending edits in the background."""
        if self._catchup_off:
            return
        self.catchup.start(self.store, self._link, self._put_builder, trace_id, skip=about)
