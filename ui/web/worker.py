"""The client session on a thread of its own, and its events for the page.

A :class:`~actors.client.ClientSession` is not thread-safe: its store is an
SQLite connection that only the thread which opened it may use, and a call
may block (a push waits for the cluster's reply). :class:`SessionWorker`
therefore opens the session on one dedicated thread and runs every call
there, one at a time, so that the web server's event loop never blocks and
never touches the session itself.

:class:`Hub` carries events (a list changed, the status changed) from any
thread (the worker's, or the session's bridge thread for published updates)
to every open event stream of the page.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from actors.client import ClientSession, ListChange, UpdateCallback

__all__ = ["Event", "Hub", "SessionWorker"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: ``kind`` names it, ``data`` is its JSON body."""

    kind: str
    data: dict[str, Any]


class Hub:
    """Fans events out to subscribers; :meth:`publish` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[asyncio.Queue[Event], asyncio.AbstractEventLoop] = {}

    def subscribe(self) -> asyncio.Queue[Event]:
        """A new queue of the events published from now on (call on the event loop)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        with self._lock:
            self._queues[queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        with self._lock:
            self._queues.pop(queue, None)

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every subscriber, on its own loop's thread."""
        with self._lock:
            targets = list(self._queues.items())
        for queue, loop in targets:
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, event)


class SessionWorker:
    """Owns a client session on one thread; see the module docstring.

    Args:
        opener: opens the session, given the callback for published updates;
            it runs on the worker's thread.
        hub: where a published update of a list is announced (``list`` events).
    """

    def __init__(self, opener: Callable[[UpdateCallback], ClientSession], hub: Hub) -> None:
        self._hub = hub
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-session")
        self._session = self._pool.submit(opener, self._updated).result()

    def _updated(self, change: ListChange) -> None:
        # In the session's bridge thread: announce only; the page asks again.
        self._hub.publish(Event("list", {"id": change.state.list_id, "remote": True}))

    async def call(self, fn: Callable[[ClientSession], T]) -> T:
        """``fn(session)`` on the worker's thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, self._session)

    def run(self, fn: Callable[[ClientSession], T]) -> T:
        """``fn(session)`` on the worker's thread, waited for from a plain thread."""
        return self._pool.submit(fn, self._session).result()

    def close(self) -> None:
        """Close the session (on its thread) and stop the thread."""
        try:
            self._pool.submit(self._session.close).result()
        finally:
            self._pool.shutdown(wait=True)
