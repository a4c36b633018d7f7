"""Cluster-wide settings, as every process of a cluster sees them.

:class:`ClusterConfig` is the ``[cluster]`` table of a topology file, but
nothing here knows the file: the supervisor decodes the topology
(:mod:`supervisor.topology`) and hands each actor the settings it needs.
A struct is frozen and validated by msgspec when decoded, so a bad value
is reported with the path of its field.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["ClusterConfig", "Durability", "NodeId", "PositiveFloat", "Security"]

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
#: a server's id (or a cluster's name): a plain name, as ring members and file names
NodeId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+\Z")]
#: "normal": a commit survives a crash of the process (SQLite WAL, synchronous=NORMAL);
#: "full": it also survives a power cut (fsync per commit, group-committed)
Durability = Literal["normal", "full"]
#: "curve": every TCP socket speaks CurveZMQ and admits only the peers it
#: should (the default); "off": plaintext, for comparison only
Security = Literal["curve", "off"]


class ClusterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Cluster-wide behaviour. Every duration is in seconds (``_s``)."""

    name: NodeId = "local"
    #: replicas per list, reads that must answer, writes that must commit
    n: Annotated[int, msgspec.Meta(ge=1, le=9)] = 3
    r: Annotated[int, msgspec.Meta(ge=1, le=9)] = 2
    w: Annotated[int, msgspec.Meta(ge=1, le=9)] = 2
    vnodes: Annotated[int, msgspec.Meta(ge=1, le=8192)] = 1024
    #: joiners are admitted to the ring this many at a time...
    join_batch_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    #: ...or fewer, once the oldest has waited this long
    join_batch_timeout_s: PositiveFloat = 2.0
    #: how often the proxy probes each server (reach/online)
    probe_interval_s: PositiveFloat = 0.5
    #: consecutive unanswered probes after which a server is suspect
    probe_misses: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    #: a server suspect for this long is removed from the ring and its key
    #: ranges re-replicated from the survivors (Dynamo's permanent failure)
    dead_after_s: PositiveFloat = 60.0
    #: one anti-entropy exchange (one replica group) per interval
    ae_interval_s: PositiveFloat = 1.0
    #: background repairs (anti-entropy, re-replication) in flight at once:
    #: the throttle that keeps them from starving client requests
    repair_concurrency: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    #: how often a server tries to hand hinted writes and lists it no
    #: longer owns over to their owners
    handoff_interval_s: PositiveFloat = 1.0
    #: an actor restarted more often than this within the window makes its
    #: process exit (the process supervisor then restarts the process)
    actor_max_restarts: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10
    actor_restart_window_s: PositiveFloat = 10.0
    #: process restarts allowed within the window before the supervisor gives up
    process_max_restarts: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10
    process_restart_window_s: PositiveFloat = 60.0
    #: accept DebugCrash and DebugFaults (fault injection for tests); never in production
    debug: bool = False
    #: one attempt of the proxy against one replica
    request_timeout_s: PositiveFloat = 0.5
    #: one attempt of a client against the proxy
    client_timeout_s: PositiveFloat = 2.0
    #: how long a client waits for its connection before it works offline
    connect_timeout_s: PositiveFloat = 0.5
    #: "normal": a commit survives a crash of the process (SQLite WAL, synchronous=NORMAL);
    #: "full": it also survives a power cut (fsync per commit, group-committed)
    durability: Durability = "normal"
    #: lists each server keeps decoded in memory (an LRU); a write to a list
    #: outside it reads and decodes the list first (3x slower at 100,000
    #: lists with 4,096 cached, docs/performance.md). A 30-item list takes
    #: ~24 KB, so a full default cache is ~1.5 GB per server: lower it where
    #: memory is short.
    cache_lists: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 65_536
    #: "none" (the default): the kernel places every thread. "spread": each
    #: process is bound to one CPU of its host, together with its zmq I/O
    #: thread (the two hand every message to each other, and on this VM a
    #: wake-up across CPUs costs ~50 µs against ~3 µs on one); the proxy gets
    #: a CPU, the servers the others, and the proxy's as low-priority guests
    #: when there are more servers than other CPUs (:meth:`Topology.cpu_for`).
    #: On 2 CPUs with five servers, "none" gave more writes/s, a lower p50
    #: and a lower load p99 (docs/performance.md, "CPU affinity").
    cpu_affinity: Literal["none", "spread"] = "none"
    data_dir: str = "var/local/data"
    log_dir: str = "var/local/log"
    #: "curve" (the default): CurveZMQ on every socket, servers admitted by
    #: their keys; "off": plaintext, anyone who reaches a port is trusted
    #: (only to compare figures; never in production)
    security: Security = "curve"
    #: where the cluster's key files are (``run.py keys`` makes them);
    #: empty: ``keys`` beside ``data_dir``
    keys_dir: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: level at which the hops of traced requests are logged
    trace_level: Literal["DEBUG", "INFO", "WARNING"] = "INFO"
    #: fraction of requests traced without being asked
    trace_sample_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
