"""The command line and the menu against a real cluster: rename, edits pushed
on any contact, watch in words, and the menu's sync."""

from __future__ import annotations

import re
import socket
import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.chaos.netns import free_port_range
from tests.cluster.conftest import FIVE
from tests.cluster.test_menu import menu
from tests.harness import ClusterHarness, LineReader, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def items(doc: dict[str, object]) -> dict[str, int]:
    rows = doc["list"]["list"]  # type: ignore[index]
    return {row["id"]: row["needed"] for row in rows}


def test_a_rename_is_seen_by_another_client_after_a_pull(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "groceries").out["id"]
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    renamed = cluster.client("alice", "rename", "groceries", "party")
    assert 0 == renamed.code, renamed.stderr
    assert renamed.out["pushed"] is True

    pulled = cluster.client("bob", "pull", "groceries")  # by the name bob holds it under
    assert 0 == pulled.code, pulled.stderr
    assert "party" == pulled.out["list"]["name"]


def test_pending_edits_of_one_list_go_out_with_a_pull_of_another(cluster: ClusterHarness) -> None:
    first = cluster.client("alice", "create", "first").out["id"]
    second = cluster.client("alice", "create", "second").out["id"]
    cluster.share("alice", first, "bob")
    cluster.share("alice", second, "bob")
    assert 0 == cluster.client("bob", "pull", first).code
    offline = cluster.client("bob", "add", first, "milk", "2", offline=True)
    assert offline.out["pushed"] is False

    assert 0 == cluster.client("bob", "pull", second).code  # a contact about another list

    assert {"milk": 2} == items(cluster.client("alice", "pull", first).out)
    pending = [row["pending"] for row in cluster.client("bob", "lists").out["lists"]]
    assert [False, False] == pending


def watch(cluster: ClusterHarness, client_id: str) -> subprocess.Popen[bytes]:
    """``run.py client --id ID watch`` (in words) as its own process."""
    return subprocess.Popen(
        cluster.client_command(client_id, "watch"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cluster.base,
    )


def test_watch_says_in_words_what_another_client_changed(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "shared").out["id"]
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    watcher = watch(cluster, "bob")
    try:
        lines = LineReader(watcher)
        assert "watching 1 lists" in (lines.next_line(30.0) or "")
        added = 0

        # The watch is sent once connected; an update may race it: add until one lands.
        def said() -> str | None:
            nonlocal added
            assert 0 == cluster.client("alice", "add", list_id, "milk", "2").code
            added += 2
            line = lines.next_line(1.0)
            return line if line and "added" in line else None

        alice = f"alice ({cluster.key_of('alice')[:8]})"  # her name, and her key's first characters
        assert f"shared: {alice} added 2 milk" == wait_until(said, 30.0, "an update in words")
        assert 0 == cluster.client("alice", "acquire", list_id, "milk", str(added)).code
        line = wait_until(lambda: lines.next_line(1.0), 10.0, "the purchase")
        while "added" in line:  # a late word of an earlier add
            line = wait_until(lambda: lines.next_line(1.0), 10.0, "the purchase")
        assert f"shared: milk bought by {alice}" == line
    finally:
        watcher.kill()
        watcher.wait(10)


def test_watch_says_when_the_cluster_goes_and_comes_back(tmp_path: Path) -> None:
    harness = ClusterHarness(tmp_path, FIVE, base_port=free_port_range())
    try:
        harness.start()
        list_id = harness.client("alice", "create", "shared").out["id"]
        harness.share("alice", list_id, "bob")
        assert 0 == harness.client("bob", "pull", list_id).code
        watcher = watch(harness, "bob")
        try:
            lines = LineReader(watcher)
            assert "watching 1 lists" in (lines.next_line(30.0) or "")
            harness.stop()
            assert "offline: the cluster is not reachable at" in (lines.next_line(30.0) or "")
            harness.start()
            assert "connected to the cluster again" == lines.next_line(30.0)
        finally:
            watcher.kill()
            watcher.wait(10)
        harness.stop()
    finally:
        harness.kill_everything()


def test_the_menu_says_how_many_edits_wait_and_syncs_them(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "picnic").out["id"]
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    assert 0 == cluster.client("bob", "add", list_id, "plums", "6", offline=True).code
    offline_menu = subprocess.run(
        cluster.client_command("bob", "shell", offline=True),
        input="14\n0\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cluster.base,
        check=False,
    )
    assert "1 lists have edits waiting" in offline_menu.stdout
    assert "the cluster is not reachable at tcp://127.0.0.1:9" in offline_menu.stdout

    shown = menu(cluster, "bob", ["14"])

    assert "1 lists have edits waiting" in shown
    assert "sent 1, got 1, failed 0" in shown
    assert {"plums": 6} == items(cluster.client("alice", "pull", list_id).out)


def test_the_menu_renames_a_list_by_its_name(cluster: ClusterHarness) -> None:
    list_id = cluster.client("alice", "create", "picnic").out["id"]
    shown = menu(cluster, "alice", ["13", "picnic", "outing"])
    assert "renamed to 'outing'" in shown
    assert "SAVED by the cluster" in shown
    assert "outing" == cluster.client("alice", "show", list_id).out["name"]


def test_an_update_in_the_menu_is_printed_on_its_own_lines_and_the_prompt_again(
    cluster: ClusterHarness,
) -> None:
    list_id = cluster.client("alice", "create", "shared").out["id"]
    cluster.share("alice", list_id, "bob")
    assert 0 == cluster.client("bob", "pull", list_id).code
    shell = menu_process(cluster, "bob")
    try:
        lines = LineReader(shell)

        def said() -> str | None:
            assert 0 == cluster.client("alice", "add", list_id, "milk", "2").code
            line = lines.next_line(1.0)
            while line is not None and " added " not in line:
                line = lines.next_line(1.0)
            return line

        alice = f"alice ({cluster.key_of('alice')[:8]})"
        assert f"update shared: {alice} added 2 milk" == wait_until(said, 30.0, "an update")
        assert shell.stdin is not None
        shell.stdin.write(b"0\n")
        shell.stdin.close()
        assert 0 == shell.wait(30)
        assert shell.stdout is not None
        rest = (lines.buf + (shell.stdout.read() or b"")).decode()
        assert rest.startswith("choice> "), rest
    finally:
        if shell.poll() is None:
            shell.kill()
        shell.wait(10)


def menu_process(cluster: ClusterHarness, client_id: str) -> subprocess.Popen[bytes]:
    """``run.py client --id ID shell`` as its own process, typed into through stdin."""
    return subprocess.Popen(
        cluster.client_command(client_id, "shell"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cluster.base,
    )


def test_the_menu_opens_the_web_page_and_stops_it_on_exit(cluster: ClusterHarness) -> None:
    """Option 15 starts this client's page and prints its address (the same one
    when chosen again); the page answers, and leaving the menu stops it."""
    shell = menu_process(cluster, "alice")
    try:
        assert shell.stdin is not None
        lines = LineReader(shell)
        shell.stdin.write(b"15\n")
        shell.stdin.flush()

        def address() -> str | None:
            line = lines.next_line(1.0)
            match = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=\S+)", line or "")
            return match.group(1) if match else None

        url = wait_until(address, 30.0, "the page's address")
        # The token sets the session's cookie and redirects to the page.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(url, timeout=10.0) as page:
            assert 200 == page.status
        shell.stdin.write(b"15\n")
        shell.stdin.flush()
        assert url == wait_until(address, 30.0, "the address again")
        shell.stdin.write(b"0\n")
        shell.stdin.flush()
        assert 0 == shell.wait(30.0)
        port = int(url.split(":")[2].split("/")[0])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), 1.0).close()
    finally:
        shell.kill()
        shell.wait()


def test_a_killed_menu_leaves_no_web_page_behind(cluster: ClusterHarness) -> None:
    """The page follows its menu's process even when no `finally` runs (SIGKILL)."""
    shell = menu_process(cluster, "alice")
    try:
        assert shell.stdin is not None
        lines = LineReader(shell)
        shell.stdin.write(b"15\n")
        shell.stdin.flush()
        wait_until(lambda: "open http" in (lines.next_line(1.0) or ""), 30.0, "the address")
        pages = psutil.Process(shell.pid).children()
        assert 1 == len(pages)
    finally:
        shell.kill()
        shell.wait()
    _, alive = psutil.wait_procs(pages, timeout=15.0)
    assert [] == alive
