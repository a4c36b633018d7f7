"""What every user interface of a client shares: its options, opening its
session on a topology, and drawing a list.

The command line (:mod:`ui.cli`), the menu (:mod:`ui.menu`) and later the
web page all start here; this module depends on the client library's face
(:mod:`actors.client`) and on the topology, never on one of the interfaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import logs
from actors.client import (
    ClientSession,
    UnknownList,
    UpdateCallback,
)
from crdt import ShoppingList
from logs import Tracer
from protocol.limits import MAX_QUANTITY
from supervisor.endpoints import resolve_endpoints
from supervisor.keys import KeysMissing, load_public, proxy_name
from supervisor.topology import Topology, TopologyError
from ui.contract import unreachable

__all__ = [
    "ClientOptions",
    "open_session",
    "parse_quantity",
    "render_list",
    "resolve_list",
    "unknown_message",
    "unreachable_message",
]


@dataclass(frozen=True)
class ClientOptions:
    client_id: str
    topology: Topology | None = None
    #: the file ``topology`` was read from (for a child command on the same cluster)
    topology_file: Path | None = None
    proxy: str | None = None
    store: Path | None = None
    json: bool = False
    trace: bool = False
    out: Any = field(default=None, compare=False)  # a rich Console; stdout if None

    @property
    def console(self) -> Console:
        return self.out if self.out is not None else Console(highlight=False)


def open_session(
    opts: ClientOptions, *, subscribe: bool = False, on_update: UpdateCallback | None = None
) -> ClientSession:
    """An opened session with logging, timeouts and endpoints from the options."""
    topo = opts.topology
    cluster = topo.cluster if topo is not None else None
    log_dir = topo.log_dir if topo is not None else Path("var/log")
    logs.configure(
        opts.client_id,
        "client",
        log_dir / f"client-{opts.client_id}.jsonl",
        cluster.log_level if cluster else "INFO",
    )
    endpoints: dict[str, str] | None = None
    if opts.proxy:
        endpoints = {"frontend": opts.proxy}
    elif topo is not None:
        try:
            endpoints = resolve_endpoints(topo)
        except TopologyError:
            endpoints = None  # no running cluster known: work offline

    proxy_key: bytes | None = None
    if topo is not None and topo.cluster.security == "curve":
        try:
            proxy_key = load_public(topo.keys_dir, proxy_name())
        except KeysMissing:
            endpoints = None  # no key to reach a secured proxy with: work offline

    def make(eps: dict[str, str] | None) -> ClientSession:
        session = ClientSession(
            opts.client_id,
            opts.store or Path("var/clients") / opts.client_id,
            eps,
            client_timeout_s=cluster.client_timeout_s if cluster else 2.0,
            connect_timeout_s=cluster.connect_timeout_s if cluster else 0.5,
            tracer=Tracer(
                cluster.trace_level, cluster.trace_sample_rate, cluster.log_level == "DEBUG"
            )
            if cluster
            else None,
            trace=opts.trace,
            subscribe=subscribe,
            on_update=on_update,
            proxy_key=proxy_key,
        )
        moved = session.store.quarantined
        if moved is not None:
            Console(stderr=True, highlight=False).print(
                f"warning: the local store was damaged; it was kept as {moved}, and a new "
                "one started (lists come back from the cluster on pull or sync; edits "
                "not yet pushed are in the kept file)",
                markup=False,
            )
        session.open()
        return session

    return make(endpoints)


def render_list(state: ShoppingList) -> Table:
    """A list as a table: what is left to buy, what was bought."""
    doc = state.to_json()
    table = Table(title=f"{doc['name'] or '(unnamed)'}  [dim]{doc['id']}  v{doc['version']}[/dim]")
    for column in ("item", "to buy", "needed", "bought", ""):
        table.add_column(column)
    for row in doc["list"]:
        table.add_row(
            row["id"],
            str(row["quantity"]),
            str(row["needed"]),
            str(row["bought"]),
            "[green]done[/green]" if row["acquired"] else "",
        )
    return table


def parse_quantity(text: str) -> int:
    """A quantity typed by a person.

    Raises:
        ValueError: the one message for every bad quantity (not a whole
            number, below 1 or above the limit), wherever it was typed.
    """
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_QUANTITY:
        raise ValueError(f"a quantity is a whole number from 1 to {MAX_QUANTITY}, got {text!r}")
    return int(value)


def resolve_list(session: ClientSession, ref: str, *, pulling: bool = False) -> str:
    """The id of the list ``ref`` names: a full id, a unique prefix of the id
    of a list held here, or the name of one when no other list here has it.

    Raises:
        ValueError: several lists here match (the message names each, id and name).
        UnknownList: none does; with ``pulling``, the message says that a list
            not held here needs its full id or an invite link.
    """
    found = session.store.matches(ref)
    if len(found) == 1:
        return found[0][0]
    if found:
        named = "; ".join(f"{list_id} {name!r}" for list_id, name in found)
        raise ValueError(f"{ref!r} names {len(found)} lists here: {named}; give more of the id")
    if pulling:
        raise UnknownList(
            ref,
            f"unknown list {ref!r}: a list not held here needs its full id (36 characters) "
            "or an invite link (`join LINK`)",
        )
    raise UnknownList(
        ref, f"unknown list {ref!r}: no list held here has that id, id prefix or name (see `lists`)"
    )


def unknown_message(exc: UnknownList) -> str:
    """What to say of an unknown list: the resolver's sentence, or the list's id."""
    if len(exc.args) > 1:
        return str(exc.args[1])
    return f"unknown list {exc.args[0] if exc.args else ''}"


def unreachable_message(session: ClientSession) -> str:
    """The one message for a cluster this session could not reach."""
    endpoints = session.endpoints
    return unreachable(endpoints["frontend"] if endpoints else None)
