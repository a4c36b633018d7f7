"""Actors hosted by their bridge's thread: a pykka actor type without a thread of its own.

pykka runs each ``ThreadingActor`` on a thread of its own, so every message
from the network crossed two threads in each process it visited: the bridge
handed it to the actor thread, and the actor's reply woke the bridge again.
On this 2-core machine each such wake-up took 40-60 µs, and a quorum write
met six of them on its critical path (client -> proxy -> servers -> proxy),
about a fifth of its latency (docs/performance.md has the measurements).

pykka is built for more than one actor type (it once shipped gevent and
eventlet actors, which share one OS thread); :class:`HostedActor` is one more.
Its loop is not a thread but an :class:`ActorHost` that the bridge runs after
every poll: each hosted actor handles the messages in its inbox there, one at
a time, with pykka's semantics (``tell``, ``ask``, ``stop``, ``on_failure``).

Contract:

- ``tell``, ``ask`` and ``stop`` work from any thread; from any thread but the
  host's they wake the host (the bridge's poll watches its waker).
- :meth:`ActorHost.tell` is ``tell`` for the host thread's own deliveries (the
  bridge's): an actor with nothing queued handles the message at once,
  without an envelope, as the round after the poll would have next. Order and
  failure handling are those of a ``tell``.
- Every hook (``on_start``, ``on_receive``, ``on_stop``, ``on_failure``) runs
  in the host thread, so actor state and its SQLite connection need no locks.
- A hook that blocks, blocks the host's sockets as well; work that would take
  longer than a request's timeout is split up by the actors themselves.
- An ``ask`` from the host thread to an actor it hosts would wait for itself
  (until its timeout): hosted actors ``tell`` each other, and only other
  threads (tests, the client library's caller) ``ask``.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import pykka
from pykka import ActorDeadError, ActorRegistry

# An actor type is built on pykka's internals (its ThreadingActor is too):
# the envelope, the stop message and the Actor's _handle_* methods.
# pyproject.toml pins pykka to the 4.x series, from 4.5 where these were read.
from pykka._envelope import Envelope
from pykka.messages import _ActorStop

__all__ = ["ActorHost", "HostedActor", "HostedInbox"]

#: Messages one actor handles per round before the host polls its sockets
#: again; bounds how long one busy actor keeps the others and the network
#: waiting (a message is usually a whole poll's worth of requests).
ROUND_BUDGET: Final = 64


class HostedInbox:
    """A hosted actor's inbox: a ``SimpleQueue`` that wakes the host when
    another thread puts into it. Follows pykka's ``ActorInbox`` protocol."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Envelope[Any]] = queue.SimpleQueue()
        self.host: ActorHost | None = None
        #: the actor, once its host has set it up (``on_start`` succeeded)
        self.actor: HostedActor | None = None

    def put(self, envelope: Envelope[Any], /) -> None:
        """Any thread. Once the host has stopped, an ask's future fails with
        ``ActorDeadError`` (as pykka's ask reports a dead actor) and a tell
        raises it."""
        host = self.host
        if host is None:  # not started yet: nobody can hold a ref to it
            self._queue.put(envelope)
            return
        # Under the host's lock, so that a put cannot land after the host's
        # last drain (its future would never be answered).
        with host.lock:
            stopped = host.stopped
            if not stopped:
                self._queue.put(envelope)
        if not stopped:
            host.notify()
            return
        error = ActorDeadError("the bridge hosting this actor has stopped")
        if envelope.reply_to is None:
            raise error
        envelope.reply_to.set_exception(exc_info=(ActorDeadError, error, None))

    def get(self) -> Envelope[Any]:
        """Blocks if empty: only after :meth:`empty` returned ``False``."""
        return self._queue.get()

    def empty(self) -> bool:
        return self._queue.empty()


class ActorHost:
    """Runs hosted actors on one thread, the bridge's.

    Args:
        wake: wakes the host thread from another thread (the bridge's waker).
    """

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._thread_id: int | None = None
        #: started by any thread, set up by the host thread at its next round
        self._adopted: deque[HostedActor] = deque()
        self._actors: list[HostedActor] = []
        #: guards ``stopped`` against a put or a start racing the last drain
        self.lock = threading.Lock()
        self.stopped = False

    def bind(self) -> None:
        """Make the calling thread the host thread; the bridge calls it first."""
        self._thread_id = threading.get_ident()

    def notify(self) -> None:
        """Any thread: new work for the host. Costs nothing on the host thread,
        which runs its actors after every poll anyway."""
        if threading.get_ident() != self._thread_id:
            self._wake()

    def adopt(self, actor: HostedActor) -> None:
        """Any thread: the actor's ``on_start`` runs at the host's next round.

        Raises:
            ActorDeadError: the host has stopped.
        """
        with self.lock:
            if self.stopped:
                raise ActorDeadError("the bridge hosting this actor has stopped")
            self._adopted.append(actor)
        self.notify()

    def tell(self, ref: pykka.ActorRef[Any], message: Any) -> None:
        """``ref.tell(message)``; on the host thread, to an actor of this host
        with an empty inbox, handled now (see the module docstring).

        Raises:
            ActorDeadError: as ``tell``, when the actor is not running.
        """
        inbox = ref.actor_inbox
        actor = inbox.actor if isinstance(inbox, HostedInbox) else None
        if (
            actor is None
            or actor.actor_inbox.host is not self
            or threading.get_ident() != self._thread_id
            or self.stopped
            or actor.actor_stopped.is_set()
            or actor._host_busy  # a handler sent, and its send failed: no re-entry
            or not inbox.empty()
        ):
            ref.tell(message)
            return
        actor._host_handle_message(message)

    def pending(self) -> bool:
        """Whether a round has work now (the bridge then polls without waiting)."""
        return bool(self._adopted) or any(not a.actor_inbox.empty() for a in self._actors)

    def run(self) -> None:
        """One round: set up new actors, then let each handle what it has."""
        while self._adopted:
            actor = self._adopted.popleft()
            self._actors.append(actor)
            actor._host_setup()
        # A handler may start an actor (a restart after a crash): it joins
        # the next round, so iterate over a copy.
        for actor in list(self._actors):
            actor._host_round(ROUND_BUDGET)
        self._actors = [a for a in self._actors if not a.actor_stopped.is_set()]

    def stop_all(self) -> None:
        """Stop every actor still running (their ``on_stop`` runs here) and
        refuse new ones. The bridge calls it as its thread ends.

        An actor started but not yet set up never ran ``on_start``, so it gets
        no ``on_stop`` either: it is only marked dead.
        """
        with self.lock:
            self.stopped = True
        for actor in self._actors:
            if not actor.actor_stopped.is_set():
                actor._stop()
            actor._host_teardown()
        while self._adopted:
            actor = self._adopted.popleft()
            ActorRegistry.unregister(actor.actor_ref)
            actor.actor_stopped.set()
            actor._host_teardown()
        self._actors = []


class HostedActor(pykka.Actor):
    """A pykka actor run by an :class:`ActorHost`; see the module docstring.

    Subclasses give their host through :meth:`_actor_host`.
    """

    actor_inbox: HostedInbox
    #: a handler of this actor is running (on the host thread)
    _host_busy = False

    @staticmethod
    def _create_actor_inbox() -> HostedInbox:
        return HostedInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _actor_host(self) -> ActorHost:
        raise NotImplementedError

    def _start_actor_loop(self) -> None:
        host = self._actor_host()
        self.actor_inbox.host = host
        try:
            host.adopt(self)
        except ActorDeadError:
            # pykka registered the actor before starting its loop.
            ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
            raise

    # ------------------------------------------------- run by the host thread

    def _host_setup(self) -> None:
        self._actor_loop_setup()  # on_start; a failure stops the actor
        if not self.actor_stopped.is_set():
            self.actor_inbox.actor = self

    def _host_round(self, budget: int) -> None:
        inbox = self.actor_inbox
        for _ in range(budget):
            if self.actor_stopped.is_set() or inbox.empty():
                break
            self._host_handle(inbox.get())
        if self.actor_stopped.is_set():
            self._host_teardown()

    def _host_handle(self, envelope: Envelope[Any]) -> None:
        self._host_run(envelope.message, envelope.reply_to)

    def _host_handle_message(self, message: Any) -> None:
        """A told message, handed in by :meth:`ActorHost.tell` (no envelope)."""
        self._host_run(message, None)
        if self.actor_stopped.is_set():
            self._host_teardown()

    def _host_run(self, message: Any, reply_to: pykka.Future[Any] | None) -> None:
        # pykka's ThreadingActor loop, one message at a time.
        self._host_busy = True
        try:
            response = self._handle_receive(message)
            if reply_to is not None:
                reply_to.set(response)
        except Exception:  # noqa: BLE001 - an actor's failure, handled as pykka does
            if reply_to is not None:
                reply_to.set_exception()
                return
            self._handle_failure(*sys.exc_info())
            try:
                self.on_failure(*sys.exc_info())
            except Exception:  # noqa: BLE001 - as pykka: a failing on_failure stops the actor
                self._handle_failure(*sys.exc_info())
        except BaseException:
            # Not ours to swallow (KeyboardInterrupt, SystemExit): stop this
            # actor and let it end the host thread, which ends the process.
            self._stop()
            raise
        finally:
            self._host_busy = False

    def _host_teardown(self) -> None:
        """Answer what is left in the inbox: asks fail, a stop succeeds."""
        inbox = self.actor_inbox
        while not inbox.empty():
            envelope = inbox.get()
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, _ActorStop):
                envelope.reply_to.set(None)
            else:
                envelope.reply_to.set_exception(
                    exc_info=(
                        ActorDeadError,
                        ActorDeadError(f"{self.actor_ref} stopped before handling the message"),
                        None,
                    )
                )
