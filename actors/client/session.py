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

The session is built of parts: the request plumbing and the write
(:class:`~actors.client.requests.RequestsMixin`), sharing and access
(:class:`~actors.client.sharing.SharingMixin`), and here the lifecycle, the
local operations, push, pull and sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from typing_extensions import override

from actors.client.actor import UpdateCallback
from actors.client.catchup import Catchup
from actors.client.link import (
    ClusterLink,
    ClusterUnavailable,
    ClusterUnreachable,
    Forbidden,
    ListDeleted,
)
from actors.client.sharing import SharingMixin
from actors.client.store import ClientStore
from actors.kernel import CurveClient, CurveKeys
from crdt import ShoppingList
from logs import Tracer
from protocol import Get, ListReply, ProtocolError, Saved

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


class ClientSession(SharingMixin):
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

    @override  # declared by the mixins, which use it
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

    @override  # declared by the mixins, which use it
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
