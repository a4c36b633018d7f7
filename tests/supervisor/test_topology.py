"""The topology file: the shipped one loads, and every mistake names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.topology import (
    PROXY_CHANNELS,
    ClusterConfig,
    Topology,
    TopologyError,
    load_topology,
    parse_topology,
)

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "topologies" / "local.toml"

SERVERS = '[[servers]]\nid = "s1"\n\n[[servers]]\nid = "s2"\n'
PROXY = "[proxy]\nbase_port = 6000\n"


def toml(cluster: str = "", proxy: str = PROXY, servers: str = SERVERS) -> str:
    return f"[cluster]\n{cluster}\n\n{proxy}\n{servers}"


def error_of(text: str) -> str:
    with pytest.raises(TopologyError) as caught:
        parse_topology(text, "test.toml")
    message = str(caught.value)
    assert message.startswith("test.toml: ")
    return message


# ----------------------------------------------------------------- the file


def test_the_local_topology_loads() -> None:
    topo = load_topology(LOCAL)
    c = topo.cluster
    assert ["s1", "s2", "s3", "s4", "s5"] == topo.server_ids()
    assert (3, 2, 2) == (c.n, c.r, c.w)
    assert 5550 == topo.proxy.base_port
    ports = [topo.proxy.port(channel) for channel in PROXY_CHANNELS]
    assert [5550, 5551, 5552, 5553] == ports
    assert 4 == len({e.rsplit(":", 1)[1] for e in topo.proxy.endpoints().values()})
    assert {"127.0.0.1"} == topo.hosts()
    assert Path("var/local/data") / "endpoints.json" == topo.endpoints_file


def test_a_minimal_topology_takes_the_defaults() -> None:
    topo = parse_topology(toml())
    assert ClusterConfig() == topo.cluster
    c = topo.cluster
    assert (3, 2, 2, "normal") == (c.n, c.r, c.w, c.durability)


def test_spread_gives_the_proxy_the_first_cpu_and_the_servers_the_others_first() -> None:
    servers = "".join(
        f'[[servers]]\nid = "{i}"\nhost = "{h}"\n\n'
        for i, h in [("a1", "h1"), ("b1", "h2"), ("a2", "h1"), ("b2", "h2"), ("a3", "h1")]
    )
    proxy = '[proxy]\nhost = "h1"\nbase_port = 6000\n'
    topo = parse_topology(toml('cpu_affinity = "spread"', proxy, servers))
    assert "spread" == topo.cluster.cpu_affinity
    names = ["proxy", "a1", "a2", "a3", "b1", "b2"]
    assert {"proxy": 0, "a1": 1, "a2": 0, "a3": 1, "b1": 0, "b2": 1} == {
        n: topo.cpu_for(n, 2) for n in names
    }
    assert {"proxy": 0, "a1": 1, "a2": 2, "a3": 3, "b1": 0, "b2": 1} == {
        n: topo.cpu_for(n, 4) for n in names
    }
    assert {0} == {topo.cpu_for(n, 1) for n in names}
    # Only a server on the proxy's CPU, of the proxy's host, is its guest.
    assert ["a2"] == [n for n in names if topo.guest_of_proxy(n, 2)]
    assert [] == [n for n in names if topo.guest_of_proxy(n, 4) or topo.guest_of_proxy(n, 1)]
    with pytest.raises(KeyError):
        topo.cpu_for("nobody", 2)


def test_ephemeral_ports_are_all_zero() -> None:
    topo = parse_topology(toml(proxy="[proxy]\nbase_port = 0\n"))
    assert [0] * 4 == [topo.proxy.port(channel) for channel in PROXY_CHANNELS]


def test_explicit_ports_override_the_base_port() -> None:
    topo = parse_topology(toml(proxy="[proxy]\nbase_port = 6000\nliveness_port = 7000\n"))
    assert [6000, 6001, 6002, 7000] == [topo.proxy.port(ch) for ch in PROXY_CHANNELS]


def test_a_missing_file_is_a_topology_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read topology"):
        load_topology(tmp_path / "nope.toml")


def test_the_topology_is_frozen() -> None:
    topo = load_topology(LOCAL)
    with pytest.raises(AttributeError):
        topo.cluster.n = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        topo.proxy.base_port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        topo.servers[0].id = "s9"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        topo.cluster = ClusterConfig()  # type: ignore[misc]
    assert isinstance(topo, Topology)


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (toml('n = "3"'), "$.cluster.n"),
        (toml("request_timeout_s = 0"), "$.cluster.request_timeout_s"),
        (toml('durability = "sometimes"'), "$.cluster.durability"),
        (toml("cache_lists = 0"), "$.cluster.cache_lists"),
        (toml('cpu_affinity = "pinned"'), "$.cluster.cpu_affinity"),
        (toml("r = 0"), "$.cluster.r"),
        (toml(proxy="[proxy]\nbase_port = 70000\n"), "$.proxy.base_port"),
        (toml(servers='[[servers]]\nid = "s 1"\n'), "$.servers[0].id"),
        (toml(servers='[[servers]]\nid = "s1\\n"\n'), "$.servers[0].id"),
        (toml(servers="[[servers]]\nid = 1\n"), "$.servers[0].id"),
        (toml(servers='[[servers]]\nhost = "h"\n'), "$.servers[0]"),
    ],
)
def test_a_wrong_type_or_value_names_the_field(text: str, field: str) -> None:
    assert error_of(text).endswith(f"- at `{field}`")


@pytest.mark.parametrize(
    ("text", "field", "key"),
    [
        (toml("replicas = 3"), "$.cluster", "replicas"),
        (toml(proxy="[proxy]\nbase_port = 6000\nport = 1\n"), "$.proxy", "port"),
        (toml(servers='[[servers]]\nid = "s1"\nport = 3\n'), "$.servers[0]", "port"),
    ],
)
def test_an_unknown_key_names_the_key_and_its_table(text: str, field: str, key: str) -> None:
    message = error_of(text)
    assert f"unknown field `{key}`" in message
    assert message.endswith(f"- at `{field}`")


def test_an_unknown_table_is_named() -> None:
    message = error_of("[clusters]\nn = 3\n" + PROXY + SERVERS)
    assert message.endswith("unknown field `clusters`")


@pytest.mark.parametrize(
    ("cluster", "field", "why"),
    [
        ("n = 2\nr = 3\nw = 1", "$.cluster.r", "r=3 cannot exceed n=2"),
        ("n = 2\nr = 1\nw = 3", "$.cluster.w", "w=3 cannot exceed n=2"),
    ],
)
def test_a_quorum_larger_than_n_names_the_field(cluster: str, field: str, why: str) -> None:
    assert f"test.toml: {why} - at `{field}`" == error_of(toml(cluster))


def test_no_servers_is_an_error() -> None:
    assert error_of(toml(servers="")).endswith("at least one server is required - at `$.servers`")


def test_duplicate_server_ids_are_an_error() -> None:
    servers = SERVERS + '[[servers]]\nid = "s1"\nhost = "10.0.0.2"\n'
    assert error_of(toml(servers=servers)).endswith("duplicate server ids ['s1'] - at `$.servers`")


def test_the_id_proxy_is_reserved() -> None:
    message = error_of(toml(servers=SERVERS + '[[servers]]\nid = "proxy"\n'))
    assert message.endswith("'proxy' is reserved for the proxy's node id - at `$.servers`")


def test_missing_ports_name_the_first_port_without_one() -> None:
    assert error_of(toml(proxy="")).endswith(
        "give base_port or every *_port - at `$.proxy.frontend_port`"
    )
    partial = "[proxy]\nfrontend_port = 6000\nbackend_port = 6001\n"
    assert error_of(toml(proxy=partial)).endswith("- at `$.proxy.hello_port`")


def test_mixed_ephemeral_and_fixed_ports_are_an_error() -> None:
    mixed = "[proxy]\nbase_port = 0\nhello_port = 6003\n"
    assert error_of(toml(proxy=mixed)).endswith(
        "ports must be all fixed or all 0 (ephemeral) - at `$.proxy`"
    )


def test_a_port_used_twice_names_the_second_channel() -> None:
    twice = "[proxy]\nbase_port = 6000\nliveness_port = 6001\n"
    assert error_of(toml(proxy=twice)).endswith(
        "port 6001 is used twice - at `$.proxy.liveness_port`"
    )


def test_a_base_port_that_runs_off_the_end_names_base_port() -> None:
    assert error_of(toml(proxy="[proxy]\nbase_port = 65534\n")).endswith(
        "hello would use port 65536 > 65535 - at `$.proxy.base_port`"
    )


def test_invalid_toml_is_a_topology_error() -> None:
    assert "not valid TOML" in error_of("[cluster\n")


# --------------------------------------------------------------- proxy_host


def test_a_server_dials_the_proxy_at_its_host_by_default() -> None:
    topo = parse_topology(toml())
    assert [None, None] == [s.proxy_host for s in topo.servers]
    endpoints = topo.proxy.endpoints()
    assert endpoints == topo.servers[0].dial(endpoints)


@pytest.mark.parametrize("host", ["127.0.0.2", "relay.example.org", "tunnel-1", "[::1]"])
def test_a_server_may_dial_the_proxy_elsewhere(host: str) -> None:
    servers = f'[[servers]]\nid = "s1"\nproxy_host = "{host}"\n\n[[servers]]\nid = "s2"\n'
    topo = parse_topology(toml(servers=servers))
    assert [host, None] == [s.proxy_host for s in topo.servers]


def test_dial_replaces_the_host_and_keeps_channels_and_ports() -> None:
    topo = parse_topology(toml(servers='[[servers]]\nid = "s1"\nproxy_host = "127.0.0.2"\n'))
    advertised = topo.proxy.endpoints()
    dialled = topo.servers[0].dial(advertised)
    assert {ch: f"tcp://127.0.0.2:{6000 + k}" for k, ch in enumerate(PROXY_CHANNELS)} == dialled
    assert "tcp://127.0.0.1:6000" == advertised["frontend"]  # the input is left alone


def test_dial_keeps_the_port_of_an_ipv6_endpoint() -> None:
    topo = parse_topology(toml(servers='[[servers]]\nid = "s1"\nproxy_host = "[::1]"\n'))
    assert {"backend": "tcp://[::1]:7002"} == topo.servers[0].dial(
        {"backend": "tcp://[fe80::1]:7002"}
    )


@pytest.mark.parametrize("value", ['""', '"a b"', '"h:6000"', '"tcp://h"', '"h/x"', '"[::1"', "1"])
def test_a_bad_proxy_host_names_the_field(value: str) -> None:
    servers = f'[[servers]]\nid = "s1"\nproxy_host = {value}\n'
    assert error_of(toml(servers=servers)).endswith("- at `$.servers[0].proxy_host`")
