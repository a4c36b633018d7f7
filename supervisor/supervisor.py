"""The process supervisor: starts a topology's processes and keeps them up.

One supervisor runs per host of a topology (``run.py cluster T --host H``).
It spawns the proxy (if placed on this host) and then every server placed
here, each as a fresh interpreter (multiprocessing, *spawn*), and then waits
on their sentinels and on a self-pipe woken by signals: no polling loop.

Restarts follow OTP: a child that exits is restarted after an exponential
backoff (``restart_backoff_s`` doubling up to ``max_backoff_s``), at most
``max_restarts`` times within ``within_s`` seconds; beyond that the
supervisor gives up on that child, logs it, and keeps the others running. A
server whose data folder holds a file named ``RETIRED`` is not restarted:
that is how an operator (or a test) takes a server down for good.

After (re)starting a server, the supervisor feeds the proxy's hello queue on
its behalf, so the proxy learns of it without waiting for the server's own
hello; a restarted ring member is acked at once.

Only one supervisor of a host runs per data folder: :meth:`Supervisor.run`
takes that host's lock in the folder and checks the proxy's fixed ports first, and fails with
:class:`~supervisor.lifecycle.ClusterBusy` before starting anything. While
it runs it keeps ``supervisor-<host>.json`` up to date (:mod:`supervisor.state`):
each process's pid, start, restarts and last exit code, for ``run.py status``.

SIGINT, SIGTERM or SIGHUP (the terminal closed) stops every child: SIGTERM
first, SIGKILL for any still alive after ``stop_grace_s``. Children also
die with the supervisor (Linux ``PR_SET_PDEATHSIG`` and a parent check), so
none is orphaned.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import msgspec
import zmq

import logs
from actors.kernel import apply_curve
from protocol import SHello, encode
from protocol.limits import MAX_CONTROL_FRAME_BYTES
from supervisor.child import proxy_main, server_main
from supervisor.children import Child, RestartPolicy
from supervisor.endpoints import write_endpoints
from supervisor.keys import ensure_keys, key_names
from supervisor.lifecycle import ClusterLock, check_ports
from supervisor.state import SupervisorState, clear_state, write_state
from supervisor.topology import PROXY_CHANNELS, Topology, TopologyError
from supervisor.transport import supervisor_curve, supervisor_identity

__all__ = ["RestartPolicy", "Supervisor"]

log = logs.get_logger("supervisor")


class Supervisor:
    """Runs the processes of one host of a topology until told to stop.

    Args:
        topology: the validated topology.
        host: start only processes placed on this host; ``None`` starts all.
        policy: restart limits.
        stop_grace_s: how long children get to stop before SIGKILL.
        topology_file: the file ``topology`` came from, named in messages.
        stop_with_fd: the read end of a pipe whose writer is the process
            this cluster lives for (``python run.py``'s menu): its end of
            file, when that process ends in any way, even SIGKILL, stops
            the cluster as a signal would.
    """

    def __init__(
        self,
        topology: Topology,
        host: str | None = None,
        policy: RestartPolicy | None = None,
        stop_grace_s: float = 3.0,
        topology_file: str = "TOPOLOGY",
        stop_with_fd: int | None = None,
    ) -> None:
        self.topology = topology
        self.host = host
        self.topology_file = topology_file
        self._lock = ClusterLock(topology, host)
        self._started_wall = time.time()
        self._claimed = False
        c = topology.cluster
        self.policy = policy or RestartPolicy(
            max_restarts=c.process_max_restarts, within_s=c.process_restart_window_s
        )
        self.stop_grace_s = stop_grace_s
        self.mp = mp.get_context("spawn")
        self.children: dict[str, Child] = {}
        self.endpoints: dict[str, str] = {}
        self._topology_json = msgspec.json.encode(topology)
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._guard = stop_with_fd
        if stop_with_fd is not None:
            os.set_inheritable(stop_with_fd, False)  # not into the children
        self._zmq: zmq.Context[Any] | None = None
        self._hello: zmq.Socket[bytes] | None = None
        self._hello_seq = 0

    # ---------------------------------------------------------------- run

    def run(self) -> int:
        """Start everything, supervise until a signal, stop everything. Returns 0.

        Raises:
            ClusterBusy: a cluster of this topology already runs here (its
                lock is held), or a fixed port of the proxy is taken; nothing
                was started.
        """
        if not self._claimed:
            self.claim()
        logs.configure(
            f"supervisor-{self.host or 'all'}",
            "supervisor",
            self.topology.log_dir / f"supervisor-{self.host or 'all'}.jsonl",
            self.topology.cluster.log_level,
        )
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        try:
            self._start_all()
            self._loop()
        except Exception:
            # run.py prints one line; the traceback is kept here, in the log.
            log.critical("supervisor.crashed", exc_info=True)
            raise
        finally:
            self.shutdown()
            clear_state(self.topology, self.host)
            self._lock.release()
            self._claimed = False
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def claim(self) -> None:
        """Take this topology's lock here and check the proxy's fixed ports;
        :meth:`run` does it first if it was not done.

        Raises:
            ClusterBusy: a cluster of this topology runs here, or a port is taken.
        """
        self._lock.acquire(self.topology_file)
        try:
            check_ports(self.topology, self.host)
        except BaseException:
            self._lock.release()
            raise
        self._claimed = True

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _places(self, host: str) -> bool:
        return self.host is None or self.host == host

    def _start_all(self) -> None:
        topo = self.topology
        if topo.cluster.security == "curve":
            # The key pairs of this host's processes, made on first run.
            made = ensure_keys(topo.keys_dir, key_names(topo, self.host))
            if made:
                log.info("supervisor.keys_made", keys=made, keys_dir=str(topo.keys_dir))
        if self._places(topo.proxy.host):
            self.children["proxy"] = Child("proxy", "proxy")
            self._spawn(self.children["proxy"])
        else:
            if any(topo.proxy.port(ch) == 0 for ch in PROXY_CHANNELS):
                raise TopologyError("$.proxy: a proxy on another host needs fixed ports")
            self.endpoints = topo.proxy.endpoints()
        for server in topo.servers:
            if self._places(server.host):
                self.children[server.id] = Child(server.id, "server")
        for child in self.children.values():
            if child.kind == "server":
                self._spawn(child)
        log.info(
            "supervisor.started",
            host=self.host,
            children=sorted(self.children),
            endpoints=self.endpoints,
        )

    def _loop(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            due = [c.restart_at for c in self.children.values() if c.restart_at is not None]
            timeout = max(0.0, min(due) - now) if due else None
            sentinels: dict[Any, Child] = {
                c.process.sentinel: c
                for c in self.children.values()
                if c.process is not None and c.restart_at is None
            }
            guard = [] if self._guard is None else [self._guard]
            ready = wait([*sentinels, self._wake_r, *guard], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self._guard is not None and self._guard in ready and not os.read(self._guard, 64):
                log.warning("supervisor.guard_closed")  # the process it lived for is gone
                self._stopping = True
            for key in ready:
                child = sentinels.get(key)
                if child is not None and not self._stopping:
                    self._exited(child)
            now = time.monotonic()
            for child in self.children.values():
                if child.restart_at is not None and child.restart_at <= now and not self._stopping:
                    child.restart_at = None
                    self._spawn(child)

    # ------------------------------------------------------------ children

    def _publish(self) -> None:
        """Rewrite the state file (best effort: status is only a view)."""
        state = SupervisorState(
            pid=os.getpid(),
            host=self.host,
            started_at=self._started_wall,
            processes=[c.state() for c in self.children.values()],
        )
        try:
            write_state(self.topology, state)
        except OSError as exc:
            log.warning("supervisor.state_not_written", error=str(exc))

    def _spawn(self, child: Child) -> None:
        child.started_at = time.monotonic()
        child.started_wall = time.time()
        if child.kind == "proxy":
            parent_conn, child_conn = self.mp.Pipe(duplex=False)
            proc = self.mp.Process(
                target=proxy_main, args=(self._topology_json, child_conn), name="proxy"
            )
            proc.start()
            child_conn.close()
            child.process = proc
            self._await_endpoints(parent_conn, proc)
        else:
            if not self.endpoints:
                log.error("supervisor.no_proxy_endpoints", server=child.name)
                return
            proc = self.mp.Process(
                target=server_main,
                args=(self._topology_json, child.name, msgspec.json.encode(self.endpoints)),
                name=f"server-{child.name}",
            )
            proc.start()
            child.process = proc
            self._feed_hello(child.name)
        log.info(
            "supervisor.spawned", child=child.name, pid=child.process.pid if child.process else None
        )
        self._publish()

    def _await_endpoints(self, conn: Connection, proc: BaseProcess) -> None:
        """Learn the proxy's bound endpoints from its pipe; a proxy that died
        before sending them (EOF) or sent nonsense is logged, and restarted
        like any exited child."""
        try:
            if conn.poll(15.0):
                raw = conn.recv_bytes(MAX_CONTROL_FRAME_BYTES)
                self._learn_endpoints(msgspec.json.decode(raw, type=dict[str, str]))
            else:
                log.error("supervisor.proxy_silent", pid=proc.pid)
        except (EOFError, OSError, msgspec.DecodeError) as exc:
            log.error("supervisor.proxy_no_endpoints", pid=proc.pid, error=repr(exc))
        finally:
            conn.close()

    def _learn_endpoints(self, endpoints: dict[str, str]) -> None:
        first = not self.endpoints
        self.endpoints = endpoints
        write_endpoints(self.topology.endpoints_file, endpoints)
        if first:
            # A restarted proxy must come back on the same ports: pin them.
            ports = {f"{ch}_port": int(endpoints[ch].rsplit(":", 1)[1]) for ch in PROXY_CHANNELS}
            proxy = msgspec.structs.replace(self.topology.proxy, base_port=None, **ports)
            self.topology = msgspec.structs.replace(self.topology, proxy=proxy)
            self._topology_json = msgspec.json.encode(self.topology)

    def _exited(self, child: Child) -> None:
        proc = child.process
        if proc is not None:
            # The sentinel fires when the child closes it, a moment before the
            # kernel reaps it: wait briefly so that the exit code is known.
            proc.join(1.0)
        code = proc.exitcode if proc is not None else None
        child.last_exit_code = code
        try:
            self._schedule_restart(child, code)
        finally:
            self._publish()

    def _schedule_restart(self, child: Child, code: int | None) -> None:
        """Give up on ``child`` (retired, or too many restarts) or set its restart time."""
        now = time.monotonic()
        pol = self.policy
        if child.kind == "server" and (self.topology.data_dir / child.name / "RETIRED").exists():
            log.warning("supervisor.retired", child=child.name, exit_code=code)
            child.gave_up = True
            child.process = None
            return
        child.restarts.append(now)
        while child.restarts and now - child.restarts[0] > pol.within_s:
            child.restarts.popleft()
        if len(child.restarts) > pol.max_restarts:
            child.gave_up = True
            child.process = None
            log.critical(
                "supervisor.gave_up",
                child=child.name,
                exit_code=code,
                restarts=len(child.restarts),
                within_s=pol.within_s,
            )
            return
        # A child that ran for a while before dying starts a fresh backoff.
        ran_s = now - child.started_at
        child.consecutive = 0 if ran_s > pol.within_s else child.consecutive + 1
        backoff = min(
            pol.max_backoff_s, pol.restart_backoff_s * (2 ** max(0, child.consecutive - 1))
        )
        child.restart_at = now + backoff
        child.total_restarts += 1
        log.warning(
            "supervisor.child_exited", child=child.name, exit_code=code, restart_in_s=backoff
        )

    def _feed_hello(self, server_id: str) -> None:
        """Queue a server for the ring at the proxy on its behalf (best effort)."""
        if self._hello is None:
            self._zmq = zmq.Context()
            sock = self._zmq.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 100)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_CONTROL_FRAME_BYTES)
            curve = supervisor_curve(self.topology, self.host)
            # Secured, the proxy takes a vouch only under the supervisor key's own name.
            name = (
                supervisor_identity(self.topology, self.host)
                if curve
                else f"supervisor-{os.getpid()}"
            )
            sock.setsockopt(zmq.ROUTING_ID, name.encode())
            apply_curve(sock, curve)
            sock.connect(self.endpoints["hello"])
            self._hello = sock
        self._hello_seq += 1
        hello = SHello(
            msg_id=f"supervisor.{os.getpid()}.{self._hello_seq}",
            sender="supervisor",
            server_id=server_id,
        )
        with contextlib.suppress(zmq.Again):
            self._hello.send(encode(hello), zmq.NOBLOCK)

    # ----------------------------------------------------------- shutdown

    def shutdown(self) -> None:
        """Stop every child: SIGTERM, then SIGKILL after the grace period."""
        self._stopping = True
        alive = [c.process for c in self.children.values() if c.process is not None]
        alive = [p for p in alive if p.is_alive()]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        deadline = time.monotonic() + self.stop_grace_s
        for proc in alive:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in alive:
            if proc.is_alive():
                log.warning("supervisor.kill", pid=proc.pid, name=proc.name)
                proc.kill()
                proc.join(2.0)
        if self._hello is not None:
            self._hello.close(linger=0)
        if self._zmq is not None:
            self._zmq.term()
            self._zmq, self._hello = None, None
        if self.children.get("proxy") is not None:
            with contextlib.suppress(FileNotFoundError):
                self.topology.endpoints_file.unlink()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        log.info("supervisor.stopped")
