"""A pytest plugin that runs pykka's own test suite against the hosted runtime.

Loaded by ``test_pykka_suite.py`` into a pytest subprocess run inside an
extracted copy of pykka's sdist (``-p hosted_runtime``, with this folder on
``PYTHONPATH``). It imports nothing of pykka's ``tests`` package: a line
inserted into that copy's ``conftest.py`` passes in its ``Runtime`` class::

    RUNTIMES["hosted"] = __import__("hosted_runtime").param(Runtime)

It also provides the ``mocker`` fixture pykka's suite takes from pytest-mock,
which is not a test dependency of ours: just the calls the suite makes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final
from unittest import mock

import pykka
import pytest

from actors.kernel.runtime import ActorHost, HostedActor

#: How long the host thread sleeps in its wait when nothing wakes it: a
#: safety net only; every put from another thread sets the waker.
IDLE_WAIT_S: Final = 0.5


class SuiteHost:
    """One host thread for the whole session, like a bridge without sockets.

    Its loop waits for the waker, then runs rounds while there is work. A
    ``BaseException`` from a hook ends a bridge's thread; this one carries on
    (the actor that raised it has stopped and told every actor to stop), so
    that the suite's later tests find their host running.
    """

    def __init__(self) -> None:
        self._waker = threading.Event()
        self.host = ActorHost(self._waker.set)
        self._bound = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="pykka-suite-host", daemon=True)
        self.thread.start()
        if not self._bound.wait(10.0):
            raise RuntimeError("the suite's host thread did not start")

    def _loop(self) -> None:
        self.host.bind()
        self._bound.set()
        while True:
            self._waker.wait(IDLE_WAIT_S)
            self._waker.clear()
            while self.host.pending():
                try:
                    self.host.run()
                except BaseException:  # see the class docstring
                    continue


_lock = threading.Lock()
_suite_host: SuiteHost | None = None


def suite_host() -> ActorHost:
    """The session's host, started on first use."""
    global _suite_host  # noqa: PLW0603 - one host per test session
    with _lock:
        if _suite_host is None:
            _suite_host = SuiteHost()
        return _suite_host.host


class SuiteHostedActor(HostedActor):
    """The ``actor_class`` of the hosted runtime: hosted by :func:`suite_host`."""

    def _actor_host(self) -> ActorHost:
        return suite_host()


def param(runtime_class: Callable[..., Any]) -> Any:
    """The ``pytest.param`` for pykka's ``RUNTIMES``, built with its ``Runtime``."""
    runtime = runtime_class(
        name="hosted",
        actor_class=SuiteHostedActor,
        event_class=threading.Event,
        future_class=pykka.ThreadingFuture,
        sleep_func=time.sleep,
    )
    return pytest.param(runtime, id="hosted")


class _Patch:
    def __init__(self) -> None:
        self._patchers: list[Any] = []

    def object(self, target: object, attribute: str, *args: Any, **kwargs: Any) -> Any:
        patcher = mock.patch.object(target, attribute, *args, **kwargs)
        started = patcher.start()
        self._patchers.append(patcher)
        return started

    def stop_all(self) -> None:
        while self._patchers:
            self._patchers.pop().stop()


class Mocker:
    """The part of pytest-mock's ``MockerFixture`` that pykka's suite uses."""

    Mock = mock.Mock
    MagicMock = mock.MagicMock
    NonCallableMock = mock.NonCallableMock

    def __init__(self) -> None:
        self.patch = _Patch()


@pytest.fixture
def mocker() -> Iterator[Mocker]:
    m = Mocker()
    try:
        yield m
    finally:
        m.patch.stop_all()
