"""Users create, share and edit lists through a real cluster."""

from __future__ import annotations

import sqlite3

import pytest

from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def test_a_client_pulls_a_list_another_created(cluster: ClusterHarness) -> None:
    created = cluster.client("alice", "create", "groceries")
    assert 0 == created.code, created.stderr
    assert created.out["pushed"] is True
    list_id = created.out["id"]
    added = cluster.client("alice", "add", list_id, "milk", "2")
    assert 0 == added.code, added.stderr
    assert added.out["pushed"] is True, added.stderr
    cluster.share("alice", list_id, "bob")

    pulled = cluster.client("bob", "pull", list_id)

    assert 0 == pulled.code, pulled.stderr
    assert "groceries" == pulled.out["list"]["name"]
    assert [("milk", 2)] == [(i["id"], i["needed"]) for i in pulled.out["list"]["list"]]


def test_concurrent_edits_one_offline_converge_with_quantities_summed(
    cluster: ClusterHarness,
) -> None:
    list_id = cluster.client("alice", "create", "party").out["id"]
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    # bob goes offline (a proxy endpoint where nothing listens) and edits there
    offline = cluster.client("bob", "add", list_id, "milk", "2", offline=True)
    assert 0 == offline.code, offline.stderr
    assert offline.out["pushed"] is False
    assert 0 == cluster.client("bob", "add", list_id, "chips", "3", offline=True).code
    # meanwhile alice edits the same items online
    online = cluster.client("alice", "add", list_id, "milk", "2")
    assert online.out["pushed"] is True
    assert 0 == cluster.client("alice", "acquire", list_id, "milk", "1").code

    assert 0 == cluster.client("bob", "sync").code
    assert 0 == cluster.client("alice", "sync").code

    alice = cluster.client("alice", "show", list_id).out
    bob = cluster.client("bob", "show", list_id).out
    assert alice == bob
    rows = {i["id"]: (i["needed"], i["bought"]) for i in alice["list"]}
    assert {"milk": (4, 1), "chips": (3, 0)} == rows


def test_offline_edits_survive_a_client_restart_and_are_pushed_on_next_contact(
    cluster: ClusterHarness,
) -> None:
    list_id = cluster.client("carol", "create", "hardware").out["id"]
    assert (
        cluster.client("carol", "add", list_id, "nails", "100", offline=True).out["pushed"] is False
    )
    # a later, separate process of the same client, now online, flushes the pending edit
    assert cluster.client("carol", "add", list_id, "glue", "1").out["pushed"] is True
    cluster.share("carol", list_id, "dave")

    seen = cluster.client("dave", "pull", list_id).out["list"]
    assert {"nails": 100, "glue": 1} == {i["id"]: i["needed"] for i in seen["list"]}


def test_remove_then_concurrent_add_keeps_only_the_unseen_add(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "eggs").out["id"]
    cluster.client("alice", "add", list_id, "eggs", "2")
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    assert 0 == cluster.client("bob", "remove", list_id, "eggs", offline=True).code
    cluster.client("alice", "add", list_id, "eggs", "3")
    cluster.client("bob", "sync")
    final = cluster.client("alice", "pull", list_id).out["list"]
    assert [("eggs", 3)] == [(i["id"], i["needed"]) for i in final["list"]]


def test_exit_codes(cluster: ClusterHarness) -> None:
    list_id = cluster.client("erin", "create", "x").out["id"]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert 3 == cluster.client("erin", "show", unknown).code  # not in the local store
    # The cluster does not say whether a list exists: an unknown list and
    # another client's unshared one are both forbidden.
    assert 5 == cluster.client("erin", "pull", unknown).code
    assert 5 == cluster.client("frank", "pull", list_id).code
    assert 2 == cluster.client("erin", "add", list_id, "milk", "zero").code
    assert 2 == cluster.client("erin", "add", list_id, "milk", "0").code
    assert 2 == cluster.client("erin", "acquire", list_id, "caviar").code
    assert 0 == cluster.client("erin", "add", list_id, "milk", offline=True).code
    before = cluster.client("erin", "show", list_id).out
    assert 4 == cluster.client("erin", "push", list_id, offline=True).code
    assert 4 == cluster.client("erin", "pull", list_id, offline=True).code
    assert before == cluster.client("erin", "show", list_id).out  # local data untouched
    assert 0 == cluster.client("erin", "delete", list_id).code
    assert 3 == cluster.client("erin", "show", list_id).code


def test_lists_are_stored_on_n_replicas(cluster: ClusterHarness) -> None:
    with cluster.session("frank") as frank:
        state, pushed = frank.create("replicated")
        assert pushed
    assert 5 == len(cluster.status().members)  # every server is a member (status: an operator's)

    def stored_on() -> list[str]:
        found = []
        for server in cluster.servers:
            db = cluster.data_dir / server / "lists.db"
            with sqlite3.connect(db) as conn:
                query = "SELECT 1 FROM lists WHERE list_id = ?"
                row = conn.execute(query, (state.list_id,)).fetchone()
            if row is not None:
                found.append(server)
        return found

    # W=2 acknowledged; the third owner's Store may still be in flight.
    wait_until(lambda: len(stored_on()) >= 3, 10.0, "the list on all N=3 owners")
