"""Chaos: a server's network is cut off (a partition) while clients write, then healed.

Every server runs in a network namespace of its own, linked to the proxy's
by a veth pair (see :mod:`tests.chaos.netns`). Cutting the link leaves the
server running with its sockets open, but nothing it sends arrives and
nothing sent to it does: the proxy must notice the silence, route around
it, lose nothing acknowledged, and bring it up to date once the link is back
(see :mod:`tests.chaos.scenario` for the ledger and the checks).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.netns import HostNetwork, NetnsCluster, netns_cluster, netns_unavailable
from tests.chaos.scenario import CHAOS_SETTINGS, SERVERS, Report, owners, run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.timeout(240)]

#: How long a message must not arrive for the link to count as cut.
SILENCE_S = 0.5


@pytest.fixture
def host_network(request: pytest.FixtureRequest) -> Iterator[HostNetwork]:
    """A network of one host, "s1", and no cluster: for tests of the link."""
    net = _network(request, ["s1"])
    with net:
        yield net


@pytest.fixture
def partition_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NetnsCluster]:
    """The chaos cluster with every server on a host of its own."""
    net = _network(request, SERVERS)
    with netns_cluster(net, tmp_path, SERVERS, dict(CHAOS_SETTINGS)) as cluster:
        yield cluster


def _network(request: pytest.FixtureRequest, servers: list[str]) -> HostNetwork:
    """A :class:`HostNetwork` that is removed, and checked gone, whatever the test does."""
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    net = HostNetwork.create(servers)
    # Finalizers run last-in first-out: remove, then check that nothing is left.
    request.addfinalizer(lambda: _assert_gone(net))
    request.addfinalizer(net.destroy)
    return net


def _assert_gone(net: HostNetwork) -> None:
    assert [] == net.leftovers(), "namespaces or links left behind"


# ------------------------------------------------------------------ the link


def test_cut_drops_traffic_both_ways(host_network: HostNetwork) -> None:
    """A cut link carries nothing either way, on open connections or new ones;
    after the heal, what was sent during the cut arrives."""
    net = host_network
    with contextlib.ExitStack() as stack:
        root_server = stack.enter_context(socket.create_server((net.proxy_address, 0)))
        host_server = stack.enter_context(net.socket_in("s1"))
        host_server.bind((net.hosts["s1"].address, 0))
        host_server.listen()
        # An open connection each way: dialled from the host, and to it.
        outbound = _connect(stack, net.socket_in("s1"), root_server)
        inbound = _connect(stack, socket.socket(), host_server)
        ends = [*outbound, *inbound]
        for end in ends:
            _send_and_receive(end, _peer(end, ends))

        net.cut("s1")
        for end in ends:
            end.sendall(b"x")
        for end in ends:
            end.settimeout(SILENCE_S)
            with pytest.raises(TimeoutError):
                end.recv(1)
        with pytest.raises(OSError, match="unreachable"):  # the host has no route
            _dial(net.socket_in("s1"), root_server)
        with pytest.raises(TimeoutError):  # the proxy's side: silence
            _dial(socket.socket(), host_server)

        healed_at = time.monotonic()
        net.heal("s1")
        for end in ends:
            end.settimeout(30.0)  # TCP resends at its next retransmission
            assert b"x" == end.recv(1)
        resumed_s = time.monotonic() - healed_at
        _dial(net.socket_in("s1"), root_server).close()
        _dial(socket.socket(), host_server).close()
    print("\nLINK " + json.dumps({"open_connections_resumed_after_heal_s": round(resumed_s, 3)}))


def _connect(
    stack: contextlib.ExitStack, client: socket.socket, server: socket.socket
) -> tuple[socket.socket, socket.socket]:
    """Both ends of a new connection from ``client`` to the listening ``server``."""
    stack.enter_context(client)
    _dial(client, server)
    server.settimeout(5.0)
    accepted, _ = server.accept()
    stack.enter_context(accepted)
    return client, accepted


def _dial(client: socket.socket, server: socket.socket) -> socket.socket:
    client.settimeout(1.0)
    client.connect(server.getsockname())
    return client


def _peer(end: socket.socket, ends: list[socket.socket]) -> socket.socket:
    """The other end of ``end``'s connection (ends come in connected pairs)."""
    k = ends.index(end)
    return ends[k ^ 1]


def _send_and_receive(sender: socket.socket, receiver: socket.socket) -> None:
    sender.sendall(b"hello")
    receiver.settimeout(5.0)
    assert b"hello" == receiver.recv(5)


# -------------------------------------------------------------- the scenario


def _heal_all(net: HostNetwork, cut: list[str]) -> None:
    """Never leave a host cut off, even when the scenario failed."""
    for server in cut:
        if not net.is_linked(server):
            net.heal(server)


def test_one_server_partitioned(partition_cluster: NetnsCluster) -> None:
    cluster = partition_cluster
    cut: list[str] = []

    def fault(report: Report) -> None:
        victim = owners(cluster, report.ephemeral[0])[0]
        report.victims.append(victim)
        cluster.net.cut(victim)
        cut.append(victim)

    def heal(report: Report) -> None:
        assert not any(cluster.net.is_linked(server) for server in cut), "healed too early"
        _heal_all(cluster.net, cut)

    try:
        report = run_scenario(
            cluster, "one server partitioned", fault, heal, ("proxy.suspect", None)
        )
    finally:
        _heal_all(cluster.net, cut)
    assert report.detected_s is not None, "the proxy never noticed the partition"
