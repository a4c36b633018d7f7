"""Chaos: a burst of clients pipelining writes far beyond what the proxy takes
on, while the ledger's writers write (see :mod:`tests.chaos.scenario`).

The burst's processes are the overload benchmark's (:mod:`benchmarks.overload`):
open loop, a refused request replaced at once. Through the burst every
request must get an answer (a refusal is a clear ``overloaded``), ``status``
must answer, and afterwards neither the ledger's writes nor the burst's
acknowledged ones may be missing. How long ``status`` took and how soon the
cluster served normally are printed (figures, not asserted: see
``docs/performance.md`` for the benchmark that measures them at scale).
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from benchmarks.cluster_bench import verify
from benchmarks.overload import ClusterPids, Load, Sampler, merge, recovery
from tests.chaos.scenario import FAULT_S, Report, run_scenario
from tests.harness import ClusterHarness

pytestmark = [pytest.mark.chaos, pytest.mark.cluster, pytest.mark.timeout(300)]

#: Load processes and the writes each keeps outstanding: 8 x 1024, against
#: the proxy's admission limit of at most 4,096 (512 per client).
BURST_CLIENTS = 8
BURST_WINDOW = 1024
#: An answer (or a status) later than this is a request left unanswered.
ANSWER_TIMEOUT_S = 10.0


def test_a_burst_of_pipelining_clients(chaos_cluster: ClusterHarness) -> None:
    endpoint = chaos_cluster.endpoints()["frontend"]
    curve = chaos_cluster.curve()  # the chaos cluster is secured: every socket needs keys
    lists = [str(uuid.uuid4()) for _ in range(50)]
    items = [f"burst-item-{i:02d}" for i in range(10)]
    load = Load(
        endpoint,
        BURST_CLIENTS,
        FAULT_S,
        BURST_WINDOW,
        lists,
        items,
        prebuild=2000,
        answer_timeout_s=ANSWER_TIMEOUT_S,
        curve=curve,
    )
    sampler = Sampler(
        endpoint,
        ClusterPids(chaos_cluster.log_dir),
        ANSWER_TIMEOUT_S,
        curve=chaos_cluster.operator_curve(),
    )
    burst: dict[str, float | None] = {}
    reader: list[threading.Thread] = []

    def fault(report: Report) -> None:
        report.victims.append("proxy")
        started = burst["started"] = load.go(ready_timeout_s=120.0)
        sampler.start()
        deadline = started + FAULT_S + ANSWER_TIMEOUT_S + 60.0
        # The reports are read while the scenario goes on: a large report
        # blocks its process until it is read.
        reader.append(threading.Thread(target=load.collect, args=(deadline, deadline)))
        reader[0].start()

    def heal(report: Report) -> None:
        started = burst["started"]
        assert started is not None
        end = started + FAULT_S
        burst["recovery_s"], _ = recovery(endpoint, end, deadline_s=30.0, curve=curve)

    try:
        run_scenario(chaos_cluster, "overload burst", fault, heal)
        reader[0].join(FAULT_S + ANSWER_TIMEOUT_S + 60.0)
        sampler.stop()
        dead = [i for i, r in enumerate(load.reports) if r is None]
        assert [] == dead, "load processes gave no report"
        reports = [r for r in load.reports if r is not None]
        lost, _, _, unreadable = verify(endpoint, merge([r["acked"] for r in reports]), curve=curve)
    finally:
        sampler.stop()
        load.stop()
    took = [t for _, t in sampler.samples.status_s]
    figures = {
        "burst_sent": sum(r["sent"] for r in reports),
        "burst_saved": sum(r["writes"] for r in reports),
        "burst_overloaded": sum(r["overloaded"] for r in reports),
        "burst_unanswered": sum(r["timeouts"] for r in reports),
        "burst_lost": lost,
        "status_samples": len(took),
        "status_max_s": round(max(took, default=0.0), 3),
        "status_failures": len(sampler.samples.status_failures),
        "serves_normally_after_s": burst["recovery_s"] and round(burst["recovery_s"], 3),
        "peak_rss_mb": {
            name: round(max(rss for _, rss in seq) / 2**20, 1)
            for name, seq in sampler.samples.rss.items()
        },
    }
    print("\nOVERLOAD " + json.dumps(figures))
    assert 0 == figures["burst_unanswered"]
    assert figures["burst_overloaded"] > 0, "the burst never went beyond admission"
    assert [] == sampler.samples.status_failures
    assert burst["recovery_s"] is not None
    assert (0, 0) == (lost, unreadable)
