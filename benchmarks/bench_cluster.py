"""The bench's cluster: a five-server topology on ephemeral ports, run in the
background (:class:`Cluster`), and the bulk requests made to it: storing
lists (:func:`preload`) and reading every acknowledged write back
(:func:`verify`).

Used by :mod:`benchmarks.cluster_bench` and the other benchmarks that run a
cluster of their own (they import these names from there too).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
import zmq

from actors.kernel import CurveClient, apply_curve
from benchmarks.loadgen import writer_replica
from crdt import ShoppingList
from protocol import Get, ListReply, Put, Saved, StatusReply, decode, encode
from supervisor.endpoints import read_endpoints
from supervisor.probe import wait_for_ring
from supervisor.state import SupervisorState
from supervisor.topology import TopologyError, load_topology
from supervisor.transport import client_curve, operator_curve

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("s1", "s2", "s3", "s4", "s5")
#: A cluster's ``security`` setting: CurveZMQ, or plaintext (to compare figures).
Security = Literal["curve", "off"]
#: What ``--security`` may ask for: one cluster of either kind, or both in turn.
SECURITY_CHOICES: Final = ("curve", "off", "both")


def _topology(
    base: Path, durability: str, cache_lists: int, cpu_affinity: str, security: Security
) -> str:
    lines = [
        "[cluster]",
        'name = "bench"',
        f'data_dir = "{base / "data"}"',
        f'log_dir = "{base / "log"}"',
        f'durability = "{durability}"',
        f"cache_lists = {cache_lists}",
        f'cpu_affinity = "{cpu_affinity}"',
        f'security = "{security}"',
        "join_batch_timeout_s = 0.5",
        "",
        "[proxy]",
        'host = "127.0.0.1"',
        "base_port = 0",
        "",
    ]
    for s in SERVERS:
        lines += ["[[servers]]", f'id = "{s}"', ""]
    return "\n".join(lines)


class Cluster:
    """``run.py cluster`` in the background, stopped however the run ends.

    Its topology's ``security`` is ``security``: with ``"curve"`` (the
    default) every socket to its proxy must speak CurveZMQ, with the keys
    :meth:`curve` gives; its supervisor makes the key files (under
    ``base/keys``) as it starts.
    """

    def __init__(
        self,
        base: Path,
        durability: str,
        cache_lists: int,
        cpu_affinity: str = "none",
        security: Security = "curve",
    ) -> None:
        self.base = base
        self.security: Security = security
        self._curve: CurveClient | None = None
        #: the ring's status probe answer once :meth:`wait` has returned
        self.status: StatusReply | None = None
        base.mkdir(parents=True, exist_ok=True)
        self.topology = base / "topology.toml"
        self.topology.write_text(_topology(base, durability, cache_lists, cpu_affinity, security))
        out = (base / "cluster.out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "cluster", str(self.topology)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()

    def endpoint(self) -> str:
        try:
            return read_endpoints(self.base / "data" / "endpoints.json")["frontend"]
        except TopologyError:
            return "tcp://127.0.0.1:1"  # not up yet

    def curve(self) -> CurveClient | None:
        """The keys of a socket of the benchmark's own to the proxy: one
        ephemeral pair (made on the first call, then the same) and the
        proxy's public key; ``None`` if the cluster is plaintext.

        Raises:
            KeysMissing: the supervisor has not made the key files yet
                (:meth:`wait` waits for them).
        """
        if self.security == "off":
            return None
        if self._curve is None:  # a failed read is not cached: the files may come
            self._curve = client_curve(load_topology(self.topology))
        return self._curve

    def operator(self) -> CurveClient | None:
        """The keys that may ask the proxy for ``status``: the supervisor's
        (an operator's); ``None`` if the cluster is plaintext.

        Raises:
            KeysMissing: the supervisor has not made the key files yet.
        """
        if self.security == "off":
            return None
        return operator_curve(load_topology(self.topology))

    def wait(self) -> str:
        """Wait (up to 60 s) until every server answers a status probe, sent
        with :meth:`operator`'s keys; the proxy's frontend endpoint. The
        probe's answer is kept as :attr:`status`.

        Raises:
            ProxyUnreachable: the ring was not up in time, or the cluster died.
        """
        self.status = wait_for_ring(
            self.endpoint,
            len(SERVERS),
            60.0,
            running=lambda: self.proc.poll() is None,
            curve=self.operator,
        )
        return self.endpoint()

    def server_pids(self, timeout_s: float = 10.0) -> dict[str, int]:
        """Server id -> pid of each running server, from the supervisor's state
        file (``supervisor-*.json`` in the data dir, written as a process
        starts or exits); waits up to ``timeout_s`` for all of them.

        Raises:
            RuntimeError: not every server was running by then.
        """
        deadline = time.monotonic() + timeout_s
        pids: dict[str, int] = {}
        while True:
            for path in (self.base / "data").glob("supervisor-*.json"):
                try:
                    state = msgspec.json.decode(path.read_bytes(), type=SupervisorState)
                except (OSError, msgspec.DecodeError):
                    continue  # replaced as we read it: read again
                for proc in state.processes:
                    if proc.kind == "server" and proc.pid is not None and proc.phase == "running":
                        pids[proc.name] = proc.pid
            if len(pids) >= len(SERVERS):
                return pids
            if time.monotonic() >= deadline:
                raise RuntimeError(f"only servers {sorted(pids)} are running")
            time.sleep(0.1)  # the supervisor rewrites the file as each one starts

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _stream(
    endpoint: str,
    requests: Iterable[Any],
    window: int,
    on_reply: Callable[[Any], None],
    *,
    curve: CurveClient | None,
) -> None:
    """Send ``requests`` (taken as they go) with ``window`` outstanding, over
    CurveZMQ with ``curve`` (``None``: plaintext), and hand each answer to
    ``on_reply``.

    Raises:
        RuntimeError: no answer at all for 30 s.
    """
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    apply_curve(sock, curve)
    sock.connect(endpoint)
    pending = 0
    it = iter(requests)
    try:
        exhausted = False
        while not exhausted or pending:
            while not exhausted and pending < window:
                msg = next(it, None)
                if msg is None:
                    exhausted = True
                    break
                sock.send(encode(msg))
                pending += 1
            if not pending:
                break
            if not sock.poll(30_000):
                raise RuntimeError("the cluster stopped answering")
            while True:
                try:
                    reply = decode(sock.recv(zmq.NOBLOCK))
                except zmq.Again:
                    break
                pending -= 1
                on_reply(reply)
    finally:
        sock.close(0)
        ctx.term()


def _pipelined(
    endpoint: str, requests: list[Any], window: int = 256, *, curve: CurveClient | None
) -> list[Any]:
    """:func:`_stream` ``requests``; the answers in request order (``None``
    where a request got none).

    Raises:
        RuntimeError: no answer at all for 30 s.
    """
    answers: dict[str, Any] = {}

    def keep(reply: Any) -> None:
        reply_to = getattr(reply, "reply_to", "")
        if isinstance(reply_to, str):
            answers[reply_to] = reply

    _stream(endpoint, requests, window, keep, curve=curve)
    return [answers.get(m.msg_id) for m in requests]


#: A list id of the preload template: replaced, byte for byte, by each list's own.
_TEMPLATE_ID: Final = "00000000-0000-4000-8000-000000000000"


def preload_state(items: list[str], replica_id: str) -> bytes:
    """The encoded state of a list holding each of ``items`` once, written by
    ``replica_id``, under the id :data:`_TEMPLATE_ID` (each list swaps in its
    own id: a uuid has the same length, so the msgpack stays valid).

    Building and encoding 30 items costs about 1 ms in Python: at a million
    lists that alone was 15 minutes, so the bench builds one state and
    copies it; the servers still decode, check and store each one."""
    state = ShoppingList(_TEMPLATE_ID, replica_id, "bench list")
    for item in items:
        state.add(item, 1)
    return state.encode()


def preload(
    endpoint: str,
    lists: int,
    items: list[str],
    *,
    curve: CurveClient | None,
    window: int = 256,
) -> dict[str, dict[str, int]]:
    """Store ``lists`` new lists, each with every one of ``items`` once, over
    CurveZMQ with ``curve`` (``None``: plaintext), ``window`` Puts
    outstanding; their ledger (list id -> item -> quantity saved).

    Every list's ledger entry is the same dict object (a million copies of
    30 items would take gigabytes): read it, never change it in place.

    Raises:
        RuntimeError: some were still not saved after five tries.
    """
    template = preload_state(items, writer_replica(curve, "preload"))
    old = _TEMPLATE_ID.encode()
    ids = [str(uuid.uuid4()) for _ in range(lists)]
    todo: list[int] = list(range(lists))
    for _ in range(5):  # an overloaded proxy answers "unavailable": send those again
        puts = (
            Put(
                msg_id=f"p{k}",
                sender="bench",
                list_id=ids[k],
                state=template.replace(old, ids[k].encode(), 1),
            )
            for k in todo
        )
        saved = _pipelined_saved(endpoint, puts, window, curve=curve)
        todo = [k for k in todo if f"p{k}" not in saved]
        if not todo:
            shared = dict.fromkeys(items, 1)
            return dict.fromkeys(ids, shared)
    raise RuntimeError(f"{len(todo)} preload writes were not saved")


def _pipelined_saved(
    endpoint: str, puts: Iterator[Put], window: int, *, curve: CurveClient | None
) -> set[str]:
    """:func:`_stream` ``puts`` (made as they go: a million held at once
    would take gigabytes); the msg ids answered ``Saved``.

    Raises:
        RuntimeError: no answer at all for 30 s.
    """
    saved: set[str] = set()

    def keep(reply: Any) -> None:
        if isinstance(reply, Saved):
            saved.add(reply.reply_to)

    _stream(endpoint, puts, window, keep, curve=curve)
    return saved


def verify(
    endpoint: str,
    ledger: dict[str, dict[str, int]],
    settle_s: float = 30.0,
    *,
    curve: CurveClient | None,
) -> tuple[int, int, int, int]:
    """(acknowledged quantity missing, lists checked, lists short at first, lists unreadable).

    Reads over CurveZMQ with ``curve`` (``None``: plaintext).

    A read merges R replicas; right after a burst, the R that answer first may
    both lack a write that W others hold (sloppy quorum: one may be a
    stand-in's hint). Such a write is durable and reaches the owners through
    handoff, read repair and anti-entropy, so lists short of their ledger are
    read again until ``settle_s`` after the first full pass (which may itself
    be long); so are lists whose read failed (an overloaded cluster answers
    "unavailable"). Short lists left then are lost writes; unreadable ones
    are reported apart, and also fail the run.
    """
    pending = list(ledger)
    first_short = -1
    end = 0.0  # set when the first full pass is done: that pass may be long
    while True:
        gets = [Get(msg_id=f"v{k}", sender="bench", list_id=lid) for k, lid in enumerate(pending)]
        short: list[str] = []
        unreadable: list[str] = []
        lost = 0
        for get, answer in zip(
            gets, _pipelined(endpoint, gets, window=64, curve=curve), strict=True
        ):
            if not isinstance(answer, ListReply):
                unreadable.append(get.list_id)
                continue
            missing = sum(ledger[get.list_id].values())
            if answer.state is not None:
                state = ShoppingList.decode(answer.state)
                missing = sum(max(0, q - state.needed(i)) for i, q in ledger[get.list_id].items())
            if missing:
                short.append(get.list_id)
                lost += missing
        if first_short < 0:
            first_short = len(short)
            end = time.monotonic() + settle_s
        if (not short and not unreadable) or time.monotonic() >= end:
            return lost, len(ledger), first_short, len(unreadable)
        pending = short + unreadable
        time.sleep(0.5)  # give handoff and anti-entropy a moment between re-reads


def add_cluster_arguments(p: argparse.ArgumentParser, security_both: bool = False) -> None:
    """The flags of every benchmark that runs a cluster of its own.

    ``--security`` is ``curve`` (the default) or ``off``; with
    ``security_both`` it may also be ``both`` (the default then): a
    secured cluster, then a plaintext one.
    """
    if security_both:
        p.add_argument(
            "--security",
            choices=SECURITY_CHOICES,
            default="both",
            help="the cluster's security: curve, off (plaintext), or both in turn (the "
            "default: secured, then plaintext with the same settings, and their ratios)",
        )
    else:
        p.add_argument(
            "--security",
            choices=SECURITY_CHOICES[:2],
            default="curve",
            help="the cluster's security: curve (CurveZMQ, the default) or off (plaintext)",
        )
    p.add_argument(
        "--cpu-affinity",
        choices=["none", "spread"],
        default="none",
        help="the cluster's cpu_affinity setting (see docs/performance.md)",
    )
    p.add_argument("--var", default="var/bench", help="folder for the bench cluster's files")
    p.add_argument("--keep", action="store_true", help="keep the cluster's data and logs")
    p.add_argument("--json", action="store_true", help="print the figures as JSON, last line")
