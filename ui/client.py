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
    UpdateCallback,
)
from crdt import ShoppingList
from logs import Tracer
from supervisor.endpoints import resolve_endpoints
from supervisor.keys import KeysMissing, load_public, proxy_name
from supervisor.topology import Topology, TopologyError

__all__ = ["ClientOptions", "open_session", "render_list"]


@dataclass(frozen=True)
class ClientOptions:
    client_id: str
    topology: Topology | None = None
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
