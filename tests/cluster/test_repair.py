"""Replicas that drift apart converge: anti-entropy with no client, and read repair."""

from __future__ import annotations

from pathlib import Path

import pytest

from crdt import ShoppingList
from protocol import DebugFaults, Done, FaultRule, Message
from ring import HashRing
from supervisor.probe import ask_proxy
from tests.chaos.workload import replica_states
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

SERVERS = ["s1", "s2", "s3", "s4", "s5"]


def _write_lists(cluster: ClusterHarness, count: int, *readers: str) -> list[str]:
    """``count`` lists of "writer"'s, each shared with ``readers``."""
    ids = []
    keys = [cluster.key_of(reader) for reader in readers]
    with cluster.session("writer") as writer:
        for k in range(count):
            state, pushed = writer.create(f"list {k}")
            assert pushed
            _, pushed = writer.add(state.list_id, "milk", k + 1)
            assert pushed
            for key in keys:
                writer.share(state.list_id, key)
            ids.append(state.list_id)
    return ids


def _lose_disk(cluster: ClusterHarness, server: str) -> None:
    """Stop the cluster, and replace one server's disk with an empty one."""
    cluster.stop()
    for f in (cluster.data_dir / server).glob("lists.db*"):
        f.unlink()


def _holds_equal_copies(cluster: ClusterHarness, server: str, ids: list[str]) -> bool:
    status = cluster.status()
    ring = HashRing([m.node_id for m in status.members], vnodes=status.members[0].vnodes)
    for list_id in ids:
        if server not in ring.get_replicas(list_id, status.n):
            continue
        copies = list(replica_states(cluster, status, list_id).values())
        if any(c is None for c in copies) or any(c != copies[0] for c in copies):
            return False
    return True


def _owned_by(cluster: ClusterHarness, server: str, ids: list[str]) -> list[str]:
    ring = HashRing(SERVERS, vnodes=1024)
    return [i for i in ids if server in ring.get_replicas(i, 3)]


def test_anti_entropy_refills_a_replica_that_lost_its_disk_with_no_client(tmp_path: Path) -> None:
    cluster = ClusterHarness(tmp_path, SERVERS, {"ae_interval_s": 0.2})
    try:
        cluster.start()
        ids = _write_lists(cluster, 20)
        lost = _owned_by(cluster, "s2", ids)
        assert lost  # s2 owns some of them
        _lose_disk(cluster, "s2")
        cluster.start()
        # No client runs from here on: only anti-entropy can bring s2 back.
        wait_until(lambda: _holds_equal_copies(cluster, "s2", ids), 60.0, "s2 refilled")
        status = cluster.status()
        for list_id in lost:
            copy = replica_states(cluster, status, list_id)["s2"]
            assert isinstance(copy, ShoppingList)
            assert ids.index(list_id) + 1 == copy.needed("milk")
        diverged = [e for e in cluster.log_events("proxy-*.jsonl") if e["event"] == "ae.diverged"]
        assert diverged
    finally:
        if cluster.proc is not None:
            cluster.stop()
        cluster.kill_everything()


def test_read_repair_brings_a_stale_replica_up_to_date(tmp_path: Path) -> None:
    # Anti-entropy effectively off: only reads can repair.
    cluster = ClusterHarness(tmp_path, SERVERS, {"ae_interval_s": 3600.0})
    try:
        cluster.start()
        ids = _write_lists(cluster, 10, "reader")
        lost = _owned_by(cluster, "s3", ids)
        assert lost
        _lose_disk(cluster, "s3")
        cluster.start()
        status = cluster.status()
        assert all(replica_states(cluster, status, i)["s3"] is None for i in lost)
        with cluster.session("reader") as reader:
            for list_id in lost:
                assert ids.index(list_id) + 1 == reader.pull(list_id).needed("milk")
        wait_until(lambda: _holds_equal_copies(cluster, "s3", lost), 20.0, "read repair of s3")
    finally:
        if cluster.proc is not None:
            cluster.stop()
        cluster.kill_everything()


def _ask(cluster: ClusterHarness, msg: Message) -> None:
    reply = ask_proxy(
        cluster.endpoints()["frontend"], msg, timeout_s=5.0, curve=cluster.operator_curve()
    )
    assert isinstance(reply, Done), reply


def test_anti_entropy_sees_writes_the_replicas_hold_as_delta_rows(tmp_path: Path) -> None:
    """A replica that missed a write catches up, though the others keep it in a delta row.

    Their rows (and the digests kept with them) predate the write, like the
    row of the replica that missed it; a server files the digests of the
    lists written since the last question (of their causal contexts) before
    it answers anti-entropy, or the three would look equal. Hinted handoff
    is off, and no client reads, so anti-entropy is the only way back.
    """
    cluster = ClusterHarness(
        tmp_path, SERVERS, {"ae_interval_s": 0.2, "handoff_interval_s": 3600.0, "debug": True}
    )
    try:
        cluster.start()
        with cluster.session("writer") as writer:
            state, pushed = writer.create("groceries")
            assert pushed
            list_id = state.list_id
            _, pushed = writer.add(list_id, "milk", 1)
            assert pushed
            status = cluster.status()
            victim = HashRing(SERVERS, vnodes=status.members[0].vnodes).get_replicas(list_id, 3)[0]

            def all_hold_milk() -> bool:
                copies = replica_states(cluster, status, list_id).values()
                return all(c is not None and 1 == c.needed("milk") for c in copies)

            wait_until(all_hold_milk, 20.0, "every owner holds milk")
            _ask(
                cluster,
                DebugFaults(msg_id="cut", rules=[FaultRule(peer=victim, drop=1.0)], duration_s=60),
            )
            _, pushed = writer.add(list_id, "eggs", 2)
            assert pushed
        _ask(cluster, DebugFaults(msg_id="heal", rules=[], duration_s=0))

        def victim_holds_eggs() -> bool:
            copy = replica_states(cluster, status, list_id)[victim]
            return copy is not None and 2 == copy.needed("eggs")

        wait_until(victim_holds_eggs, 30.0, f"{victim} repaired by anti-entropy")
    finally:
        if cluster.proc is not None:
            cluster.stop()
        cluster.kill_everything()
