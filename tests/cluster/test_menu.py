"""The interactive menu, driven through its stdin as a person types."""

from __future__ import annotations

import re
import subprocess

from tests.harness import ClusterHarness

LINK = re.compile(r"shoplist://join/\S+")


def menu(cluster: ClusterHarness, client_id: str, typed: list[str]) -> str:
    """Run ``run.py client --id ID shell`` with these lines typed; its output."""
    done = subprocess.run(
        cluster.client_command(client_id, "shell"),
        input="\n".join([*typed, "0"]) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cluster.base,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    return done.stdout


def test_the_menu_shares_a_list_by_invite_and_the_other_person_joins(
    cluster: ClusterHarness,
) -> None:
    with cluster.session("alice") as alice:
        state, _ = alice.create("picnic")
        alice.add(state.list_id, "plums", 6)
    # share: list, read-only? (no), key (none: an invite link)
    shown = menu(cluster, "alice", ["10", state.list_id, "", ""])
    links = LINK.findall(shown)
    assert 1 == len(links), shown
    joined = menu(cluster, "bob", ["11", links[0], "12", state.list_id])
    assert "joined picnic" in joined, joined[-1500:]
    assert "plums" in joined
    assert cluster.key_of("bob") in joined  # the members, as bob sees them
    refused = menu(cluster, "mallory", ["12", state.list_id])
    assert "forbidden" in refused
