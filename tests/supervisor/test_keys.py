"""The cluster's key files: made once, private, and usable by CurveZMQ."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import zmq

from supervisor.keys import (
    KeysMissing,
    ensure_keys,
    key_names,
    load_pair,
    load_public,
    public_fingerprint,
)
from supervisor.topology import parse_topology

pytestmark = pytest.mark.timeout(30)

TWO_HOSTS = """
[cluster]
name = "two"
[proxy]
host = "10.0.0.1"
base_port = 6000
[[servers]]
id = "s1"
host = "10.0.0.1"
[[servers]]
id = "s2"
host = "10.0.0.2"
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_topology_needs_the_proxy_each_server_and_each_hosts_supervisor() -> None:
    topology = parse_topology(TWO_HOSTS)
    assert [
        "proxy",
        "server-s1",
        "server-s2",
        "supervisor-10.0.0.1",
        "supervisor-10.0.0.2",
    ] == key_names(topology)
    assert ["server-s2", "supervisor-10.0.0.2"] == key_names(topology, "10.0.0.2")


def test_keys_are_made_once_with_private_secrets(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert ["proxy", "server-s1"] == ensure_keys(keys, ["proxy", "server-s1"])
    assert 0o700 == mode(keys)
    assert 0o600 == mode(keys / "proxy.key_secret")
    assert 0o644 == mode(keys / "proxy.key")
    before = load_pair(keys, "proxy")
    assert [] == ensure_keys(keys, ["proxy", "server-s1"])
    assert before == load_pair(keys, "proxy")
    assert before.public == load_public(keys, "proxy")
    assert ["proxy.key", "proxy.key_secret", "server-s1.key", "server-s1.key_secret"] == sorted(
        p.name for p in keys.iterdir()
    )


def test_a_lost_public_file_is_made_again_from_its_secret(tmp_path: Path) -> None:
    ensure_keys(tmp_path, ["proxy"])
    pair = load_pair(tmp_path, "proxy")
    (tmp_path / "proxy.key").unlink()
    assert [] == ensure_keys(tmp_path, ["proxy"])
    assert pair.public == load_public(tmp_path, "proxy")


def test_a_missing_key_is_named_with_the_command_that_makes_it(tmp_path: Path) -> None:
    with pytest.raises(KeysMissing) as missing:
        load_pair(tmp_path, "server-s9")
    assert "server-s9.key_secret" in str(missing.value)
    assert "run.py keys" in str(missing.value)
    with pytest.raises(KeysMissing):
        load_public(tmp_path, "proxy")


def test_the_fingerprint_is_a_short_prefix_of_the_public_key_only(tmp_path: Path) -> None:
    ensure_keys(tmp_path, ["proxy"])
    pair = load_pair(tmp_path, "proxy")
    assert pair.public.decode().startswith(public_fingerprint(pair.public))
    assert 8 == len(public_fingerprint(pair.public))


def test_the_keys_made_secure_a_real_curve_connection(tmp_path: Path) -> None:
    """A CURVE server with the proxy's pair and a client that knows the
    proxy's public key talk over TCP; a client with the wrong server key gets nothing."""
    ensure_keys(tmp_path, ["proxy", "server-s1"])
    proxy, server = load_pair(tmp_path, "proxy"), load_pair(tmp_path, "server-s1")
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        listener = ctx.socket(zmq.ROUTER)
        listener.curve_server = True
        listener.curve_secretkey, listener.curve_publickey = proxy.secret, proxy.public
        port = listener.bind_to_random_port("tcp://127.0.0.1")

        def dealer(server_key: bytes) -> zmq.Socket[bytes]:
            sock = ctx.socket(zmq.DEALER)
            sock.curve_serverkey = server_key
            sock.curve_secretkey, sock.curve_publickey = server.secret, server.public
            sock.connect(f"tcp://127.0.0.1:{port}")
            return sock

        good, wrong = dealer(load_public(tmp_path, "proxy")), dealer(server.public)
        good.send(b"hello")
        wrong.send(b"spoofed")
        assert listener.poll(5000)
        assert b"hello" == listener.recv_multipart()[1]
        assert not listener.poll(200)  # the handshake with the wrong key never completes
        for sock in (good, wrong, listener):
            sock.close(linger=0)
    finally:
        ctx.term()
