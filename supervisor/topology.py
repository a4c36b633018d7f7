"""The topology file: which processes run where, and how the cluster behaves.

A topology is TOML, decoded by msgspec into frozen structs, so a misspelt key
or a wrong type is reported with the path of the field (``$.cluster.n``);
rules that involve several fields are checked afterwards and reported the
same way. Relative directories are taken from the current working directory,
so ``var/...`` lands under the checkout when run from its root.

Example (``topologies/local.toml``)::

    [cluster]
    name = "local"
    data_dir = "var/local/data"
    log_dir = "var/local/log"

    [proxy]
    host = "127.0.0.1"
    base_port = 5550          # or frontend_port = ..., backend_port = ..., ...

    [[servers]]
    id = "s1"
    host = "127.0.0.1"
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import msgspec

from actors.kernel import Channel, ClusterConfig, NodeId
from protocol import FaultRule

__all__ = [
    "ClusterConfig",
    "ProxyConfig",
    "ServerConfig",
    "Topology",
    "TopologyError",
    "load_topology",
    "parse_topology",
]

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
#: A host as it goes into ``tcp://HOST:PORT``: a name, an IPv4 address, or an
#: IPv6 address in brackets; nothing that would change the endpoint's shape.
DialHost = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=255, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)\Z"),
]

#: The proxy's sockets in port order, as offsets from ``base_port``.
PROXY_CHANNELS: tuple[Channel, ...] = ("frontend", "backend", "hello", "liveness")


class TopologyError(ValueError):
    """The topology file is missing, malformed, or inconsistent; the message names the field."""


class ProxyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the proxy runs. Port 0 asks the OS for a free port (tests do)."""

    host: str = "127.0.0.1"
    #: address to bind; defaults to ``host`` (use "0.0.0.0" to listen everywhere)
    bind: str = ""
    #: frontend, backend, hello and liveness take base_port + 0..3
    base_port: Port | None = None
    frontend_port: Port | None = None
    backend_port: Port | None = None
    hello_port: Port | None = None
    liveness_port: Port | None = None

    def port(self, channel: str) -> int:
        """The configured port of one of :data:`PROXY_CHANNELS`."""
        explicit: int | None = getattr(self, f"{channel}_port")
        if explicit is not None:
            return explicit
        if self.base_port is None:
            raise TopologyError(f"$.proxy: no {channel}_port and no base_port")
        return 0 if self.base_port == 0 else self.base_port + PROXY_CHANNELS.index(channel)

    @property
    def bind_host(self) -> str:
        return self.bind or self.host

    def endpoints(self) -> dict[str, str]:
        """Connect endpoints by channel, as configured (port 0 until bound)."""
        return {ch: f"tcp://{self.host}:{self.port(ch)}" for ch in PROXY_CHANNELS}


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One server process, and the host that runs it."""

    id: NodeId
    host: str = "127.0.0.1"
    #: the address this server dials the proxy at, where that differs from the
    #: proxy's ``host`` (NAT, a tunnel, a relay); the ports stay the proxy's
    proxy_host: DialHost | None = None

    def dial(self, endpoints: Mapping[str, str]) -> dict[str, str]:
        """The proxy's ``endpoints`` (``tcp://host:port`` by channel) as this
        server dials them: the host replaced by :attr:`proxy_host` if set,
        the port and the channel kept. Pure; the input is not changed."""
        if self.proxy_host is None:
            return dict(endpoints)
        return {
            ch: f"tcp://{self.proxy_host}:{url.rsplit(':', 1)[1]}" for ch, url in endpoints.items()
        }


class Topology(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole topology file, validated."""

    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    proxy: ProxyConfig = msgspec.field(default_factory=ProxyConfig)
    servers: list[ServerConfig] = msgspec.field(default_factory=list)
    #: fault rules installed in every bridge at start (see ``actors.kernel.faults``);
    #: $SHOPLIST_FAULTS (the same rules as JSON) adds to them
    faults: list[FaultRule] = msgspec.field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.cluster.data_dir)

    @property
    def log_dir(self) -> Path:
        return Path(self.cluster.log_dir)

    @property
    def keys_dir(self) -> Path:
        """Where the cluster's key files are (see :mod:`supervisor.keys`)."""
        if self.cluster.keys_dir:
            return Path(self.cluster.keys_dir)
        return self.data_dir.parent / "keys"

    @property
    def endpoints_file(self) -> Path:
        """Where the supervisor records the proxy's bound endpoints."""
        return self.data_dir / "endpoints.json"

    def server_ids(self) -> list[str]:
        return [s.id for s in self.servers]

    def hosts(self) -> set[str]:
        return {self.proxy.host} | {s.host for s in self.servers}

    def cpu_for(self, node_id: str, cpus: int) -> int:
        """Which of its host's ``cpus`` usable CPUs (an index into them, in
        order) a process takes under ``cpu_affinity = "spread"``.

        The proxy takes the first CPU of its host: every request crosses it
        twice, and it runs on one thread. The servers of that host take the
        other CPUs round-robin in topology order, and only when there are
        more servers than other CPUs, the proxy's too, as its guests (see
        :meth:`guest_of_proxy`). The servers of any other host share all its
        CPUs. With one CPU, everything is on it.

        Raises:
            KeyError: no process of this topology has that node id.
        """
        hosts = {"proxy": self.proxy.host} | {s.id: s.host for s in self.servers}
        host = hosts[node_id]
        if cpus < 2 or node_id == "proxy":
            return 0
        place = [s.id for s in self.servers if s.host == host].index(node_id)
        if host == self.proxy.host:
            return (1 + place) % cpus
        return place % cpus

    def guest_of_proxy(self, node_id: str, cpus: int) -> bool:
        """Whether ``node_id`` is a server that :meth:`cpu_for` puts on the
        proxy's CPU. It then runs at a lower priority, so that the proxy
        takes its CPU back the moment it has work: the server uses what the
        proxy leaves, which on this 2-core machine is a quarter of a CPU
        under load and most of it between one client's requests.

        Raises:
            KeyError: no process of this topology has that node id.
        """
        return (
            node_id != "proxy"
            and cpus >= 2
            and self.cpu_for(node_id, cpus) == 0
            and {s.id: s.host for s in self.servers}[node_id] == self.proxy.host
        )


def parse_topology(text: str | bytes, source: str = "topology") -> Topology:
    """Decode and validate topology TOML.

    Raises:
        TopologyError: naming the file and the offending field.
    """
    try:
        topo = msgspec.toml.decode(text, type=Topology)
    except msgspec.ValidationError as exc:
        raise TopologyError(f"{source}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise TopologyError(f"{source}: not valid TOML: {exc}") from None
    _check(topo, source)
    return topo


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file.

    Raises:
        TopologyError: the file is unreadable or invalid.
    """
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read topology: {exc.strerror}") from None
    return parse_topology(text, str(path))


def _check(topo: Topology, source: str) -> None:
    c = topo.cluster

    def fail(field: str, why: str) -> None:
        raise TopologyError(f"{source}: {why} - at `{field}`")

    if not topo.servers:
        fail("$.servers", "at least one server is required")
    ids = topo.server_ids()
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        fail("$.servers", f"duplicate server ids {dupes}")
    if "proxy" in ids:
        fail("$.servers", "'proxy' is reserved for the proxy's node id")
    if c.r > c.n:
        fail("$.cluster.r", f"r={c.r} cannot exceed n={c.n}")
    if c.w > c.n:
        fail("$.cluster.w", f"w={c.w} cannot exceed n={c.n}")
    ports: dict[str, int] = {}
    for channel in PROXY_CHANNELS:
        try:
            port = topo.proxy.port(channel)
        except TopologyError:
            fail(f"$.proxy.{channel}_port", "give base_port or every *_port")
        if port > 65535:
            fail("$.proxy.base_port", f"{channel} would use port {port} > 65535")
        if port and port in ports.values():
            fail(f"$.proxy.{channel}_port", f"port {port} is used twice")
        ports[channel] = port
    if any(ports.values()) and not all(ports.values()):
        fail("$.proxy", "ports must be all fixed or all 0 (ephemeral)")
