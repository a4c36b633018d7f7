"""``run.py client --id NAME web [--port P]``: serve a person's page on 127.0.0.1.

The client's session is opened (subscribed to its lists' updates) on the
worker's thread, a socket is bound on 127.0.0.1 (port 0: any free one), the
address with the session's secret is printed, and uvicorn serves the guarded
app until interrupted (Ctrl-C or SIGTERM); the session is closed last, so
that nothing made on the page is lost (edits not yet pushed stay in the
local store, and go at the next start, or with ``sync``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Final

import uvicorn

from supervisor.lifecycle import die_with_parent
from ui.client import ClientOptions, open_session
from ui.contract import WEB_PARENT_ENV
from ui.web.app import build_app
from ui.web.guard import Guard, Secrets
from ui.web.worker import Hub, SessionWorker

__all__ = ["HOST", "run_web"]

HOST: Final = "127.0.0.1"
#: How long a stop waits for open event streams before it closes them.
_GRACE_S: Final = 1


def _parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py client --id NAME web")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    return parser.parse_args(args)


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    return sock


def _noted(sig: int, frame: FrameType | None) -> None:
    """A signal uvicorn already acted on (it stopped); nothing more to do."""


@contextlib.contextmanager
def _quiet_after_stop() -> Iterator[None]:
    """uvicorn stops on SIGINT and SIGTERM, then raises the signal again for
    the handler it found before; a no-op one lets the session close and the
    command return, instead of dying (SIGTERM) or a traceback (SIGINT)."""
    before = {sig: signal.signal(sig, _noted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def run_web(opts: ClientOptions, args: list[str]) -> int:
    """Serve the page until interrupted; 0 once stopped.

    Prints one line, ``open http://127.0.0.1:PORT/?token=SECRET``, when the
    page can be opened.
    """
    port = _parse(args).port
    parent = os.environ.get(WEB_PARENT_ENV, "")
    if parent and (not die_with_parent() or str(os.getppid()) != parent):
        return 0  # its parent is gone already, or could not be followed
    hub = Hub()
    worker = SessionWorker(
        lambda on_update: open_session(opts, subscribe=True, on_update=on_update), hub
    )
    try:
        sock = _bind(port)
        bound = int(sock.getsockname()[1])
        keys = Secrets()
        app = Guard(build_app(worker, hub, keys.csrf), bound, keys)
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=_GRACE_S,
        )
        print(f"open http://{HOST}:{bound}/?token={keys.token}", flush=True)  # noqa: T201
        with sock, _quiet_after_stop():
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        worker.close()
    return 0
