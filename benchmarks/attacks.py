"""The attacks of the security issue, replayed: ``python -m benchmarks.attacks``.

Starts its own cluster (:class:`benchmarks.cluster_bench.Cluster`, five
servers, ``--security curve`` by default or ``off``: plaintext, no access
control, no write checks) with its files under ``--var``. Alice, the victim,
is a :class:`~actors.client.ClientSession` with her own store;
Mallory, the attacker, is raw sockets: her own CurveZMQ key on a secured
cluster, plaintext on the other. Mallory is given alice's replica id and
counters (the worst case: on a secured cluster she could not read them).
Each attack makes its own list of alice's (``milk`` and ``eggs`` on it), so
no attack's effect spills into the next.

For each attack it prints what was sent, the answer, and its effect as alice
or the operator sees it afterwards (a ``Get`` with alice's key, ``status``
with the operator's). It reports and never asserts: the exit status is 0
unless the script itself fails. With ``--json`` the last line printed is one
JSON object: ``{"security": ..., "attacks": [{"attack", "sent", "answer",
"effect"}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import zmq
from rich.console import Console
from rich.table import Table
from rich.text import Text
from zmq.utils.monitor import recv_monitor_message

from actors.client import ClientSession
from actors.kernel import CurveClient, CurveKeys, apply_curve
from benchmarks.cluster_bench import Cluster, add_cluster_arguments
from crdt import ShoppingList
from protocol import (
    Ack,
    ErrorReply,
    Get,
    ListReply,
    Message,
    ProtocolError,
    Put,
    Saved,
    SHello,
    StatusReply,
    StatusRequest,
    StoredBatch,
    Update,
    Watch,
    Watching,
    decode,
    encode,
    encode_state,
)
from protocol.state import ListState
from supervisor.endpoints import read_endpoints
from supervisor.probe import ProxyUnreachable, ask_proxy, fetch_status
from supervisor.topology import load_topology
from supervisor.transport import client_curve, ephemeral_keys

#: How long to wait for any one answer, handshake or update.
WAIT_S: Final = 5.0
#: How long to listen for answers that may never come (a refused frame).
LISTEN_S: Final = 2.0
#: The counter a wipe claims for alice's replica.
HUGE: Final = 2**40
EARLIER: Final = ("milk", "eggs")
LATER: Final = ("bread", "tea", "jam")
_HANDSHAKE: Final[dict[int, str]] = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "handshake ok",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake failed (protocol)",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake failed (auth: key refused)",
}


@dataclass
class Row:
    attack: str
    sent: str
    answer: str
    effect: str


def _id(tag: str) -> str:
    return f"atk-{tag}-{uuid.uuid4().hex[:8]}"


def describe(answer: Message | None) -> str:
    """An answer, in a few words (``None``: none came)."""
    if answer is None:
        return "no answer"
    if isinstance(answer, ErrorReply):
        return f"ErrorReply {answer.code}: {answer.reason[:90]}"
    if isinstance(answer, ListReply):
        if answer.state is None:
            return "ListReply: no such list"
        items = ShoppingList.decode(answer.state).items()
        return f"ListReply: {len(items)} items ({', '.join(items)})"
    if isinstance(answer, Saved):
        return f"Saved (acks {answer.acks})"
    if isinstance(answer, StatusReply):
        members = ", ".join(m.node_id for m in answer.members)
        return f"StatusReply: ring {members}, epoch {answer.ring_epoch}"
    if isinstance(answer, Watching):
        return f"Watching: {len(answer.list_ids)} watched, {len(answer.refused)} refused"
    return type(answer).__name__


@contextmanager
def dealer(
    endpoint: str, curve: CurveClient | None, routing_id: bytes = b""
) -> Iterator[tuple[zmq.Socket[bytes], str]]:
    """A DEALER connected to ``endpoint``, and how its first handshake ended."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock: zmq.Socket[bytes] = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if routing_id:
        sock.setsockopt(zmq.ROUTING_ID, routing_id)
    apply_curve(sock, curve)
    mon = sock.get_monitor_socket(sum(_HANDSHAKE))
    try:
        sock.connect(endpoint)
        outcome = f"no handshake event in {WAIT_S:g}s"
        if mon.poll(int(WAIT_S * 1000)):
            event = int(recv_monitor_message(mon)["event"])
            outcome = _HANDSHAKE.get(event, f"zmq event {event}")
        yield sock, outcome
    finally:
        sock.disable_monitor()
        mon.close(linger=0)
        sock.close(linger=0)


def listen(sock: zmq.Socket[bytes], seconds: float, until: int = 0) -> list[Message]:
    """What arrives on ``sock`` within ``seconds`` (sooner once ``until`` came)."""
    got: list[Message] = []
    end = time.monotonic() + seconds
    while (not until or len(got) < until) and (left := end - time.monotonic()) > 0:
        if sock.poll(int(left * 1000) + 1):
            try:
                got.append(decode(sock.recv()))
            except ProtocolError as exc:
                print(f"undecodable answer: {exc}", file=sys.stderr)
    return got


def exchange(
    endpoint: str, curve: CurveClient | None, msg: Message, routing_id: bytes = b"", until: int = 0
) -> tuple[str, list[Message]]:
    """How a new DEALER's handshake ended, and the answers to ``msg`` (sent if it passed)."""
    with dealer(endpoint, curve, routing_id) as (sock, handshake):
        if handshake != "handshake ok":
            return handshake, []
        sock.send(encode(msg))
        return handshake, listen(sock, WAIT_S if until else LISTEN_S, until)


def wire(list_id: str, vv: dict[str, int]) -> bytes:
    """An empty state whose causal context is ``vv``, as an attacker writes it."""
    order = sorted(vv)
    return encode_state(ListState(list_id, order, [vv[r] for r in order], [], [], []))


class Attacks:
    """The attacks, against ``cluster``, each appending its :class:`Row`."""

    def __init__(self, cluster: Cluster, base: Path) -> None:
        self.cluster = cluster
        self.secured = cluster.security == "curve"
        self.endpoints = read_endpoints(base / "data" / "endpoints.json")
        own = cluster.curve()
        self.proxy_key = None if own is None else own.server_public
        #: Mallory's key (``None``: plaintext), as a client connects
        self.mallory = client_curve(load_topology(cluster.topology))
        self.alice = ClientSession(
            "alice",
            base / "clients" / "alice",
            self.endpoints,
            client_timeout_s=2.0,
            connect_timeout_s=1.0,
            proxy_key=self.proxy_key,
        )
        self.alice.open()
        self.alice_curve: CurveClient | None = None
        if self.proxy_key is not None:
            keys = CurveKeys(*self.alice.store.curve_keys())
            self.alice_curve = CurveClient(keys, self.proxy_key, keyed=True)
        self.rows: list[Row] = []

    def close(self) -> None:
        self.alice.close()

    # ---------------------------------------------------------------- helpers

    def ask(self, msg: Message, curve: CurveClient | None) -> Message | None:
        try:
            return ask_proxy(self.endpoints["frontend"], msg, WAIT_S, curve)
        except ProxyUnreachable:
            return None

    def new_list(self, name: str) -> ShoppingList:
        """A list of alice's with milk and eggs on it, saved to the cluster."""
        state, _ = self.alice.create(name)
        for item in EARLIER:
            self.alice.add(state.list_id, item, 2)
        local = self.alice.get_local(state.list_id)
        if local is None:
            raise RuntimeError("alice's list is not in her store")
        return local

    def readable(self, list_id: str) -> list[str] | str:
        """The items alice reads from the cluster, or why she cannot."""
        answer = self.ask(Get(msg_id=_id("read"), list_id=list_id), self.alice_curve)
        if not isinstance(answer, ListReply):
            return f"alice cannot read it: {describe(answer)}"
        return [] if answer.state is None else ShoppingList.decode(answer.state).items()

    def count(self, list_id: str, items: tuple[str, ...], what: str) -> str:
        now = self.readable(list_id)
        if isinstance(now, str):
            return now
        return f"{what}: {sum(i in now for i in items)} of {len(items)} readable"

    def adds(self, list_id: str) -> int:
        """Alice adds the later items; how many the cluster answered Saved."""
        return sum(self.alice.add(list_id, item, 1)[1] for item in LATER)

    def status(self) -> StatusReply | None:
        try:
            return fetch_status(self.endpoints["frontend"], WAIT_S, self.cluster.operator())
        except ProxyUnreachable:
            return None

    def add(self, attack: str, sent: str, answer: str, effect: str) -> None:
        self.rows.append(Row(attack, sent, answer, effect))

    # ---------------------------------------------------------------- attacks

    def plaintext(self) -> None:
        get = Get(msg_id=_id("plain"), list_id=str(uuid.uuid4()))
        handshake, answers = exchange(self.endpoints["frontend"], None, get, until=1)
        answer = _shown(handshake, answers)
        effect = "plaintext is served" if answers else "plaintext reaches nothing"
        self.add("1. plaintext DEALER to the frontend", "connect, then a Get", answer, effect)

    def read(self) -> None:
        state = self.new_list("alice's read")
        answer = self.ask(Get(msg_id=_id("get"), list_id=state.list_id), self.mallory)
        got = isinstance(answer, ListReply) and answer.state is not None
        effect = f"mallory read alice's {len(state)} items" if got else "mallory read nothing"
        self.add("2. mallory reads alice's list", "Get by list id", describe(answer), effect)

    def watch(self) -> None:
        state = self.new_list("alice's watched")
        with dealer(self.endpoints["frontend"], self.mallory) as (sock, handshake):
            sock.send(encode(Watch(msg_id=_id("watch"), list_ids=[state.list_id])))
            first = listen(sock, WAIT_S, until=1)
            saved = self.adds(state.list_id)
            updates = [u for u in listen(sock, WAIT_S, until=3) if isinstance(u, Update)]
        seen = sorted({i for u in updates for i in ShoppingList.decode(u.state).items()})
        self.add(
            "3. mallory watches alice's list",
            "Watch [alice's list id]; alice then adds 3",
            f"{handshake}; {describe(first[0] if first else None)}",
            f"alice's 3 later adds ({saved} Saved): {len(updates)} updates reached mallory"
            + (f" ({', '.join(seen)})" if seen else ""),
        )

    def ask_status(self) -> None:
        answer = self.ask(StatusRequest(msg_id=_id("status")), self.mallory)
        effect = "mallory sees the ring" if isinstance(answer, StatusReply) else "nothing shown"
        self.add("4. mallory asks for status", "StatusRequest", describe(answer), effect)

    def _editor(self, state: ShoppingList, editor: bool) -> str:
        """As whom mallory writes: a stranger, or an editor alice shared the list with."""
        if editor and self.mallory is not None:
            self.alice.share(state.list_id, self.mallory.keys.public.decode(), "editor")
            return "editor"
        return "stranger"

    def wipe_huge(self, editor: bool = False) -> None:
        state = self.new_list("alice's wipe 1")
        who = self._editor(state, editor)
        claims = dict.fromkeys(state.context.replicas(), HUGE)
        put = Put(msg_id=_id("wipe1"), list_id=state.list_id, state=wire(state.list_id, claims))
        answer = self.ask(put, self.mallory)
        saved = self.adds(state.list_id)
        later = self.count(state.list_id, LATER, f"alice's 3 later adds ({saved} Saved)")
        earlier = self.count(state.list_id, EARLIER, "her earlier items")
        self.add(
            f"{'8a' if editor else '5'}. wipe 1 by {'an ' if editor else 'a '}{who}",
            f"Put: empty state, context {{{', '.join(claims)}: 2**40}}",
            describe(answer),
            f"{later}; {earlier}",
        )

    def wipe_exact(self, editor: bool = False) -> None:
        state = self.new_list("alice's wipe 2")
        who = self._editor(state, editor)
        claims = dict(state.context.vv)
        put = Put(msg_id=_id("wipe2"), list_id=state.list_id, state=wire(state.list_id, claims))
        answer = self.ask(put, self.mallory)
        dots = ", ".join(f"{r}: {n}" for r, n in claims.items())
        self.add(
            f"{'8b' if editor else '6'}. wipe 2 by {'an ' if editor else 'a '}{who}",
            f"Put: empty state, context = the list's dots {{{dots}}}",
            describe(answer),
            self.count(state.list_id, EARLIER, "alice's items"),
        )

    def forge(self, editor: bool = False) -> None:
        state = self.new_list("alice's forged")
        who = self._editor(state, editor)
        forger = ShoppingList.decode(state.encode(), self.alice.store.replica_id)
        delta = forger.add("poison", 99)
        dot = next(iter(delta.context.dots()))
        put = Put(msg_id=_id("forge"), list_id=state.list_id, state=delta.encode())
        answer = self.ask(put, self.mallory)
        now = self.readable(state.list_id)
        effect = (
            now
            if isinstance(now, str)
            else "'poison' " + ("readable, as alice's add" if "poison" in now else "not readable")
        )
        self.add(
            f"{'8c' if editor else '7'}. forged dots by {'an ' if editor else 'a '}{who}",
            f"Put: delta, dot {dot[0]}:{dot[1]} adds 'poison' x99",
            describe(answer),
            effect,
        )

    def hello(self, server_id: str) -> None:
        before = self.status()
        curve = None
        if self.proxy_key is not None:
            curve = CurveClient(ephemeral_keys(), self.proxy_key)  # a key the cluster never saw
        msg = SHello(msg_id=_id("hello"), sender=server_id, server_id=server_id)
        handshake, answers = exchange(self.endpoints["hello"], curve, msg, server_id.encode())
        time.sleep(1.0)  # a joiner is admitted within join_batch_timeout_s (0.5 s)
        after = self.status()
        acked = any(isinstance(a, Ack) for a in answers)
        self.add(
            f"9{'a' if server_id == 's1' else 'b'}. SHello as {server_id} from a stranger",
            f"DEALER id {server_id!r}{', unknown key' if curve else ''}: SHello({server_id})",
            _shown(handshake, answers),
            ("the proxy acked the stranger as a member; " if acked else "")
            + _ring_change(before, after),
        )

    def backend_ack(self) -> None:
        before = self.status()
        curve = None if self.proxy_key is None else CurveClient(ephemeral_keys(), self.proxy_key)
        batch = StoredBatch(msg_id=_id("ack"), sender="mallory", reply_to=["proxy.000000.1"])
        handshake, answers = exchange(self.endpoints["backend"], curve, batch, b"mallory")
        state = self.new_list("after the forged ack")
        self.add(
            "10. StoredBatch from a non-member",
            "backend DEALER id 'mallory': StoredBatch acking a made-up Store id",
            _shown(handshake, answers),
            f"{_ring_change(before, self.status())}; "
            + self.count(state.list_id, EARLIER, "a new list's items"),
        )

    def run(self) -> None:
        """Every attack, 9 last (it may change the ring); rows in the issue's order."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("1", self.plaintext),
            ("2", self.read),
            ("3", self.watch),
            ("4", self.ask_status),
            ("5", self.wipe_huge),
            ("6", self.wipe_exact),
            ("7", self.forge),
            ("8a", lambda: self.wipe_huge(editor=True)),
            ("8b", lambda: self.wipe_exact(editor=True)),
            ("8c", lambda: self.forge(editor=True)),
            ("10", self.backend_ack),
            ("9a", lambda: self.hello("s1")),
            ("9b", lambda: self.hello("s9")),
        ]
        if not self.secured:
            steps[7:10] = [("8", self._no_sharing)]
        for label, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - an attack's failure is reported, not raised
                self.add(f"{label}. (the attack failed)", "-", type(exc).__name__, str(exc))
        self.rows.sort(key=lambda row: _order(row.attack))

    def _no_sharing(self) -> None:
        for tag, what in (("8a", "wipe 1"), ("8b", "wipe 2"), ("8c", "forged dots")):
            self.add(f"{tag}. {what} by an editor", "-", "-", "n/a: no access control")


def _order(attack: str) -> tuple[int, str]:
    label = attack.split(".", 1)[0]
    digits = "".join(c for c in label if c.isdigit())
    return (int(digits or 0), label)


def _shown(handshake: str, answers: list[Message]) -> str:
    if handshake != "handshake ok":
        return f"{handshake}; the frame was never sent"
    return f"{handshake}; " + ("; ".join(describe(a) for a in answers) or "no answer")


def _ring_change(before: StatusReply | None, after: StatusReply | None) -> str:
    if before is None or after is None:
        return "ring unknown: status did not answer"
    old = sorted(m.node_id for m in before.members)
    new = sorted(m.node_id for m in after.members)
    if old == new and before.ring_epoch == after.ring_epoch:
        return f"ring unchanged ({', '.join(new)}; epoch {after.ring_epoch})"
    added, gone = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    return (
        f"RING CHANGED: epoch {before.ring_epoch} -> {after.ring_epoch}, "
        f"joined {added or '-'}, left {gone or '-'}"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    console = Console(stderr=args.json, highlight=False)
    if not console.is_terminal:
        console.width = 160  # a log or a closing note: the whole row on one line where it fits
    base = Path(args.var).resolve() / f"run-{uuid.uuid4().hex[:8]}-{args.security}"
    console.print(f"[bold]cluster with security = {args.security!r}[/bold] under {base}")
    cluster = Cluster(base, "normal", 65_536, args.cpu_affinity, args.security)
    try:
        cluster.wait()
        attacks = Attacks(cluster, base)
        try:
            attacks.run()
        finally:
            attacks.close()
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    table = Table(title=f"attacks, security = {args.security!r}", show_lines=True)
    for column in ("attack", "what was sent", "answer", "effect"):
        table.add_column(column)
    for row in attacks.rows:
        table.add_row(*(Text(cell) for cell in (row.attack, row.sent, row.answer, row.effect)))
    console.print(table)
    return {"security": args.security, "attacks": [asdict(r) for r in attacks.rows]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.attacks", description=__doc__.splitlines()[0]
    )
    add_cluster_arguments(p)
    p.set_defaults(var="var/attacks")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
