"""A real cluster for tests: real processes, real sockets, real SQLite files.

``ClusterHarness`` writes a topology with ephemeral ports (0) and data and
log folders under a temp dir, starts ``python run.py cluster`` in its own
process group, and waits for the ring to form. Teardown always stops it:
SIGTERM, then SIGKILL to the whole group, and checks that nothing is left.

Waiting is always for a condition with a deadline (:func:`wait_until`).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from actors.client import ClientSession, ClientStore
from actors.kernel import CurveClient
from protocol import StatusReply
from supervisor.endpoints import read_endpoints
from supervisor.probe import ProxyUnreachable, fetch_status
from supervisor.topology import load_topology
from supervisor.transport import client_curve, operator_curve

ROOT = Path(__file__).resolve().parent.parent
RUN = str(ROOT / "run.py")
T = TypeVar("T")

#: Short intervals so that failures are detected within a test's patience.
FAST = {
    "probe_interval_s": 0.2,
    "probe_misses": 3,
    "join_batch_timeout_s": 0.5,
    "request_timeout_s": 0.5,
    "client_timeout_s": 2.0,
    "connect_timeout_s": 1.0,
}


def wait_until(
    condition: Callable[[], T | None], deadline_s: float, what: str, interval_s: float = 0.05
) -> T:
    """Return the first truthy value of ``condition()``; fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while True:
        try:
            value = condition()
        except Exception as exc:
            value, last = None, exc
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(
                f"timed out after {deadline_s}s waiting for {what} (last: {last!r})"
            )
        time.sleep(interval_s)  # polling a condition, not synchronising on time


def topology_toml(
    base: Path,
    servers: list[str],
    *,
    proxy_hosts: Mapping[str, str] | None = None,
    base_port: int = 0,
    **cluster: Any,
) -> str:
    """A topology of ``servers`` on loopback with ``cluster`` settings;
    ``proxy_hosts`` gives a server the address it dials the proxy at;
    ``base_port`` fixes the proxy's ports (0: ephemeral)."""
    settings = {"name": "test", "data_dir": str(base / "data"), "log_dir": str(base / "log")}
    settings.update(FAST)
    settings.update(cluster)
    lines = ["[cluster]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["", "[proxy]", 'host = "127.0.0.1"', f"base_port = {base_port}", ""]
    for server in servers:
        lines += ["[[servers]]", f'id = "{server}"', 'host = "127.0.0.1"']
        if proxy_hosts and server in proxy_hosts:
            lines.append(f"proxy_host = {json.dumps(proxy_hosts[server])}")
        lines.append("")
    return "\n".join(lines)


@dataclass
class ClientResult:
    code: int
    out: dict[str, Any]
    stdout: str
    stderr: str


@dataclass
class ClusterHarness:
    base: Path
    servers: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    #: server id -> the address it dials the proxy at (see ``ServerConfig.proxy_host``)
    proxy_hosts: dict[str, str] = field(default_factory=dict)
    #: the proxy's first port, fixed across restarts (0: ephemeral ports)
    base_port: int = 0
    _curve: CurveClient | None = field(default=None, repr=False)
    _curve_loaded: bool = field(default=False, repr=False)

    @property
    def topology(self) -> Path:
        return self.base / "topology.toml"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log_dir(self) -> Path:
        return self.base / "log"

    # ------------------------------------------------------------ lifecycle

    def start(self, wait_ring: bool = True) -> ClusterHarness:
        self.base.mkdir(parents=True, exist_ok=True)
        self.topology.write_text(
            topology_toml(
                self.base,
                self.servers,
                proxy_hosts=self.proxy_hosts,
                base_port=self.base_port,
                **self.settings,
            )
        )
        out = (self.base / "cluster.out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, RUN, "cluster", str(self.topology)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.base,
            start_new_session=True,
        )
        out.close()
        if wait_ring:
            self.wait_ring(len(self.servers))
        return self

    def endpoints(self) -> dict[str, str]:
        return read_endpoints(self.data_dir / "endpoints.json")

    def status(self, timeout_s: float = 1.0) -> StatusReply:
        return fetch_status(self.endpoints()["frontend"], timeout_s, self.operator_curve())

    def wait_ring(self, members: int, deadline_s: float = 30.0) -> StatusReply:
        def ready() -> StatusReply | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"cluster exited with {self.proc.returncode}: {self.output()}")
            try:
                status = self.status()
            except (ProxyUnreachable, Exception):
                return None
            live = [m for m in status.members if m.alive and not m.suspect]
            return status if len(live) >= members else None

        return wait_until(ready, deadline_s, f"{members} live ring members")

    def output(self) -> str:
        path = self.base / "cluster.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def descendants(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def child_pids(self) -> dict[str, int]:
        """Cluster process name ("proxy", "s1", ...) -> pid, from their command lines."""
        found: dict[str, int] = {}
        for p in self.descendants():
            with contextlib.suppress(psutil.Error):
                name = p.name()
                cmd = " ".join(p.cmdline())
                if "multiprocessing" in cmd or name.startswith("python"):
                    found[_child_name(p)] = p.pid
        return {k: v for k, v in found.items() if k}

    def stop(self, timeout_s: float = 10.0) -> float:
        """SIGTERM the supervisor; returns how long the whole group took to exit.

        Whatever is still alive after ``timeout_s`` is killed, and the test
        fails: a stop must be clean.
        """
        if self.proc is None:
            return 0.0
        kids = self.descendants()
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._kill_group(kids)
            raise AssertionError(f"supervisor did not stop in {timeout_s}s") from None
        _, alive = psutil.wait_procs(
            kids, timeout=max(0.1, timeout_s - (time.monotonic() - started))
        )
        elapsed = time.monotonic() - started
        if alive:
            self._kill_group(alive)
            raise AssertionError(f"processes left behind: {[p.pid for p in alive]}")
        self.proc = None
        return elapsed

    @contextlib.contextmanager
    def running(self) -> Iterator[ClusterHarness]:
        """Started for the block, then stopped cleanly (a test that passed)
        or killed (one that failed, or a stop that was not clean)."""
        try:
            self.start()
            yield self
            if self.proc is not None:  # the test may have stopped it
                self.stop()
        finally:
            self.kill_everything()

    def kill_everything(self) -> None:
        """Last-resort cleanup for a failed test."""
        if self.proc is None:
            return
        kids = self.descendants()
        self._kill_group(kids)
        self.proc = None

    def _kill_group(self, kids: list[psutil.Process]) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for p in kids:
            with contextlib.suppress(psutil.Error):
                p.kill()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    # -------------------------------------------------------------- clients

    def client_command(self, client_id: str, *args: str, offline: bool = False) -> list[str]:
        """``run.py client`` of this cluster (``offline``: of a proxy that is
        not there), with the client's store under the test's folder."""
        where = ["--proxy", "tcp://127.0.0.1:9"] if offline else ["--topology", str(self.topology)]
        store = ["--store", str(self.base / "clients" / client_id)]
        return [sys.executable, RUN, "client", "--id", client_id, *where, *store, *args]

    def client(
        self, client_id: str, *args: str, offline: bool = False, timeout_s: float = 60
    ) -> ClientResult:
        """Run ``run.py client --json`` as its own process."""
        cmd = self.client_command(client_id, "--json", *args, offline=offline)
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, cwd=self.base, check=False
        )
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
        try:
            out = json.loads(last)
        except json.JSONDecodeError:
            out = {"raw": done.stdout}
        return ClientResult(done.returncode, out, done.stdout, done.stderr)

    def curve(self) -> CurveClient | None:
        """CurveZMQ keys for a socket of the test's own to the proxy (a pair
        of the test's, the proxy's public key); ``None`` if the cluster is
        not secured."""
        if not self._curve_loaded:
            self._curve = client_curve(load_topology(self.topology))
            self._curve_loaded = True
        return self._curve

    def operator_curve(self) -> CurveClient | None:
        """The keys an operator asks for status and debugging with (the
        supervisor's); ``None`` if the cluster is not secured."""
        return operator_curve(load_topology(self.topology))

    def proxy_key(self) -> bytes | None:
        """The proxy's public key, for a client of a secured cluster."""
        curve = self.curve()
        return None if curve is None else curve.server_public

    def session(self, client_id: str, **kwargs: Any) -> ClientSession:
        """An in-process client session (real sockets) for load and ledgers."""
        kwargs.setdefault("client_timeout_s", FAST["client_timeout_s"])
        kwargs.setdefault("connect_timeout_s", FAST["connect_timeout_s"])
        kwargs.setdefault("proxy_key", self.proxy_key())
        session = ClientSession(
            client_id, self.base / "clients" / client_id, self.endpoints(), **kwargs
        )
        session.open()
        return session

    def key_of(self, client_id: str) -> str:
        """The public key of a client of this harness (made on first use)."""
        store = ClientStore(self.base / "clients" / client_id, client_id)
        try:
            return store.curve_keys()[0].decode()
        finally:
            store.close()

    def share(self, owner: str, list_id: str, *members: str, read_only: bool = False) -> None:
        """``owner`` (the client that created the list) shares it with ``members``."""
        with self.session(owner) as session:
            for member in members:
                session.share(list_id, self.key_of(member), "viewer" if read_only else "editor")

    def log_events(self, pattern: str = "*.jsonl") -> Iterator[dict[str, Any]]:
        for path in sorted(self.log_dir.glob(pattern)):
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    yield json.loads(line)


def _child_name(p: psutil.Process) -> str:
    """Map a spawned child back to its topology name through its log file handle."""
    with contextlib.suppress(psutil.Error):
        for f in p.open_files():
            name = Path(f.path).name
            if name.endswith(".jsonl") and not name.startswith("supervisor"):
                stem = name.removesuffix(".jsonl")
                return stem.split("-", 1)[1] if "-" in stem else stem
    return ""


class LineReader:
    """Read a child's stdout lines with a deadline (no blocking forever)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.stream = proc.stdout
        os.set_blocking(self.stream.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.stream, selectors.EVENT_READ)
        self.buf = b""

    def next_line(self, deadline_s: float) -> str | None:
        end = time.monotonic() + deadline_s
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            if self.sel.select(left):
                chunk = self.stream.read()
                if not chunk:
                    if chunk == b"":
                        return None
                    continue
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()
