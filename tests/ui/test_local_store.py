"""Client commands on their own store: a damaged one is reported and replaced; whoami."""

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


def test_whoami_prints_the_clients_own_public_key_and_keeps_it(tmp_path: Path) -> None:
    """The key is made on first use, kept in the store (never the secret on
    screen), and the same on every later call."""
    store = tmp_path / "alice"
    first = client(store, "whoami")
    assert 0 == first.returncode, first.stderr
    key = json.loads(first.stdout.strip().splitlines()[-1])["public_key"]
    assert 40 == len(key)
    again = json.loads(client(store, "whoami").stdout.strip().splitlines()[-1])
    assert key == again["public_key"]
    assert set(again) == {"client_id", "public_key"}
