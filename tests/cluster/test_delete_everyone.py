"""Deleting a list for everyone, on a real secured cluster.

The owner's ``delete LIST --everyone`` archives the list in the cluster (its
data stays on the servers); a member's next contact about it removes the
member's local copy and says so (exit 6). A local ``delete`` stays local.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from actors.client import ListDeleted
from crdt import ShoppingList
from tests.harness import ClusterHarness
from ui.contract import EXIT_DELETED, EXIT_FORBIDDEN, EXIT_OK


def stored_state(cluster: ClusterHarness, list_id: str) -> ShoppingList:
    """The join of what every server's store holds of the list (rows and deltas)."""
    joined = ShoppingList(list_id, "")
    for server in cluster.servers:
        with closing(sqlite3.connect(cluster.data_dir / server / "lists.db")) as conn:
            rows = conn.execute("SELECT state FROM lists WHERE list_id = ?", (list_id,))
            deltas = conn.execute("SELECT state FROM deltas WHERE list_id = ?", (list_id,))
            for (blob,) in [*rows.fetchall(), *deltas.fetchall()]:
                joined.merge(ShoppingList.decode(blob))
    return joined


def shared_list(cluster: ClusterHarness) -> str:
    """A list of alice's with 2 milk, that bob (an editor) has pulled."""
    with cluster.session("alice") as alice:
        state, pushed = alice.create("groceries")
        assert pushed
        alice.add(state.list_id, "milk", 2)
        alice.share(state.list_id, cluster.key_of("bob"), "editor")
    assert EXIT_OK == cluster.client("bob", "pull", state.list_id).code
    return state.list_id


def test_a_local_delete_says_it_is_local_and_others_keep_the_list(
    cluster: ClusterHarness,
) -> None:
    list_id = shared_list(cluster)
    result = cluster.client("bob", "delete", list_id)
    assert (EXIT_OK, {"deleted": list_id, "everyone": False}) == (result.code, result.out)
    assert EXIT_OK == cluster.client("alice", "pull", list_id).code


def test_owner_deletes_for_everyone_and_a_members_next_pull_removes_its_copy(
    cluster: ClusterHarness,
) -> None:
    list_id = shared_list(cluster)
    done = cluster.client("alice", "delete", list_id, "--everyone")
    assert (EXIT_OK, {"deleted": list_id, "everyone": True}) == (done.code, done.out)
    pulled = cluster.client("bob", "pull", list_id)
    assert EXIT_DELETED == pulled.code, pulled
    assert "deleted by its owner" in pulled.out["error"]
    with cluster.session("bob") as bob:
        assert None is bob.store.load(list_id)
    # The servers keep the data, archived.
    stored = stored_state(cluster, list_id)
    assert (True, 2) == (
        stored.access is not None and stored.access.archived,
        stored.needed("milk"),
    )


def test_a_members_sync_removes_the_deleted_list_and_says_so(cluster: ClusterHarness) -> None:
    list_id = shared_list(cluster)
    with cluster.session("alice") as alice:
        alice.delete_everywhere(list_id)
    synced = cluster.client("bob", "sync")
    assert EXIT_OK == synced.code, synced
    assert f"list {list_id} was deleted by its owner" in synced.stderr
    with cluster.session("bob") as bob:
        assert None is bob.store.load(list_id)
        with pytest.raises(ListDeleted):
            bob.pull(list_id)


def test_a_non_owner_cannot_delete_for_everyone(cluster: ClusterHarness) -> None:
    list_id = shared_list(cluster)
    refused = cluster.client("bob", "delete", list_id, "--everyone")
    assert EXIT_FORBIDDEN == refused.code, refused
    with cluster.session("bob") as bob:
        assert 2 == bob.store.load(list_id).needed("milk")  # type: ignore[union-attr]
    with cluster.session("alice") as alice:
        assert 2 == alice.pull(list_id).needed("milk")
