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

- ``tell``, ``ask`` and ``stop`` work from any thread but the host's; from
  those they wake the host (the bridge's poll watches its waker).
- An ``ask`` from the host thread to an actor it hosts (``ref.ask``,
  ``ref.stop``, a proxy call; blocking or not) would wait for itself: it
  raises :class:`HostThreadAskError` at once. Hosted actors ``tell`` each
  other; only other threads (tests, the client library's caller) ``ask``.
- :meth:`ActorHost.tell` is ``tell`` for the host thread's own deliveries (the
  bridge's): an actor with nothing queued handles the message at once,
  without an envelope, as the round after the poll would have next. Order and
  failure handling are those of a ``tell``.
- Every hook (``on_start``, ``on_receive``, ``on_stop``, ``on_failure``) runs
  in the host thread, so actor state and its SQLite connection need no locks.
- A hook that blocks, blocks the host's sockets as well; work that would take
  longer than a request's timeout is split up by the actors themselves.

pykka's internals this builds on are pinned (pyproject.toml: ``pykka==4.5.0``)
and watched: ``tests/actors/kernel/test_pykka_internals.py`` fails when one
of them changes, and ``tests/actors/kernel/test_pykka_suite.py`` runs pykka's
own test suite against a hosted runtime.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import pykka
from pykka import ActorDeadError, ActorRegistry

# An actor type is built on pykka's internals (its ThreadingActor is too):
# the envelope, the stop message and the Actor's _handle_*/_actor_loop_*
# methods. test_pykka_internals.py records each one this module uses or copies.
from pykka._envelope import Envelope
from pykka.messages import _ActorStop
from typing_extensions import override

__all__ = ["ActorHost", "HostThreadAskError", "HostedActor", "HostedInbox"]

#: Messages one actor handles per round before the host polls its sockets
#: again; bounds how long one busy actor keeps the others and the network
#: waiting (a message is usually a whole poll's worth of requests).
ROUND_BUDGET: Final = 64

#: pykka's own logger: hosted actors log what pykka's loop logs, where it does.
_pykka_log: Final = logging.getLogger("pykka")


class HostThreadAskError(RuntimeError):
    """An ask from a host's thread to an actor that host runs.

    Only that thread can answer it, and it would be waiting for the answer
    (until the ask's timeout, or for ever). Tell the actor instead.
    """


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
        raises it.

        Raises:
            HostThreadAskError: an ask (the envelope has a ``reply_to``) on
                the host's own thread; nothing is queued.
            ActorDeadError: a tell, once the host has stopped.
        """
        host = self.host
        if host is None:  # not started yet: nobody can hold a ref to it
            self._queue.put(envelope)
            return
        if envelope.reply_to is not None and host.on_host_thread():
            raise HostThreadAskError(
                f"an ask ({type(envelope.message).__name__}) from the thread of an ActorHost"
                " to an actor it hosts would wait for that thread itself: tell the actor"
                " instead, or ask from another thread"
            )
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

    def on_host_thread(self) -> bool:
        """Any thread: whether it is the host thread (``False`` before :meth:`bind`)."""
        return threading.get_ident() == self._thread_id

    def notify(self) -> None:
        """Any thread: new work for the host. Costs nothing on the host thread,
        which runs its actors after every poll anyway."""
        if not self.on_host_thread():
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
        """Any thread: ``ref.tell(message)``; on the host thread, to an actor
        of this host with an empty inbox, handled now (see the module docstring).

        Raises:
            ActorDeadError: as ``tell``, when the actor is not running.
        """
        inbox = ref.actor_inbox
        actor = inbox.actor if isinstance(inbox, HostedInbox) else None
        if (
            actor is None
            or actor.actor_inbox.host is not self
            or not self.on_host_thread()
            or self.stopped
            or actor.actor_stopped.is_set()
            or actor._host_busy  # a handler sent, and its send failed: no re-entry
            or not inbox.empty()
        ):
            ref.tell(message)
            return
        actor._host_handle_message(message)

    def pending(self) -> bool:
        """Host thread: whether a round has work now (the bridge then polls
        without waiting)."""
        return bool(self._adopted) or any(not a.actor_inbox.empty() for a in self._actors)

    def run(self) -> None:
        """Host thread: one round: set up new actors, then let each handle what
        it has.

        Raises:
            BaseException: what is not an ``Exception`` (``SystemExit``,
                ``KeyboardInterrupt``) raised by a hook; the actor that raised
                it has stopped, and the rest of the round did not run.
        """
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
        """Host thread: stop every actor still running (their ``on_stop`` runs
        here) and refuse new ones. The bridge calls it as its thread ends.

        An actor started but not yet set up never ran ``on_start``, so it gets
        no ``on_stop`` either: it is only marked dead.
        """
        with self.lock:
            self.stopped = True
        for actor in self._actors:
            if not actor.actor_stopped.is_set():
                actor._stop()
            actor._actor_loop_teardown()
        while self._adopted:
            actor = self._adopted.popleft()
            ActorRegistry.unregister(actor.actor_ref)
            actor.actor_stopped.set()
            actor._actor_loop_teardown()
        self._actors = []


class HostedActor(pykka.Actor):
    """A pykka actor run by an :class:`ActorHost`; see the module docstring.

    Subclasses give their host through :meth:`_actor_host`. Every pykka hook
    (``on_start``, ``on_receive``, ``on_stop``, ``on_failure``) runs on the
    host's thread.
    """

    actor_inbox: HostedInbox
    #: a handler of this actor is running (on the host thread)
    _host_busy = False

    @staticmethod
    @override
    def _create_actor_inbox() -> HostedInbox:
        """Any thread (the one constructing the actor)."""
        return HostedInbox()

    @staticmethod
    @override
    def _create_future() -> pykka.Future[Any]:
        """Any thread (the one asking): a future the host thread answers."""
        return pykka.ThreadingFuture()

    def _actor_host(self) -> ActorHost:
        """The thread calling ``start()``: the host that is to run this actor."""
        raise NotImplementedError

    @override
    def _start_actor_loop(self) -> None:
        """The thread calling ``start()``, after pykka registered the actor:
        hand the actor to its host, which runs ``on_start`` at its next round.

        Raises:
            ActorDeadError: the host has stopped; the actor is unregistered
                and dead.
        """
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
    #
    # pykka's _actor_loop is setup, running, teardown on the actor's thread.
    # Setup and teardown are pykka's own methods, called as they are; the
    # running loop cannot be: it blocks on the inbox until the actor stops.
    # _host_run is its body for one message, kept in line with pykka 4.5.0
    # (test_pykka_internals.py fails when that changes).

    def _host_setup(self) -> None:
        self._actor_loop_setup()  # on_start; a failure stops the actor
        if not self.actor_stopped.is_set():
            self.actor_inbox.actor = self

    def _host_round(self, budget: int) -> None:
        inbox = self.actor_inbox
        for _ in range(budget):
            if self.actor_stopped.is_set() or inbox.empty():
                break
            envelope = inbox.get()
            self._host_run(envelope.message, envelope.reply_to)
        if self.actor_stopped.is_set():
            self._actor_loop_teardown()  # what is left: asks fail, a stop succeeds

    def _host_handle_message(self, message: Any) -> None:
        """A told message, handed in by :meth:`ActorHost.tell` (no envelope)."""
        self._host_run(message, None)
        if self.actor_stopped.is_set():
            self._actor_loop_teardown()

    def _host_run(self, message: Any, reply_to: pykka.Future[Any] | None) -> None:
        """One turn of pykka's ``Actor._actor_loop_running``.

        Same handling and logging as pykka's, but for a ``BaseException``:
        pykka stops the actor, then every actor with ``ActorRegistry.stop_all()``,
        which waits for each to stop, and swallows the exception (the actor's
        thread then ends). On the host thread that wait would be for itself
        (:class:`HostThreadAskError`), so the others are told to stop without
        waiting, and the exception goes on to end the host's thread: the
        bridge then stops what it hosts, ``on_stop`` included.
        """
        self._host_busy = True
        try:
            response = self._handle_receive(message)
            if reply_to is not None:
                reply_to.set(response)
        except Exception:  # noqa: BLE001 - an actor's failure, handled as pykka does
            if reply_to is not None:
                _pykka_log.info(f"Exception returned from {self} to caller:", exc_info=True)
                reply_to.set_exception()
                return
            self._handle_failure(*sys.exc_info())
            try:
                self.on_failure(*sys.exc_info())
            except Exception:  # noqa: BLE001 - as pykka: a failing on_failure stops the actor
                self._handle_failure(*sys.exc_info())
        except BaseException:
            _pykka_log.debug(f"{sys.exc_info()[1]!r} in {self}. Stopping all actors.")
            self._stop()
            for ref in reversed(ActorRegistry.get_all()):
                with contextlib.suppress(ActorDeadError):  # it stopped meanwhile
                    ref.tell(_ActorStop())
            raise
        finally:
            self._host_busy = False
