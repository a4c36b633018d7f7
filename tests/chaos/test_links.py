"""Chaos: the link between one server and the proxy turns slow and lossy
while clients write, then recovers.

The server dials the proxy through a relay (its topology gives it
``proxy_host = "127.0.0.2"``, where :class:`~tests.chaos.relay.LinkRelay`
listens on the proxy's ports). During the fault each chunk crossing the
link waits 150 ms ± 50 each way, some stall a further 200-300 ms as behind
a lost segment, and the link is reset now and then, as one that loses too
much times out. The server stays up and keeps answering, late: the proxy
must route around it, lose nothing acknowledged, and bring it up to date
once the link is good again (see :mod:`tests.chaos.scenario`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.relay import RELAY_HOST, LinkConditions, LinkRelay
from tests.chaos.scenario import CHAOS_SETTINGS, SERVERS, Report, run_scenario
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.timeout(240)]

#: The server behind the relay; the hot list is placed on it.
RELAYED = "s3"
#: The proxy's channels a server dials (the others are the clients').
SERVER_CHANNELS = ("backend", "hello", "liveness")
SLOW_AND_LOSSY = LinkConditions(
    delay_ms=150.0,
    jitter_ms=50.0,
    stall_probability=0.05,
    stall_ms=(200.0, 300.0),
    # Per chunk: a few hundred cross the link in the fault, so a reset or two.
    reset_probability=0.003,
)


@pytest.fixture
def relayed_cluster(tmp_path: Path) -> Iterator[tuple[ClusterHarness, LinkRelay]]:
    """The chaos cluster with :data:`RELAYED` behind a relay, a perfect link
    until a test says otherwise. The relay and the cluster are stopped
    cleanly after a test that passed, and torn down after one that failed."""
    harness = ClusterHarness(
        tmp_path, SERVERS, dict(CHAOS_SETTINGS), proxy_hosts={RELAYED: RELAY_HOST}
    )
    relay: LinkRelay | None = None
    try:
        # The proxy's ports are ephemeral: the relay can listen on them only
        # once the proxy has bound them. Until then the relayed server's
        # sockets find nothing at 127.0.0.2 and keep redialling.
        harness.start(wait_ring=False)
        endpoints = wait_until(harness.endpoints, 30.0, "the proxy's endpoints file")
        relay = LinkRelay(_port(endpoints[ch]) for ch in SERVER_CHANNELS).start()
        harness.wait_ring(len(SERVERS))
        yield harness, relay
        harness.stop()
        left = relay.stop()
        assert [] == left, f"relay threads left running: {left}"
    finally:
        if relay is not None:
            relay.stop()
        harness.kill_everything()


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_slow_and_lossy_link_to_one_server(
    relayed_cluster: tuple[ClusterHarness, LinkRelay],
) -> None:
    cluster, relay = relayed_cluster

    def fault(report: Report) -> None:
        report.victims.append(RELAYED)
        relay.set_conditions(SLOW_AND_LOSSY)
        # The link starts by timing out: both ends see it go, ZeroMQ redials.
        relay.reset_all()

    def heal(report: Report) -> None:
        relay.set_conditions(LinkConditions())

    run_scenario(
        cluster,
        "slow and lossy link",
        fault,
        heal,
        ("proxy.suspect", None),
        hot_replica=RELAYED,
    )
    stats = relay.stats()
    print("RELAY " + json.dumps(stats))
    # The fault happened: the server's traffic crossed the relay, and was cut.
    assert stats["chunks"] > 0
    assert stats["resets"] >= 1
    assert stats["connections"] > len(SERVER_CHANNELS)  # it redialled after a reset
