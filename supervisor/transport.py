"""Which CurveZMQ keys each process's sockets use, from the topology and its key files.

With ``security = "off"`` every function here returns ``None`` (plaintext).
Otherwise:

- the proxy binds every socket as a CURVE server with its own pair; the
  server-facing ones (backend, hello, liveness) admit only the cluster's
  servers (and, on hello, its supervisors), each under the one routing id
  its key may use; the client-facing ones (frontend, publish) admit any key;
- a server connects with its own pair, trusting only the proxy's key;
- a supervisor feeds hellos with its host's pair, under its key's name;
- anyone else (a client, ``status``, a benchmark's load) connects with a
  pair of its own, trusting only the proxy's key.

Runs in the process that builds its sockets; reads key files only.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from actors.kernel import CurveClient, CurveKeys
from supervisor.keys import (
    load_pair,
    load_public,
    proxy_name,
    server_name,
    supervisor_name,
)
from supervisor.topology import Topology

__all__ = [
    "ProxyTransport",
    "client_curve",
    "ephemeral_keys",
    "operator_curve",
    "proxy_transport",
    "server_curve",
    "supervisor_curve",
    "supervisor_identity",
]


@dataclass(frozen=True)
class ProxyTransport:
    """The proxy's keys and whom its server-facing sockets admit."""

    keys: CurveKeys
    #: public key (Z85) -> name, for the gatekeeper's allow-list
    allowed: dict[bytes, str]
    #: key name -> the routing id it may use, on backend and liveness
    servers: dict[str, bytes]
    #: the same, plus each host's supervisor, on hello
    hello: dict[str, bytes]
    #: key name -> public key (Z85) of the keys that may ask for ``status``
    #: (and debug requests) on the client socket: each host's supervisor,
    #: whose key the operator of that host has
    operators: dict[str, bytes]


def proxy_transport(topology: Topology) -> ProxyTransport | None:
    """What the proxy needs (``None``: plaintext).

    Raises:
        KeysMissing: a key file is missing.
    """
    if topology.cluster.security == "off":
        return None
    keys_dir = topology.keys_dir
    pair = load_pair(keys_dir, proxy_name())
    allowed: dict[bytes, str] = {}
    servers: dict[str, bytes] = {}
    for server in topology.servers:
        name = server_name(server.id)
        allowed[load_public(keys_dir, name)] = name
        servers[name] = server.id.encode()
    hello = dict(servers)
    operators: dict[str, bytes] = {}
    for host in sorted(topology.hosts()):
        name = supervisor_name(host)
        public = load_public(keys_dir, name)
        allowed[public] = name
        hello[name] = name.encode()
        operators[name] = public
    return ProxyTransport(CurveKeys(pair.public, pair.secret), allowed, servers, hello, operators)


def server_curve(topology: Topology, server_id: str) -> CurveClient | None:
    """A server's sockets to the proxy (``None``: plaintext)."""
    if topology.cluster.security == "off":
        return None
    pair = load_pair(topology.keys_dir, server_name(server_id))
    return CurveClient(CurveKeys(pair.public, pair.secret), _proxy_public(topology))


def supervisor_identity(topology: Topology, host: str | None) -> str:
    """The routing id (and key name) of the supervisor of ``host`` (all: the proxy's)."""
    return supervisor_name(host or topology.proxy.host)


def supervisor_curve(topology: Topology, host: str | None) -> CurveClient | None:
    """The supervisor's hello socket (``None``: plaintext)."""
    if topology.cluster.security == "off":
        return None
    pair = load_pair(topology.keys_dir, supervisor_identity(topology, host))
    return CurveClient(CurveKeys(pair.public, pair.secret), _proxy_public(topology))


def operator_curve(topology: Topology, host: str | None = None) -> CurveClient | None:
    """An operator's socket to the proxy's client socket, for ``status``: the
    key of this host's supervisor (``None`` returned: plaintext).

    Raises:
        KeysMissing: this host has no supervisor key (run ``run.py keys``).
    """
    if topology.cluster.security == "off":
        return None
    pair = load_pair(topology.keys_dir, supervisor_identity(topology, host))
    return CurveClient(CurveKeys(pair.public, pair.secret), _proxy_public(topology), keyed=True)


def client_curve(topology: Topology, keys: CurveKeys | None = None) -> CurveClient | None:
    """A client's sockets to the proxy, with ``keys`` (a new pair if ``None``;
    ``None`` returned: plaintext)."""
    if topology.cluster.security == "off":
        return None
    return CurveClient(keys or ephemeral_keys(), _proxy_public(topology), keyed=True)


def ephemeral_keys() -> CurveKeys:
    """A new key pair, kept nowhere (a one-off ``status``, a load generator)."""
    public, secret = zmq.curve_keypair()
    return CurveKeys(public, secret)


def _proxy_public(topology: Topology) -> bytes:
    return load_public(topology.keys_dir, proxy_name())
