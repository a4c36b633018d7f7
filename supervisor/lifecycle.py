"""One cluster per data folder: its lock file, the ports it needs, and stopping it.

A supervisor holds an OS lock (``fcntl.flock``) on
``<data_dir>/cluster-<host>.lock`` (``cluster-all.lock`` without ``--host``)
for as long as it runs, and writes its pid, host and start time into the
file. The kernel releases the lock when the process ends, however it ends,
so a file left behind by a killed cluster does not block the next one: a
cluster is running exactly when a lock is held, and the file then says by
whom. Each machine of a topology has its own data folder; several hosts'
supervisors may share one (a test's network namespaces), but a supervisor of
every host excludes all others, and two of one host exclude each other.

Before a supervisor binds anything, :func:`check_ports` tries the proxy's
fixed ports, so that a port held by another program is named at once.

:func:`stop_cluster` stops a running cluster from any process (``run.py
stop``): SIGTERM to the pid in the lock file, a wait with a deadline for the
lock to be released, SIGKILL if it was not (the children die with their
supervisor).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import msgspec

from supervisor.topology import PROXY_CHANNELS, Topology

__all__ = [
    "ClusterBusy",
    "ClusterLock",
    "LockInfo",
    "StopResult",
    "busy_message",
    "check_ports",
    "die_with_parent",
    "lock_path",
    "running_holder",
    "running_holders",
    "stop_cluster",
]

#: How often a stop looks at the lock while waiting for the cluster to end.
_POLL_S: Final = 0.05


class ClusterBusy(Exception):
    """A cluster of this topology is running here, or a port it needs is taken;
    the message says which pid or port, and how to stop it."""


class LockInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a running supervisor writes into its lock file."""

    pid: int
    #: the host it runs the processes of; ``None``: every process
    host: str | None
    cluster: str
    #: wall-clock start, seconds since the epoch
    started_at: float


def lock_path(topology: Topology, host: str | None = None) -> Path:
    """The lock file of the supervisor of ``host`` (of every host: ``None``) here."""
    return topology.data_dir / f"cluster-{host_tag(host)}.lock"


def host_tag(host: str | None) -> str:
    """``host`` as a file name part: ``all`` for every host, other characters as ``_``."""
    return "all" if host is None else re.sub(r"[^A-Za-z0-9._-]", "_", host)


def busy_message(topology: Topology, info: LockInfo | None, topology_file: str) -> str:
    """The one line a person reads when a cluster of ``topology`` is already running."""
    who = f"pid {info.pid}" if info is not None else "another process"
    return (
        f"a cluster of topology {topology.cluster.name!r} is already running here ({who}, "
        f"lock {lock_path(topology, info.host if info else None)}); stop it with: "
        f"python run.py stop {topology_file}"
    )


class ClusterLock:
    """The lock a supervisor holds for its whole run.

    :meth:`acquire` takes it (without waiting) and records this process;
    :meth:`release` ends it. The file descriptor is not inherited by child
    processes (PEP 446), so the lock ends with this process.
    """

    def __init__(self, topology: Topology, host: str | None = None) -> None:
        self.topology = topology
        self.host = host
        self.path = lock_path(topology, host)
        self._file: IO[bytes] | None = None

    def acquire(self, topology_file: str) -> None:
        """Take the lock and write this process's :class:`LockInfo` into it.

        Raises:
            ClusterBusy: another live process holds it, or holds the lock of
                a supervisor whose processes overlap this one's.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+b")
        if not _lock_now(f, self.path):
            f.close()
            raise ClusterBusy(busy_message(self.topology, read_lock(self.path), topology_file))
        self._file = f
        mine = host_tag(self.host)
        overlap = [
            info
            for info in running_holders(self.topology, besides=self.path)
            if self.host is None or info.host is None or host_tag(info.host) == mine
        ]
        if overlap:
            self.release()
            raise ClusterBusy(busy_message(self.topology, overlap[0], topology_file))
        info = LockInfo(
            pid=os.getpid(),
            host=self.host,
            cluster=self.topology.cluster.name,
            started_at=time.time(),
        )
        f.truncate(0)
        f.write(msgspec.json.encode(info))
        f.flush()

    def release(self) -> None:
        """Let the lock go (the file stays: only the OS lock means anything)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.truncate(0)
            self._file.close()
            self._file = None


def read_lock(path: Path) -> LockInfo | None:
    """The lock file's contents, or ``None`` if absent, empty or malformed."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=LockInfo)
    except (OSError, msgspec.DecodeError):
        return None


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock at ``path`` (tried, never waited for)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return False
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def running_holders(topology: Topology, besides: Path | None = None) -> list[LockInfo]:
    """The supervisors running ``topology`` on this machine (one per host, or
    one of every host), but the one of lock file ``besides``.

    A held lock whose file is not (yet) readable is reported with pid 0 and
    the host its file is named after (a supervisor writes its file just
    after it takes the lock: one starting beside it must not take it for a
    supervisor of every host).
    """
    found = []
    for path in sorted(topology.data_dir.glob("cluster-*.lock")):
        if path == besides or not is_held(path):
            continue
        tag = path.name.removeprefix("cluster-").removesuffix(".lock")
        found.append(
            read_lock(path)
            or LockInfo(
                pid=0,
                host=None if tag == "all" else tag,
                cluster=topology.cluster.name,
                started_at=0.0,
            )
        )
    return found


#: How long :meth:`ClusterLock.acquire` retries a lock whose file names no
#: holder: another process may be probing it (:func:`is_held`) for a moment.
_PROBED_RETRY_S: Final = 0.5


def _lock_now(f: IO[bytes], path: Path) -> bool:
    """Take ``f``'s exclusive lock without waiting on a holder; ``False`` if
    a supervisor holds it. A lock that is held while its file names no
    holder is tried again for :data:`_PROBED_RETRY_S`: that is a probe's
    shared lock, or a supervisor between taking it and writing its pid."""
    deadline = time.monotonic() + _PROBED_RETRY_S
    while True:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if read_lock(path) is not None or time.monotonic() >= deadline:
                return False
            time.sleep(0.01)  # an OS lock offers no wake-up to wait on
            continue
        return True


def running_holder(topology: Topology) -> LockInfo | None:
    """A supervisor running ``topology`` on this machine, or ``None`` if none is."""
    holders = running_holders(topology)
    return holders[0] if holders else None


def check_ports(topology: Topology, host: str | None) -> None:
    """Fail early if a fixed port of a proxy placed on this host is taken.

    Binds each port for a moment as zmq would (``SO_REUSEADDR``, so a port in
    TIME_WAIT is free), on the proxy's bind address. Ephemeral ports (0) and a
    proxy on another host are not checked.

    Raises:
        ClusterBusy: naming the port, its channel and the address.
    """
    proxy = topology.proxy
    if host is not None and host != proxy.host:
        return
    bind = proxy.bind_host
    address = "" if bind in ("0.0.0.0", "*") else bind  # noqa: S104 - what the proxy binds
    for channel in PROXY_CHANNELS:
        port = proxy.port(channel)
        if port == 0:
            continue
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address.strip("[]"), port))
            except OSError as exc:
                raise ClusterBusy(
                    f"port {port} ({channel}) on {bind} is not free ({exc.strerror}): another "
                    f"program uses it; stop it, or give the proxy other ports in the topology"
                ) from None


@dataclass(frozen=True)
class StopResult:
    """How a :func:`stop_cluster` went."""

    pid: int
    #: it had to be killed (SIGKILL) after ``timeout_s``
    killed: bool
    elapsed_s: float


def stop_cluster(topology: Topology, timeout_s: float = 15.0) -> list[StopResult]:
    """Stop every supervisor of ``topology`` running on this machine.

    SIGTERM to each, then wait until its lock is released; after
    ``timeout_s`` SIGKILL, and wait as long again. Returns one result per
    supervisor stopped; none if no cluster of this topology runs here.

    Raises:
        ClusterBusy: one still holds its lock after SIGKILL, or a lock's
            holder is unknown (pid 0, a file not written yet).
    """
    holders = running_holders(topology)
    unknown = [h for h in holders if h.pid <= 0]
    if unknown:
        raise ClusterBusy(f"a lock in {topology.data_dir} is held by a process that wrote no pid")
    return [_stop_one(lock_path(topology, h.host), h.pid, timeout_s) for h in holders]


def _stop_one(path: Path, pid: int, timeout_s: float) -> StopResult:
    started = time.monotonic()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # gone: the lock goes with it
            os.kill(pid, sig)
        if _wait_released(path, timeout_s):
            return StopResult(pid, sig == signal.SIGKILL, time.monotonic() - started)
    raise ClusterBusy(f"pid {pid} still holds {path} after SIGKILL")


def _wait_released(path: Path, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while is_held(path):
        if time.monotonic() >= end:
            return False
        time.sleep(_POLL_S)  # polling the lock, not synchronising on time
    return True


#: prctl(2) option: the signal the kernel sends a process when its parent exits.
_PR_SET_PDEATHSIG: Final = 1


def die_with_parent() -> bool:
    """Linux: have the kernel send this process SIGTERM when its parent exits
    (however the parent ends, SIGKILL included). ``False`` where it cannot
    (another system, no libc); the caller's other checks must then do."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
