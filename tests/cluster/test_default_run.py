"""`python run.py` with no arguments: cluster up, menu, and everything down on exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.harness import RUN, topology_toml

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def test_run_without_arguments_opens_the_menu_and_stops_the_cluster_on_exit(
    tmp_path: Path,
) -> None:
    topology = tmp_path / "topology.toml"
    topology.write_text(topology_toml(tmp_path, ["s1", "s2", "s3", "s4", "s5"]))
    menu_input = "\n".join(
        [
            "1",  # create list
            "weekly",
            "3",  # add item, with a bad quantity first: checked, nothing changes
            "week",  # a unique prefix of the id is not this: unknown list
            "7",  # push
            "nonsense",
            "42",  # not on the menu
            "9",  # my lists
            "0",  # exit
        ]
    )
    env = {**os.environ, "SHOPLIST_TOPOLOGY": str(topology), "USER": "tester"}
    proc = subprocess.Popen(
        [sys.executable, RUN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(menu_input.encode(), timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
    text = out.decode()
    assert 0 == proc.returncode, text
    assert "cluster up" in text
    assert "to share it, choose 10" in text
    assert "SAVED by the cluster" in text
    assert "unknown list" in text
    assert "'42' is not on the menu" in text
    assert "weekly" in text
    assert "cluster stopped" in text
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(topology) in " ".join(p.info["cmdline"] or [])
    ]
    assert [] == leftovers
