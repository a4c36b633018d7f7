"""The main function of each cluster process (proxy, server).

The process supervisor starts these with multiprocessing's *spawn* method,
so each child is a fresh interpreter that makes its own zmq Context. A child:

1. configures JSON logging to ``<log_dir>/<role>-<id>.jsonl``;
2. asks the kernel to SIGTERM it if its parent dies (no orphans, even when
   the supervisor is killed with -9), and watches its parent id as a backstop;
3. starts its bridge, then its actor under an :class:`ActorSupervisor`;
4. runs until SIGTERM/SIGINT/SIGHUP, its parent's death, the actor supervisor
   giving up, or its actor being gone for any other reason; then stops the
   actor, the bridge and the context, in that order, with LINGER 0
   everywhere so ``term()`` cannot hang.

Exit status: 0 on a requested stop, 70 when the actor kept crashing (or
failing to start), was gone, or the bridge failed (the process supervisor
restarts it). A process with no actor answers nothing: it must not stay up.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final, TypeVar

import msgspec
import pykka
import zmq

import logs
from actors.kernel import (
    MAX_BATCH,
    ActorSupervisor,
    Bridge,
    CrashHandler,
    CurveServer,
    FaultInjector,
    SocketSpec,
    collector,
    rules_from_env,
)
from protocol.limits import MAX_CONTROL_FRAME_BYTES, MAX_FRAME_BYTES
from supervisor.keys import KeysMissing
from supervisor.lifecycle import die_with_parent
from supervisor.topology import PROXY_CHANNELS, Topology
from supervisor.transport import proxy_transport, server_curve

__all__ = ["EXIT_CRASHED", "proxy_main", "server_main"]

EXIT_CRASHED = 70
#: A collection pause worth a warning: half the default request timeout.
SLOW_COLLECTION_S: Final = 0.25
#: Consecutive rounds of the main thread's clock that find no actor before
#: the process exits: one could fall between a crash and its restart.
NO_ACTOR_ROUNDS: Final = 2
#: Most client requests the proxy reads in one poll (see proxy_main).
FRONTEND_MAX_BATCH: Final = 128

log = logs.get_logger(__name__)
T = TypeVar("T")


def proxy_main(topology_json: bytes, endpoints_conn: Connection | None = None) -> None:
    """Entry point of the proxy process.

    ``endpoints_conn`` receives the bound endpoints (JSON) once the sockets
    are up, so that ports given as 0 can be passed on to the servers.
    """
    from actors.proxy import ProxyActor  # noqa: PLC0415 - keep the spawn import light

    topology = msgspec.json.decode(topology_json, type=Topology)
    transport = _keys_or_exit(lambda: proxy_transport(topology))
    host = topology.proxy.bind_host
    specs = []
    for channel in PROXY_CHANNELS:
        control = channel in ("hello", "liveness")
        for_clients = channel == "frontend"
        curve, peers = None, None
        if transport is not None:
            curve = CurveServer(transport.keys, "clients" if for_clients else "servers")
            if not for_clients:
                peers = transport.hello if channel == "hello" else transport.servers
        specs.append(
            SocketSpec(
                channel,
                zmq.ROUTER,
                bind=f"tcp://{host}:{topology.proxy.port(channel)}",
                max_frame_bytes=MAX_CONTROL_FRAME_BYTES if control else MAX_FRAME_BYTES,
                hwm=1000 if control else 50_000,
                # Clients are many and may pipeline without end: a poll reads
                # few of their requests, so the servers' answers to admitted
                # ones are not kept waiting behind new ones (overload).
                max_batch=FRONTEND_MAX_BATCH if channel == "frontend" else MAX_BATCH,
                curve=curve,
                peers=peers,
                # A client is its key: the routing id must begin with it.
                keyed=for_clients and transport is not None,
                named=transport.operators if for_clients and transport is not None else None,
            )
        )

    def on_ready(bridge: Bridge) -> dict[str, Any]:
        endpoints = {
            ch: _advertised(bridge.endpoints[ch], topology.proxy.host) for ch in PROXY_CHANNELS
        }
        if endpoints_conn is not None:
            endpoints_conn.send_bytes(msgspec.json.encode(endpoints))
            endpoints_conn.close()
        return {}

    def factory(
        ctx: zmq.Context[Any], bridge: Bridge, extra: dict[str, Any]
    ) -> Callable[[CrashHandler], pykka.ActorRef[Any]]:
        return lambda on_crash: ProxyActor.start(
            bridge,
            topology.cluster,
            topology.data_dir,
            faults=bridge.faults,
            on_crash=on_crash,
            servers=None if transport is None else frozenset(topology.server_ids()),
            operators=None
            if transport is None
            else frozenset(k.decode() for k in transport.operators.values()),
        )

    allowed = None if transport is None else transport.allowed
    _run("proxy", "proxy", topology, specs, factory, on_ready, allowed)


def server_main(topology_json: bytes, server_id: str, endpoints_json: bytes) -> None:
    """Entry point of a server process; ``endpoints_json`` are the proxy's
    advertised endpoints, dialled at the server's ``proxy_host`` if it has one."""
    from actors.server import ServerActor  # noqa: PLC0415 - keep the spawn import light

    topology = msgspec.json.decode(topology_json, type=Topology)
    advertised = msgspec.json.decode(endpoints_json, type=dict[str, str])
    # Where the proxy is reached from this server's host (NAT, tunnel, relay):
    # the supervisor only knows where the proxy says it is.
    endpoints = next(s for s in topology.servers if s.id == server_id).dial(advertised)
    curve = _keys_or_exit(lambda: server_curve(topology, server_id))
    identity = server_id.encode()
    specs = [
        SocketSpec(
            "backend",
            zmq.DEALER,
            connect=endpoints["backend"],
            identity=identity,
            hwm=50_000,
            curve=curve,
        ),
        SocketSpec(
            "hello",
            zmq.DEALER,
            connect=endpoints["hello"],
            identity=identity,
            max_frame_bytes=MAX_CONTROL_FRAME_BYTES,
            hwm=100,
            curve=curve,
        ),
        SocketSpec(
            "liveness",
            zmq.DEALER,
            connect=endpoints["liveness"],
            identity=identity,
            max_frame_bytes=MAX_CONTROL_FRAME_BYTES,
            hwm=100,
            curve=curve,
        ),
    ]

    def factory(
        ctx: zmq.Context[Any], bridge: Bridge, extra: dict[str, Any]
    ) -> Callable[[CrashHandler], pykka.ActorRef[Any]]:
        return lambda on_crash: ServerActor.start(
            bridge, server_id, topology.cluster, topology.data_dir, on_crash=on_crash
        )

    _run("server", server_id, topology, specs, factory, None)


def _run(
    role: str,
    node_id: str,
    topology: Topology,
    specs: list[SocketSpec],
    factory: Callable[
        [zmq.Context[Any], Bridge, dict[str, Any]], Callable[[CrashHandler], pykka.ActorRef[Any]]
    ],
    on_ready: Callable[[Bridge], dict[str, Any]] | None,
    allowed: dict[bytes, str] | None = None,
) -> None:
    """Run one process: its bridge, its supervised actor, until told to stop.
    ``allowed``: the keys its ``servers`` CURVE sockets admit."""
    c = topology.cluster
    collector.take_over()
    logs.configure(node_id, role, topology.log_dir / f"{role}-{node_id}.jsonl", c.log_level)
    if not die_with_parent():
        log.debug("process.no_pdeathsig")
    faults = _fault_injector(topology)
    stop = threading.Event()
    exit_code = 0

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    # SIGHUP too: a terminal closed on a foreground cluster hangs up its whole
    # process group, which must stop as cleanly as on Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    parent = os.getppid()
    if c.cpu_affinity == "spread":
        _bind_to_one_cpu(topology, node_id)  # before the threads start
    ctx: zmq.Context[Any] = zmq.Context()
    holder: dict[str, ActorSupervisor] = {}
    bridge = Bridge(
        ctx,
        specs,
        target=lambda: holder["sup"].current() if "sup" in holder else None,
        node_id=node_id,
        tick_interval_s=min(0.05, c.probe_interval_s / 4),
        faults=faults,
        allowed=allowed,
    )
    bridge.start()
    try:
        bridge.wait_ready()
    except RuntimeError as exc:
        log.critical("process.bridge_failed", error=str(exc))
        ctx.term()
        sys.exit(EXIT_CRASHED)
    _batch_io_threads()
    extra = on_ready(bridge) if on_ready is not None else {}
    gave_up = threading.Event()

    def give_up() -> None:
        gave_up.set()
        stop.set()

    sup = ActorSupervisor(
        factory(ctx, bridge, extra),
        name=role,
        max_restarts=c.actor_max_restarts,
        within_s=c.actor_restart_window_s,
        on_give_up=give_up,
    )
    holder["sup"] = sup
    sup.start()
    log.info("process.started", endpoints=bridge.endpoints, pid=os.getpid())
    if not _serve(stop, bridge, parent, sup):
        exit_code = EXIT_CRASHED
    if gave_up.is_set():
        exit_code = EXIT_CRASHED
    sup.stop(timeout_s=3.0)
    bridge.stop(timeout_s=3.0)
    if bridge.is_alive():
        # A handler is stuck on the bridge thread, which hosts the actor and
        # owns the sockets: term() would wait for it. Exit without it; the
        # store's committed writes are in its WAL.
        log.critical("process.stuck_at_stop", exit_code=exit_code or EXIT_CRASHED)
        os._exit(exit_code or EXIT_CRASHED)  # log lines are written unbuffered
    ctx.term()
    log.info("process.stopped", exit_code=exit_code)
    sys.exit(exit_code)


def _keys_or_exit(load: Callable[[], T]) -> T:
    """What ``load`` reads from the key files; a missing file ends the process
    with a clear line (the supervisor makes them: a missing one is a copy
    left out on a host of a multi-host cluster)."""
    try:
        return load()
    except KeysMissing as exc:
        log.critical("process.keys_missing", error=str(exc))
        sys.exit(EXIT_CRASHED)


def _serve(stop: threading.Event, bridge: Bridge, parent: int, sup: ActorSupervisor) -> bool:
    """Wait for a stop request; False if the bridge died or the actor is gone.

    Runs in the main thread: checks the parent, the bridge and the actor
    (:meth:`ActorSupervisor.has_actor`, :data:`NO_ACTOR_ROUNDS` rounds in a
    row), and runs the cyclic collector on its clock
    (:mod:`actors.kernel.collector`).
    """
    clock = collector.CollectorClock()
    actorless = 0
    while not stop.wait(clock.interval_s):
        generation, pause_s = clock.collect()
        if pause_s >= SLOW_COLLECTION_S:
            log.warning("process.slow_collection", generation=generation, ms=round(pause_s * 1e3))
        if os.getppid() != parent:
            log.warning("process.parent_died")
            return True
        if not bridge.is_alive():
            log.critical("process.bridge_died", error=repr(bridge.error))
            return False
        actorless = 0 if sup.has_actor() else actorless + 1
        if actorless >= NO_ACTOR_ROUNDS:
            log.critical("process.no_actor", actor=sup.name, gave_up=sup.gave_up)
            return False
    return True


def _fault_injector(topology: Topology) -> FaultInjector | None:
    """An injector only where faults are configured, or may be installed at
    run time (debug): the common path pays nothing."""
    try:
        rules = [*topology.faults, *rules_from_env()]
    except ValueError as exc:
        log.critical("process.bad_fault_rules", error=str(exc))
        sys.exit(EXIT_CRASHED)
    if rules:
        log.warning("process.fault_injection", rules=len(rules))
    return FaultInjector(rules) if rules or topology.cluster.debug else None


#: Niceness of a server on the proxy's CPU (Topology.guest_of_proxy): a
#: tenth of the proxy's weight, so the proxy preempts it on waking.
GUEST_NICE: Final = 10


def _bind_to_one_cpu(topology: Topology, node_id: str) -> None:
    """Bind this process to the CPU :meth:`Topology.cpu_for` gives it, among
    those it may use, at :data:`GUEST_NICE` if that is the proxy's CPU.
    Threads started later (the bridge, zmq's I/O thread) inherit both."""
    if not hasattr(os, "sched_setaffinity"):
        log.warning("process.no_cpu_affinity", reason="not supported on this platform")
        return
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        log.warning("process.no_cpu_affinity", reason="a single CPU to use")
        return
    cpu = allowed[topology.cpu_for(node_id, len(allowed))]
    os.sched_setaffinity(0, {cpu})
    guest = topology.guest_of_proxy(node_id, len(allowed))
    if guest:
        os.nice(GUEST_NICE)
    log.info("process.cpu_affinity", cpu=cpu, guest_of_proxy=guest)


def _batch_io_threads() -> None:
    """Run zmq's background threads (started with the sockets: the I/O thread
    and the reaper) under ``SCHED_BATCH``.

    A batch thread never preempts the running thread when it wakes. The
    bridge thread wakes the I/O thread with every message it sends: where
    the two share a CPU, each send of a burst used to switch to the I/O
    thread and back (37% of the proxy's samples under load were in
    ``Socket.send``). Now the burst is queued, and the I/O thread sends it
    when the bridge thread waits in its poll, a few µs later.

    They are found as the threads Python did not start: zmq names its
    threads from inside them, which a thread just started may not have done.
    """
    if not hasattr(os, "SCHED_BATCH"):
        return
    ours = {t.native_id for t in threading.enumerate()}
    try:
        tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return
    for tid in tasks:
        if tid in ours:
            continue
        try:
            os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
        except OSError as exc:
            log.warning("process.no_batch_io_thread", error=str(exc))


def _advertised(bound: str, host: str) -> str:
    """A bound endpoint as clients must dial it (``tcp://0.0.0.0:p`` -> ``tcp://host:p``)."""
    port = bound.rsplit(":", 1)[1]
    return f"tcp://{host}:{port}"
