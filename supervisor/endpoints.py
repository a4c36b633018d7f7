"""Where the running proxy listens, for everyone else on this machine.

The supervisor writes the proxy's bound endpoints to the topology's data
folder (``endpoints.json``); clients, ``status`` and tests read it. With
fixed ports in the topology the file is not needed, but it is written
anyway, so one code path finds the proxy either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import msgspec

from supervisor.topology import PROXY_CHANNELS, Topology, TopologyError

__all__ = ["read_endpoints", "resolve_endpoints", "write_endpoints"]

Endpoint = Annotated[str, msgspec.Meta(max_length=256, pattern=r"^tcp://[^\s]+:\d+\Z")]


def write_endpoints(path: Path, endpoints: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(endpoints))
    os.replace(tmp, path)


def read_endpoints(path: Path) -> dict[str, str]:
    """The endpoints file, validated.

    Raises:
        TopologyError: it is missing or malformed.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TopologyError(f"{path}: no endpoints file; is the cluster running?") from None
    try:
        endpoints = msgspec.json.decode(raw, type=dict[str, Endpoint])
    except msgspec.DecodeError as exc:
        raise TopologyError(f"{path}: malformed endpoints file: {exc}") from None
    missing = [ch for ch in PROXY_CHANNELS if ch not in endpoints]
    if missing:
        raise TopologyError(f"{path}: endpoints file lacks {missing}")
    return endpoints


def resolve_endpoints(topology: Topology) -> dict[str, str]:
    """The proxy's endpoints: from the topology when its ports are fixed,
    else from the endpoints file of the running cluster."""
    if all(topology.proxy.port(ch) for ch in PROXY_CHANNELS):
        return topology.proxy.endpoints()
    return read_endpoints(topology.endpoints_file)
