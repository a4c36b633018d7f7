"""The client session's lifecycle, with a real bridge and real sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from actors.client import ClientSession
from actors.kernel import Bridge

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def endpoint() -> Iterator[str]:
    """A frontend that accepts connections and never answers."""
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        sock.close(0)
        ctx.term()


def bridges() -> int:
    return sum(isinstance(t, Bridge) and t.is_alive() for t in threading.enumerate())


def test_a_session_opened_twice_runs_one_bridge(tmp_path: Path, endpoint: str) -> None:
    before = bridges()
    session = ClientSession("alice", tmp_path / "alice", {"frontend": endpoint})
    session.open()
    # What `with cluster.session(...)` does: the harness opened it already.
    with session:
        assert before + 1 == bridges()
    assert before == bridges()
