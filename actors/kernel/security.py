"""CurveZMQ on a process's sockets: the keys of a socket, and the ZAP handler
that decides who may connect.

- :class:`CurveServer` on a bind socket: it speaks CURVE with its key pair
  and asks the process's :class:`Gatekeeper` about every peer, in the ZAP
  domain it names: ``"servers"`` admits only the keys of the cluster's own
  processes, ``"clients"`` admits any key (a client is then known by it).
- :class:`CurveClient` on a connect socket: it knows the server's public key,
  so it talks to nobody else.

A plaintext peer cannot complete a handshake with either. The gatekeeper is
pyzmq's ZAP authenticator (:class:`zmq.auth.thread.ThreadAuthenticator`, on
a thread of its own), given two credential callbacks; the ZAP protocol
itself is pyzmq's. It sets each connection's ``User-Id``: the name of an
allowed key (``"server-s1"``), or ``"client:<public key>"`` for others;
the bridge reads it from every frame of a socket whose spec asks
(:attr:`~actors.kernel.bridge.SocketSpec.peers`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import zmq
from typing_extensions import override
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from logs import Logger, ThrottledWarning

__all__ = [
    "CLIENT_PREFIX",
    "KEY_CHARS",
    "CurveClient",
    "CurveKeys",
    "CurveServer",
    "Gatekeeper",
    "ZapDomain",
    "apply_curve",
    "client_routing_id",
]

#: Who a socket admits: the cluster's own processes, or any client key.
ZapDomain = Literal["servers", "clients"]
#: The User-Id of a connection whose key is not on the allow-list.
CLIENT_PREFIX: Final = "client:"
#: Characters of a public key in Z85.
KEY_CHARS: Final = 40
#: Refused keys are logged at most this often (a flood of bad peers must not
#: become a flood of log lines).
REFUSAL_LOG_INTERVAL_S: Final = 1.0


@dataclass(frozen=True)
class CurveKeys:
    """A key pair, each key 40 bytes of Z85. ``repr`` never shows the secret."""

    public: bytes
    secret: bytes

    @override
    def __repr__(self) -> str:
        return f"CurveKeys(public={self.public[:8].decode()}...)"


@dataclass(frozen=True)
class CurveServer:
    """The CURVE side of a bind socket: its keys and whom it admits."""

    keys: CurveKeys
    domain: ZapDomain


@dataclass(frozen=True)
class CurveClient:
    """The CURVE side of a connect socket: its keys and the server it trusts.

    ``keyed``: the socket's routing id is made from its key
    (:func:`client_routing_id`), as the proxy's client-facing ROUTER requires.
    """

    keys: CurveKeys
    server_public: bytes
    keyed: bool = False


def client_routing_id(public: bytes) -> bytes:
    """A client connection's routing id: its Z85 public key and a random suffix.

    The proxy checks, per frame, that the routing id begins with the key of
    the connection (so the routing id names who sent it), and does not let a
    connection take over another's routing id; the suffix, known only to the
    connection's owner, keeps two connections of one key apart.
    """
    return public + os.urandom(6).hex().encode()


def apply_curve(sock: zmq.Socket[Any], curve: CurveServer | CurveClient | None) -> None:
    """Set a socket's CURVE options (before it binds or connects); ``None``: plaintext."""
    if curve is None:
        return
    sock.curve_secretkey = curve.keys.secret
    sock.curve_publickey = curve.keys.public
    if isinstance(curve, CurveServer):
        sock.curve_server = True
        sock.zap_domain = curve.domain.encode()
        # A peer the gatekeeper refuses is told so, and stops retrying.
        sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
    else:
        sock.curve_serverkey = curve.server_public
        if curve.keyed:
            sock.setsockopt(zmq.ROUTING_ID, client_routing_id(curve.keys.public))


class _Authenticator(ThreadAuthenticator):
    """pyzmq's ZAP handler, naming allowed keys by their names."""

    def __init__(self, ctx: zmq.Context[Any], names: Mapping[bytes, str]) -> None:
        super().__init__(ctx)
        self.names = names

    @override
    def curve_user_id(self, client_public_key: bytes) -> str:
        # Runs on the authenticator's thread, per admitted connection.
        key = z85.encode(client_public_key)
        return self.names.get(key) or CLIENT_PREFIX + key.decode()


class _AllowList:
    """The ``servers`` domain: only the cluster's keys. Runs on the authenticator's thread."""

    def __init__(self, names: Mapping[bytes, str], log: Logger) -> None:
        self.names = names
        self.refusals = ThrottledWarning(log, "security.unknown_key", REFUSAL_LOG_INTERVAL_S)

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.names:
            return True
        # A public key is public: its prefix names the peer in the log.
        self.refusals.happened(domain=domain, key=key[:8].decode())
        return False


class _AnyKey:
    """The ``clients`` domain: every key; the key is who the client is."""

    def callback(self, domain: str, key: bytes) -> bool:
        return True


class Gatekeeper:
    """The ZAP handler of one process; start it before any CURVE socket binds.

    Args:
        ctx: the process's zmq context (the sockets' own).
        allowed: public key (Z85) -> name, for the ``servers`` domain: the
            cluster's processes that may connect there.
        log: for refused keys (rate-limited; never a secret).
    """

    def __init__(self, ctx: zmq.Context[Any], allowed: Mapping[bytes, str], log: Logger) -> None:
        self.allowed = dict(allowed)
        self._auth = _Authenticator(ctx, self.allowed)
        self._allow_list = _AllowList(self.allowed, log)

    def start(self) -> None:
        auth = self._auth
        auth.start()
        # Callbacks for both domains: pyzmq's "allow any" would apply to all.
        auth.configure_curve_callback("servers", self._allow_list)
        auth.configure_curve_callback("clients", _AnyKey())

    def stop(self) -> None:
        self._auth.stop()
