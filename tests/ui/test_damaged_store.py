"""A client command on a damaged local store says so, keeps the file, and goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Nothing listens here: the client works offline.
OFFLINE = ["--proxy", "tcp://127.0.0.1:9"]

pytestmark = pytest.mark.timeout(120)


def client(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "run.py"), "client", "--id", "alice", *OFFLINE]
    return subprocess.run(
        [*cmd, "--store", str(store), "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=store.parent,
    )


def test_a_damaged_store_is_reported_kept_and_replaced(tmp_path: Path) -> None:
    store = tmp_path / "alice"
    assert 0 == client(store, "create", "groceries").returncode
    db = store / "client.db"
    db.write_bytes(b"\0" * 100 + db.read_bytes()[100:])
    done = client(store, "lists")
    assert 0 == done.returncode, done.stderr
    assert "the local store was damaged" in done.stderr
    kept = sorted(store.glob("client.db.corrupt-*"))
    assert [p.name for p in kept if not p.name.endswith(("-wal", "-shm"))]
    assert [] == json.loads(done.stdout.strip().splitlines()[-1])["lists"]
    again = client(store, "lists")
    assert "damaged" not in again.stderr
