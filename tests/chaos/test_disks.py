"""Chaos: a server's disk fills up, or its data file is corrupt when it restarts.

Both while clients write. A full disk is a condition to serve through: the
server refuses the writes it cannot commit (``unavailable: disk full``), the
proxy writes them elsewhere with hints, and once space is freed the hints
come home. A corrupt file is set aside at open (kept for a person), the
server starts empty, and anti-entropy fills it from its replicas.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.scenario import CHAOS_SETTINGS, SERVERS, Report, owners, run_scenario
from tests.harness import ClusterHarness, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.timeout(240)]

#: Each server's data folder is a tmpfs of this size: room for the test's
#: lists, and quick to fill.
TMPFS_SIZE = "32m"


def _mount_tmpfs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.decode().strip()}")


@pytest.fixture
def small_disks_cluster(tmp_path: Path) -> Iterator[ClusterHarness]:
    """The chaos cluster, each server's data folder on a small filesystem of its own."""
    harness = ClusterHarness(tmp_path, SERVERS, dict(CHAOS_SETTINGS))
    mounted: list[Path] = []
    try:
        for server in SERVERS:
            folder = harness.data_dir / server
            _mount_tmpfs(folder)
            mounted.append(folder)
        with harness.running():
            yield harness
    finally:
        for folder in mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last block; returns the filler."""
    filler = folder / "filler"
    # Unbuffered, so that the write that finds no room raises, not the close.
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 4096):  # megabytes, then the last blocks
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler


def test_one_servers_disk_fills_up(small_disks_cluster: ClusterHarness) -> None:
    cluster = small_disks_cluster
    fillers: list[Path] = []

    def fault(report: Report) -> None:
        victim = owners(cluster, report.ephemeral[0])[0]
        report.victims.append(victim)
        fillers.append(_fill(cluster.data_dir / victim))

    def heal(report: Report) -> None:
        for filler in fillers:
            filler.unlink()

    run_scenario(cluster, "disk full", fault, heal, ("server.disk_full", None))


def _wreck(db: Path) -> None:
    """Overwrite the file's first page and lose its write-ahead log, as a bad
    disk would. (A zeroed header alone is not enough while a WAL holds a copy
    of page 1: SQLite reads the page from the WAL.)"""
    with db.open("r+b") as f:
        f.write(b"\xde\xad" * 2048)
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def test_a_corrupt_data_file_on_restart(chaos_cluster: ClusterHarness) -> None:
    cluster = chaos_cluster
    old_pids: dict[str, int] = {}

    def fault(report: Report) -> None:
        victim = owners(cluster, report.ephemeral[0])[0]
        report.victims.append(victim)
        pid = cluster.child_pids()[victim]
        old_pids[victim] = pid
        os.kill(pid, signal.SIGSTOP)  # down, its file closed by nobody
        _wreck(cluster.data_dir / victim / "lists.db")
        os.kill(pid, signal.SIGKILL)  # the supervisor restarts it on the bad file

    def heal(report: Report) -> None:
        for victim, pid in old_pids.items():
            wait_until(
                lambda v=victim, p=pid: cluster.child_pids().get(v, p) != p,
                30.0,
                f"{victim} restarted",
            )

    run_scenario(cluster, "corrupt data file", fault, heal, ("server.store_quarantined", None))
    for victim in old_pids:
        kept = list((cluster.data_dir / victim).glob("lists.db.corrupt-*"))
        assert kept, "the corrupt file was not kept for a person to inspect"
