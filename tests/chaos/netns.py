"""A cluster whose servers each run on a network of their own, for partitions.

Each server gets a Linux network namespace (its "host") joined to the root
namespace by a veth pair; the proxy, the tests and their clients stay in the
root namespace. Addresses are point-to-point: the proxy's address
``10.213.X.1`` sits on the root end of every pair, and server ``k`` of the
topology is ``10.213.X.(k+1)`` on the namespace end (named ``eth0``, as on a
machine of its own). ``X`` is claimed per network, so parallel runs do not
clash.

:meth:`HostNetwork.cut` takes a host's ``eth0`` down. From then on:

* the root end has no carrier, so whatever the proxy sends the host is
  dropped without an error (its route stays, marked ``linkdown``): the
  proxy only sees silence, as across a real partition;
* the host has no route at all: its new connections fail at once
  (``ENETUNREACH``), its open TCP connections stay open and retransmit.

:meth:`HostNetwork.heal` brings ``eth0`` back up; the kernel puts the
point-to-point route back with the address, and the open connections resume
at their next retransmission (``test_partition.test_cut_drops_traffic_both_ways``
checks all of this, and prints how soon they resumed).

:class:`NetnsCluster` runs one supervisor per host (``run.py cluster T --host
H``): the proxy's in the root namespace, each server's inside its namespace
with ``ip netns exec``. They share the test's folders (one filesystem), so
the harness's checks of SQLite files and logs work as for one host.

Everything needs root and ``ip netns``: :func:`netns_unavailable` says why not.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psutil
from typing_extensions import override

from protocol import StatusReply
from tests.harness import FAST, RUN, ClusterHarness, wait_until

#: All our networks are /24s of this /16, one per live HostNetwork.
NET_PREFIX = "10.213"
#: The proxy's five channels take base_port + 0..4 (supervisor.topology.PROXY_CHANNELS).
PROXY_PORTS = 5
#: The interface of a host inside its namespace.
HOST_DEV = "eth0"
_CLONE_NEWNET = 0x40000000
_probes = itertools.count()


class NetnsError(RuntimeError):
    """An ``ip`` command failed; the message has its command line and stderr."""


def ip(*args: str, netns: str | None = None) -> str:
    """Run ``ip [-n NETNS] ARGS`` and return its stdout.

    Raises:
        NetnsError: it exited non-zero.
    """
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def netns_unavailable() -> str | None:
    """Why namespaces cannot be used here, or None if they can.

    Really creates (and deletes) a namespace: being root is not enough where
    the container lacks the capability or ``ip`` is missing.
    """
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"shoplist-{os.getpid()}-probe{next(_probes)}"
    try:
        ip("netns", "add", name)
    except FileNotFoundError:
        return "the `ip` command (iproute2) is not installed"
    except NetnsError as exc:
        return f"cannot create a network namespace: {exc}"
    with contextlib.suppress(NetnsError):
        ip("netns", "del", name)
    return None


@dataclass(frozen=True)
class Host:
    """One server's machine: its namespace, the root end of its link, its address."""

    server: str
    netns: str
    root_dev: str
    address: str


class HostNetwork:
    """Namespaces and links for ``servers``; see the module docstring.

    Build it with :meth:`create` (or as a context manager); :meth:`destroy`
    removes whatever was made, may be called more than once, and must be
    called after the processes inside the namespaces are gone (a namespace
    lives on while a process is in it).
    """

    def __init__(self, subnet: int) -> None:
        self.subnet = subnet
        self.proxy_address = f"{NET_PREFIX}.{subnet}.1"
        self.hosts: dict[str, Host] = {}

    @classmethod
    def create(cls, servers: list[str]) -> HostNetwork:
        """A network with one host per server, on the first free subnet.

        Raises:
            NetnsError: no subnet could be claimed, or an ``ip`` command failed
                (what was made is removed first).
        """
        taken = _subnets_in_use()
        for subnet in random.sample(range(1, 255), 254):
            if subnet in taken:
                continue
            net = cls(subnet)
            try:
                if net._add_hosts(servers):
                    return net
            except BaseException:
                net.destroy()
                raise
        raise NetnsError(f"no free /24 left in {NET_PREFIX}.0.0/16")

    def _add_hosts(self, servers: list[str]) -> bool:
        """Make every host; False (having removed them) if another run owns the subnet."""
        for k, server in enumerate(servers, start=2):
            host = Host(
                server,
                netns=f"shoplist-{os.getpid()}-{self.subnet}-{server}",
                # Named by subnet and address, so that creating the first link
                # claims the subnet (a second run's fails: "File exists").
                root_dev=f"shl{self.subnet}-{k}",
                address=f"{NET_PREFIX}.{self.subnet}.{k}",
            )
            ip("netns", "add", host.netns)
            try:
                ip(*_veth(host))
            except NetnsError as exc:
                with contextlib.suppress(NetnsError):
                    ip("netns", "del", host.netns)
                if "exists" not in str(exc):
                    raise
                self.destroy()  # another run's link: not ours to delete
                return False
            self.hosts[server] = host
            self._address(host)
        return True

    def _address(self, host: Host) -> None:
        proxy, ns = self.proxy_address, host.netns
        ip("addr", "add", f"{proxy}/32", "peer", f"{host.address}/32", "dev", host.root_dev)
        ip("link", "set", host.root_dev, "up")
        ip("addr", "add", f"{host.address}/32", "peer", f"{proxy}/32", "dev", HOST_DEV, netns=ns)
        ip("link", "set", HOST_DEV, "up", netns=ns)
        ip("link", "set", "lo", "up", netns=ns)

    def destroy(self) -> None:
        """Remove every link and namespace of this network (idempotent)."""
        for host in list(self.hosts.values()):
            # Deleting one end of a veth deletes both, at once; a namespace
            # deleted with the pair in it would free it asynchronously.
            with contextlib.suppress(NetnsError):
                ip("link", "del", host.root_dev)
            with contextlib.suppress(NetnsError):
                ip("netns", "del", host.netns)
            del self.hosts[host.server]

    def __enter__(self) -> HostNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # ------------------------------------------------------------- faults

    def cut(self, server: str) -> None:
        """Partition ``server``'s host from everyone: its interface goes down."""
        ip("link", "set", HOST_DEV, "down", netns=self.hosts[server].netns)

    def heal(self, server: str) -> None:
        """Reconnect ``server``'s host; returns once the link carries traffic again."""
        ns = self.hosts[server].netns
        ip("link", "set", HOST_DEV, "up", netns=ns)
        wait_until(lambda: self.is_linked(server), 5.0, f"{server}'s route to the proxy")

    def is_linked(self, server: str) -> bool:
        """Whether ``server``'s link carries traffic: both ends have a carrier
        and the host has its route to the proxy."""
        host = self.hosts[server]
        ends = ip("-o", "link", "show", "dev", host.root_dev) + ip(
            "-o", "link", "show", "dev", HOST_DEV, netns=host.netns
        )
        route = ip("-4", "route", "show", "dev", HOST_DEV, netns=host.netns)
        return ends.count("LOWER_UP") == 2 and self.proxy_address in route

    def holds(self, server: str, pid: int) -> bool:
        """Whether process ``pid`` runs in ``server``'s namespace."""
        return _netns_inode(pid) == os.stat(f"/run/netns/{self.hosts[server].netns}").st_ino

    def leftovers(self) -> list[str]:
        """Namespaces and links of this subnet still in the system (for checks)."""
        mine = f"shoplist-{os.getpid()}-{self.subnet}-"
        spaces = [n.split()[0] for n in ip("netns", "list").splitlines() if n.startswith(mine)]
        links = [
            line.split(":")[1].strip().split("@")[0]
            for line in ip("-o", "link", "show").splitlines()
            if f": shl{self.subnet}-" in line
        ]
        return spaces + links

    def socket_in(self, server: str) -> socket.socket:
        """A TCP socket of ``server``'s host, for tests of the link itself."""
        return socket_in_netns(self.hosts[server].netns)


def _veth(host: Host) -> list[str]:
    """The ``ip`` arguments that make a host's link, its far end inside the namespace."""
    return f"link add {host.root_dev} type veth peer name {HOST_DEV} netns {host.netns}".split()


def socket_in_netns(netns: str) -> socket.socket:
    """A TCP socket created inside ``netns``.

    A socket belongs to the namespace it was made in, whoever uses it later.
    A short-lived thread enters the namespace to make it (``setns`` changes
    the calling thread only), so the caller's namespace never changes.
    """
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}", "rb") as handle:
                if libc.setns(handle.fileno(), _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=make, name=f"setns-{netns}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def _netns_inode(pid: int) -> int:
    """The network namespace of a process, as the inode that names it."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _subnets_in_use() -> set[int]:
    """Third octets of the 10.213.X.0/24s that any interface has an address in."""
    used: set[int] = set()
    for line in ip("-o", "-4", "addr", "show").splitlines():
        for word in line.split():
            with contextlib.suppress(ValueError):
                addr = ipaddress.ip_interface(word).ip
                if str(addr).startswith(f"{NET_PREFIX}."):
                    used.add(int(str(addr).split(".")[2]))
    return used


def free_port_range(count: int = PROXY_PORTS, attempts: int = 50) -> int:
    """The first of ``count`` consecutive TCP ports that nobody holds, on any address.

    The OS offers a free port (bind to port 0); the ones after it are checked
    by binding them on the wildcard address, which fails if any socket holds
    that port on any address.

    Raises:
        RuntimeError: no such range was found in ``attempts`` offers.
    """
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))
            base = int(probe.getsockname()[1])
        if base + count - 1 <= 65535 and all(_port_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports after {attempts} tries")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def topology_on_hosts(base: Path, net: HostNetwork, base_port: int, **cluster: Any) -> str:
    """A topology for ``net``: the proxy on its address with fixed ports (the
    supervisors of the other hosts must know them), each server on its host."""
    settings: dict[str, Any] = {
        "name": "netns",
        "data_dir": str(base / "data"),
        "log_dir": str(base / "log"),
    }
    settings.update(FAST)
    settings.update(cluster)
    lines = ["[cluster]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += ["", "[proxy]", f'host = "{net.proxy_address}"', f"base_port = {base_port}", ""]
    for host in net.hosts.values():
        lines += ["[[servers]]", f'id = "{host.server}"', f'host = "{host.address}"', ""]
    return "\n".join(lines)


class NetnsCluster(ClusterHarness):
    """A :class:`ClusterHarness` on a :class:`HostNetwork`: one supervisor per host.

    ``proc`` is the proxy's supervisor (so the inherited waits notice it
    exiting); :attr:`supervisors` has every host's, by host address. Stop and
    kill act on all of them; ``child_pids`` covers the processes of all.
    """

    def __init__(
        self, base: Path, servers: list[str], settings: dict[str, Any], net: HostNetwork
    ) -> None:
        super().__init__(base=base, servers=servers, settings=settings)
        self.net = net
        self.supervisors: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------ lifecycle

    @override
    def start(self, wait_ring: bool = True) -> NetnsCluster:
        """Start the proxy's supervisor, then each server's in its namespace."""
        self.base.mkdir(parents=True, exist_ok=True)
        base_port = free_port_range()
        self.topology.write_text(topology_on_hosts(self.base, self.net, base_port, **self.settings))
        # Every host's keys at once, in the folder all hosts share here (on
        # machines of their own, an operator copies the public files).
        subprocess.run(
            [sys.executable, RUN, "keys", str(self.topology)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        run = [sys.executable, RUN, "cluster", str(self.topology), "--host"]
        self.proc = self._supervise(self.net.proxy_address, [*run, self.net.proxy_address])
        # Servers can start before the proxy is up: they dial its fixed ports
        # and ZeroMQ retries until it listens.
        for server in self.servers:
            host = self.net.hosts[server]
            self._supervise(host.address, ["ip", "netns", "exec", host.netns, *run, host.address])
        if wait_ring:
            self.wait_ring(len(self.servers))
            self._check_placement()
        return self

    def _check_placement(self) -> None:
        """Each server process is in its host's namespace, the proxy in ours."""
        pids = self.child_pids()
        misplaced = [s for s in self.servers if not self.net.holds(s, pids[s])]
        if _netns_inode(pids["proxy"]) != _netns_inode(os.getpid()):
            misplaced.append("proxy")
        assert not misplaced, f"not in their hosts' namespaces: {misplaced}"

    def _supervise(self, host: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Run ``cmd``, the supervisor of ``host``, in a process group of its own."""
        with (self.base / f"cluster-{host}.out").open("ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.base, start_new_session=True
            )
        self.supervisors[host] = proc
        return proc

    @override
    def wait_ring(self, members: int, deadline_s: float = 30.0) -> StatusReply:
        """Wait for ``members`` live ring members; fail at once if a supervisor exited."""

        def ready() -> StatusReply | str | None:
            # An exit is returned, not raised: wait_until retries on exceptions.
            exited = self._exited_supervisors()
            if exited:
                return exited
            status = self.status()
            live = [m for m in status.members if m.alive and not m.suspect]
            return status if len(live) >= members else None

        # mypy joins StatusReply and str to object when it solves wait_until's T.
        what = f"{members} live ring members"
        found = cast("StatusReply | str", wait_until(ready, deadline_s, what))
        if isinstance(found, str):
            raise AssertionError(found)
        return found

    def _exited_supervisors(self) -> str:
        """What the supervisors that exited said, or "" if all run."""
        exited = {h: p.returncode for h, p in self.supervisors.items() if p.poll() is not None}
        return f"supervisors exited {exited}: {self.output()}" if exited else ""

    @override
    def output(self) -> str:
        tails = []
        for host in self.supervisors:
            path = self.base / f"cluster-{host}.out"
            if path.exists():
                tails.append(f"[{host}] " + path.read_text(errors="replace")[-1500:])
        return "\n".join(tails)

    @override
    def descendants(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for proc in self.supervisors.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                found += psutil.Process(proc.pid).children(recursive=True)
        return found

    @override
    def stop(self, timeout_s: float = 10.0) -> float:
        """SIGTERM every supervisor; returns how long all their processes took
        to exit. Whatever is left after ``timeout_s`` is killed, and the test
        fails: a stop must be clean."""
        if not self.supervisors:
            return 0.0
        kids = self.descendants()
        started = time.monotonic()
        for proc in self.supervisors.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        stuck = [
            host for host, proc in self.supervisors.items() if not _exits(proc, started, timeout_s)
        ]
        if stuck:
            self.kill_everything()
            raise AssertionError(f"supervisors of {stuck} did not stop in {timeout_s}s")
        left = max(0.1, timeout_s - (time.monotonic() - started))
        _, alive = psutil.wait_procs(kids, timeout=left)
        elapsed = time.monotonic() - started
        if alive:
            self.kill_everything()
            raise AssertionError(f"processes left behind: {[p.pid for p in alive]}")
        self.supervisors.clear()
        self.proc = None
        return elapsed

    @override
    def kill_everything(self) -> None:
        """SIGKILL every supervisor's process group and every descendant (idempotent)."""
        kids = self.descendants()
        for proc in self.supervisors.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for kid in kids:
            with contextlib.suppress(psutil.Error):
                kid.kill()
        for proc in self.supervisors.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        psutil.wait_procs(kids, timeout=5)
        self.supervisors.clear()
        self.proc = None


def _exits(proc: subprocess.Popen[bytes], started: float, timeout_s: float) -> bool:
    try:
        proc.wait(max(0.0, timeout_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        return False
    return True


@contextlib.contextmanager
def netns_cluster(
    net: HostNetwork, base: Path, servers: list[str], settings: dict[str, Any]
) -> Iterator[NetnsCluster]:
    """A running :class:`NetnsCluster` on ``net`` for the block. Afterwards
    its processes are gone (stopped cleanly, or killed) and so is ``net``,
    even when the block or the stop failed."""
    cluster = NetnsCluster(base, servers, settings, net)
    try:
        with cluster.running():
            yield cluster
    finally:
        cluster.kill_everything()
        net.destroy()
