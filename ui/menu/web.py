"""The menu's web page: ``run.py client --id ID web`` as a child of the menu.

The page needs a session of its own on a thread of its own (see
:mod:`ui.web`), so the menu starts the same command a person would and
shows the address it prints. The page stops with the menu.

Runs on the menu's thread.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from ui.client import ClientOptions
from ui.contract import WEB_PARENT_ENV

__all__ = ["WebPage"]

#: How long the page may take to print its address.
START_TIMEOUT_S: Final = 20.0
#: How long it may take to stop once asked.
STOP_TIMEOUT_S: Final = 5.0

_RUN_PY = Path(__file__).resolve().parents[2] / "run.py"


class WebPage:
    """One page server for the menu's client, started on first use."""

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def command(self) -> list[str]:
        """The command line of the page: the menu's client, its cluster and store."""
        cmd = [sys.executable, str(_RUN_PY), "client", "--id", self.opts.client_id]
        if self.opts.topology_file is not None:
            cmd += ["--topology", str(self.opts.topology_file)]
        elif self.opts.proxy is not None:
            cmd += ["--proxy", self.opts.proxy]
        if self.opts.store is not None:
            cmd += ["--store", str(self.opts.store)]
        return [*cmd, "web"]

    def open(self) -> str:
        """The page's address, starting the page if it is not running.

        Raises:
            RuntimeError: the page did not print its address in time.
        """
        if self._proc is not None and self._proc.poll() is None and self.url:
            return self.url
        self.close()
        # The page stops when the menu ends, even if no `finally` runs (SIGKILL).
        env = {**os.environ, WEB_PARENT_ENV: str(os.getpid())}
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self._proc = proc
        line = _first_line(proc, START_TIMEOUT_S)
        if not line.startswith("open "):
            self.close()
            raise RuntimeError("the web page did not start (see the client's log)")
        self.url = line.removeprefix("open ").strip()
        return self.url

    def close(self) -> None:
        """Stop the page, if it runs (SIGTERM, then SIGKILL past the timeout)."""
        proc, self._proc, self.url = self._proc, None, ""
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The first line ``proc`` prints, or ``""`` if none comes within ``timeout_s``."""
    if proc.stdout is None:
        return ""
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if sel.select(left):
                return proc.stdout.readline().decode(errors="replace")
            if proc.poll() is not None:
                return ""
    return ""
