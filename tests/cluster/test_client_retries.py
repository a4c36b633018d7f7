"""The client tries an edit's push again when a request is lost on the way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import DebugFaults, Done, FaultRule
from supervisor.probe import ask_proxy
from tests.cluster.conftest import FIVE
from tests.harness import ClusterHarness

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

#: How long the proxy drops what reaches its frontend: past a first attempt
#: and its timeout (CLIENT_TIMEOUT_S), short of the third attempt.
LOSS_S = 1.5
CLIENT_TIMEOUT_S = 1.0


@pytest.fixture
def debug_cluster(tmp_path: Path) -> Iterator[ClusterHarness]:
    with ClusterHarness(tmp_path, FIVE, {"debug": True}).running() as harness:
        yield harness


def test_an_edit_whose_first_push_is_lost_is_pushed_by_a_later_attempt(
    debug_cluster: ClusterHarness,
) -> None:
    with debug_cluster.session("alice", client_timeout_s=CLIENT_TIMEOUT_S) as alice:
        state, pushed = alice.create("retried")
        assert pushed
        drop = FaultRule(channel="frontend", direction="in", drop=1.0)
        reply = ask_proxy(
            debug_cluster.endpoints()["frontend"],
            DebugFaults(msg_id="lose", rules=[drop], duration_s=LOSS_S),
            timeout_s=5.0,
            curve=debug_cluster.operator_curve(),
        )
        assert isinstance(reply, Done), reply
        _, pushed = alice.add(state.list_id, "milk", 2)
        assert pushed
        assert [] == alice.store.pending()
    debug_cluster.share("alice", state.list_id, "bob")
    pulled = debug_cluster.client("bob", "pull", state.list_id)
    assert 0 == pulled.code, pulled.stderr
    assert [("milk", 2)] == [(i["id"], i["needed"]) for i in pulled.out["list"]["list"]]
