"""The load generators' CurveZMQ keys cross a process boundary as JSON."""

from __future__ import annotations

import json

import pytest

from actors.kernel import CurveClient
from benchmarks.loadgen import curve_from_json, curve_to_json
from supervisor.transport import ephemeral_keys


def test_keys_survive_json_and_plaintext_stays_plaintext() -> None:
    curve = CurveClient(ephemeral_keys(), ephemeral_keys().public, keyed=True)
    assert curve == curve_from_json(json.loads(json.dumps(curve_to_json(curve))))
    assert curve_to_json(None) is None
    assert curve_from_json(None) is None


def test_malformed_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="curve keys"):
        curve_from_json(["only", "two"])
