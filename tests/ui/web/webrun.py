"""Real ``run.py client ... web`` processes and a cluster that comes back on its ports.

:class:`WebClient` starts a person's web client as its own process (in its
own process group), reads the URL it prints, and always stops it.
:func:`cluster_away` stops a harness cluster for a while and starts it again
with the proxy pinned to the ports it had, so that clients started before find it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from supervisor.topology import PROXY_CHANNELS
from tests.harness import RUN, ClusterHarness, LineReader

_URL = re.compile(r"open (http://127\.0\.0\.1:(\d+)/\?token=(\S+))")


@dataclass
class WebClient:
    """One client's web page server, as ``run.py client --id ID web`` runs it."""

    client_id: str
    store: Path
    where: list[str]
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    port: int = 0
    token: str = ""
    log: Path = field(default=Path())

    @classmethod
    def for_cluster(cls, cluster: ClusterHarness, client_id: str) -> WebClient:
        store = cluster.base / "clients" / client_id
        return cls(client_id, store, ["--topology", str(cluster.topology)])

    @classmethod
    def offline(cls, base: Path, client_id: str) -> WebClient:
        """A client whose proxy address answers nothing (port 9, discard)."""
        return cls(client_id, base / "clients" / client_id, ["--proxy", "tcp://127.0.0.1:9"])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, deadline_s: float = 30.0) -> WebClient:
        self.store.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.store.parent / f"web-{self.client_id}.err"
        cmd = [sys.executable, RUN, "client", "--id", self.client_id, *self.where]
        cmd += ["--store", str(self.store), "web", "--port", "0"]
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.store.parent,
                start_new_session=True,
            )
        line = LineReader(self.proc).next_line(deadline_s)
        match = _URL.search(line or "")
        if match is None:
            self.kill()
            raise AssertionError(f"no URL printed: {line!r}; stderr: {self.log.read_text()}")
        self.url, self.port, self.token = match[1], int(match[2]), match[3]
        assert urlsplit(self.url).hostname == "127.0.0.1"
        return self

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, as a service manager stops it; its exit code (killed if stuck)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.client_id}'s web client did not stop") from None
        self.proc = None
        return code

    def kill(self) -> None:
        """Last-resort cleanup: the whole process group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.proc = None


@contextlib.contextmanager
def cluster_away(cluster: ClusterHarness) -> Iterator[None]:
    """The cluster stopped for the block, then started again with its proxy
    on the ports it had (clients keep the endpoints they started with)."""
    ports = {ch: url.rsplit(":", 1)[1] for ch, url in cluster.endpoints().items()}
    cluster.stop()
    yield
    text = cluster.topology.read_text()
    pinned = "\n".join(f"{ch}_port = {port}" for ch, port in ports.items() if ch in PROXY_CHANNELS)
    cluster.topology.write_text(text.replace("base_port = 0", pinned))
    out = (cluster.base / "cluster.out").open("ab")
    cluster.proc = subprocess.Popen(
        [sys.executable, RUN, "cluster", str(cluster.topology)],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=cluster.base,
        start_new_session=True,
    )
    out.close()
    cluster.wait_ring(len(cluster.servers))
