"""The cluster's CurveZMQ keys: which a topology needs, where they live, how they are made.

Every process of a secured topology (``security = "curve"``, the default)
has a key pair; the files are ``zmq.auth`` certificates in the topology's
``keys_dir`` (a folder of mode 0700):

- ``proxy.key`` / ``proxy.key_secret``: the proxy's. Servers and clients
  need its public file to reach it.
- ``server-<id>.key`` / ``...key_secret``: each server's. The proxy needs
  every server's public file: its allow-list of the cluster's servers.
- ``supervisor-<host>.key`` / ``...key_secret``: the supervisor of each
  host, the only key that may vouch for joining servers.

A secret file is written with mode 0600, into a fresh private folder first
and then moved into place, so it is never readable by others even for a
moment. Nothing here logs or sends a key. For several hosts, each host
needs the secret files of its own processes and the public files of the
processes it talks to (see README.md, "Several hosts").

Pure file handling; runs in the process that calls it (``run.py keys``,
the supervisor at start, a child process loading its keys).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import zmq.auth

from supervisor.topology import Topology

__all__ = [
    "KeyPair",
    "KeysMissing",
    "ensure_keys",
    "key_names",
    "load_pair",
    "load_public",
    "proxy_name",
    "public_fingerprint",
    "server_name",
    "supervisor_name",
]


class KeysMissing(FileNotFoundError):
    """A key file a process needs does not exist (``run.py keys`` makes them)."""


class KeyPair(NamedTuple):
    """One CurveZMQ key pair, each key 40 bytes of Z85."""

    public: bytes
    secret: bytes


def proxy_name() -> str:
    return "proxy"


def server_name(server_id: str) -> str:
    return f"server-{server_id}"


def supervisor_name(host: str) -> str:
    return f"supervisor-{host}"


def key_names(topology: Topology, host: str | None = None) -> list[str]:
    """The key pairs whose secret belongs on ``host`` (every host: ``None``)."""
    names: list[str] = []
    if host is None or topology.proxy.host == host:
        names.append(proxy_name())
    names += [server_name(s.id) for s in topology.servers if host is None or s.host == host]
    names += [supervisor_name(h) for h in sorted(topology.hosts()) if host is None or h == host]
    return names


def ensure_keys(keys_dir: Path, names: list[str]) -> list[str]:
    """Make the key pairs of ``names`` that ``keys_dir`` lacks; the names made.

    A pair whose secret file exists is kept as it is (its public file is
    made again from it if missing); ``keys_dir`` is made with mode 0700.
    """
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    made: list[str] = []
    for name in names:
        secret_file = keys_dir / f"{name}.key_secret"
        public_file = keys_dir / f"{name}.key"
        if secret_file.exists():
            if not public_file.exists():
                _write_public(public_file, load_pair(keys_dir, name).public)
            continue
        _make_pair(keys_dir, name)
        made.append(name)
    return made


def load_pair(keys_dir: Path, name: str) -> KeyPair:
    """The key pair ``name`` of ``keys_dir``.

    Raises:
        KeysMissing: its secret file does not exist.
    """
    path = keys_dir / f"{name}.key_secret"
    public, secret = _certificate(path)
    if secret is None:
        raise KeysMissing(f"{path}: holds no secret key")
    return KeyPair(public, secret)


def load_public(keys_dir: Path, name: str) -> bytes:
    """The public key ``name`` of ``keys_dir``.

    Raises:
        KeysMissing: its public file does not exist.
    """
    return _certificate(keys_dir / f"{name}.key")[0]


def _certificate(path: Path) -> tuple[bytes, bytes | None]:
    """A certificate file's (public, secret) keys, the secret ``None`` in a public file."""
    if not path.exists():
        raise KeysMissing(f"{path}: no such key; `python run.py keys TOPOLOGY` makes it")
    return zmq.auth.load_certificate(str(path))


def _make_pair(keys_dir: Path, name: str) -> None:
    # mkdtemp makes a 0700 folder: the secret file is private from its first byte.
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=keys_dir))
    try:
        public_file, secret_file = (Path(p) for p in zmq.auth.create_certificates(staging, name))
        os.chmod(secret_file, 0o600)
        os.chmod(public_file, 0o644)
        # The secret first: a public file never exists without its secret.
        os.replace(secret_file, keys_dir / secret_file.name)
        os.replace(public_file, keys_dir / public_file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_public(path: Path, public: bytes) -> None:
    """A public certificate made again from its secret's file (zmq.auth's format)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f'curve\n    public-key = "{public.decode()}"\n')
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def public_fingerprint(public: bytes) -> str:
    """A short, loggable name of a public key (never of a secret one)."""
    return public.decode()[:8]
