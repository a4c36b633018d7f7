"""shoplist's command line.

``python run.py [--attach]``               start the default topology and open the menu
                                           ($SHOPLIST_TOPOLOGY names another default);
                                           --attach: the menu on the one already running
``python run.py cluster TOPOLOGY [--host H]`` run a topology's processes (on host H)
``python run.py stop [TOPOLOGY]``           stop the cluster of a topology running here
``python run.py client --id NAME ... CMD``  one client command (see ``--help``)
``python run.py status``                    processes, ring members, joiners, probe results
``python run.py keys TOPOLOGY [--host H]``   make the CurveZMQ key files a topology lacks
``python run.py trace TRACE_ID``            the hops of one request, from every log
``python run.py bench [--json] ...``        benchmark a fresh cluster against the raw baseline
``python run.py demo``                      two offline replicas converging, no cluster

Exit codes of the operator modes: 0 done, 2 bad input or a cluster of that
topology already running (or its ports taken), 3 nothing found (``trace``),
4 no cluster running or answering. No mode prints a traceback: an
unexpected error is one line (``SHOPLIST_DEBUG=1`` shows the traceback), and
output cut short by its reader (``status --json | head``) ends quietly.
"""

from __future__ import annotations

# Each mode imports what it needs in its own function: `run.py client ...` is
# a short process, mostly Python's start-up, and must not pay for the cluster,
# the menu or the operator tools (nor must the cluster's processes, which
# import this file again as their `__mp_main__`).
import argparse
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.client import ClientOptions

ROOT = Path(__file__).resolve().parent
#: The topology used when none is given; $SHOPLIST_TOPOLOGY overrides it.
DEFAULT_TOPOLOGY = Path(os.environ.get("SHOPLIST_TOPOLOGY") or ROOT / "topologies" / "local.toml")


@contextmanager
def _one_shot_imports() -> Iterator[None]:
    """Import a one-shot command's modules (``client``, ``status``, ``trace``)
    with the cyclic garbage collector off, then freeze what they made.

    Such a command imports some 400 modules, runs for a moment and exits.
    The imports' allocations set off some 80 collections that found almost
    nothing to free, and at exit, with the modules gone, the collector took
    all their classes, functions and dicts as garbage (a module's functions
    and its dict make cycles): from a fresh client's reply to its exit took
    70 - 150 ms on a 2-CPU VM (200 - 270 ms busy), and takes 12 - 17 ms
    (30 - 60) with them frozen (:func:`gc.freeze`): never walked again. What
    the command allocates afterwards is collected as usual, so a long
    ``watch`` or ``shell`` is not affected.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def demo() -> int:
    """Two shoppers edit one list offline; their copies merge without losing work."""
    import json  # noqa: PLC0415
    import uuid  # noqa: PLC0415

    from crdt import ShoppingList  # noqa: PLC0415

    list_id = str(uuid.uuid4())
    alice = ShoppingList(list_id, "alice", "groceries")
    bob = alice.copy(replica_id="bob")
    alice.add("milk", 2)
    bob.add("milk", 2)
    bob.add("eggs", 6)
    alice.remove("milk")
    alice.merge(bob)
    bob.merge(alice)
    print(json.dumps(alice.to_json(), indent=2))
    print("copies equal after merging both ways:", alice == bob)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from supervisor.lifecycle import ClusterBusy  # noqa: PLC0415
    from supervisor.supervisor import Supervisor  # noqa: PLC0415
    from supervisor.topology import TopologyError, load_topology  # noqa: PLC0415

    try:
        topology = load_topology(args.topology)
        if args.host is not None and args.host not in topology.hosts():
            raise TopologyError(f"{args.topology}: no process is placed on host {args.host!r}")
    except TopologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = f" on host {args.host}" if args.host else ""
    supervisor = Supervisor(
        topology, host=args.host, topology_file=args.topology, stop_with_fd=args.stop_with_fd
    )
    try:
        supervisor.claim()
    except ClusterBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"starting cluster {topology.cluster.name!r}{where} (pid {os.getpid()}); Ctrl-C or "
        f"`python run.py stop {args.topology}` stops it",
        flush=True,
    )
    return supervisor.run()


def cmd_stop(args: argparse.Namespace) -> int:
    from ui.operator import stop  # noqa: PLC0415

    return stop(args.topology or str(DEFAULT_TOPOLOGY), args.timeout)


def _client_options(args: argparse.Namespace) -> ClientOptions:
    from supervisor.topology import load_topology  # noqa: PLC0415
    from ui.client import ClientOptions  # noqa: PLC0415

    topology, topology_file = None, None
    if args.proxy is None:
        topology_file = Path(args.topology or DEFAULT_TOPOLOGY)
        topology = load_topology(topology_file)
    return ClientOptions(
        client_id=args.id,
        topology=topology,
        topology_file=topology_file,
        proxy=args.proxy,
        store=Path(args.store) if args.store else None,
        json=args.json,
        trace=args.trace,
    )


def _client_id(text: str) -> str:
    """``--id``: a plain name, refused (exit 2) before anything touches the disk."""
    from ui.contract import CLIENT_ID  # noqa: PLC0415

    if CLIENT_ID.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(
            "expected a plain name of at most 64 letters, digits, '-', '_' or '.' "
            f"(not first), got {text!r}"
        )
    return text


def _client_usage(args: argparse.Namespace) -> int | None:
    """No command, or a command's own ``--help``: answered without the client.

    No command is a usage error (exit 2, the commands listed on stderr): a
    script that forgot its command must not pass for one that succeeded.
    """
    from ui.contract import EXIT_OK, EXIT_USAGE, command_help, commands_overview  # noqa: PLC0415

    if args.command is None:
        print(f"error: a command is needed\n\n{commands_overview()}", file=sys.stderr)
        return EXIT_USAGE
    if args.args[:1] in (["-h"], ["--help"]):
        print(command_help(args.command))
        return EXIT_OK
    return None


def cmd_client(args: argparse.Namespace) -> int:
    answered = _client_usage(args)
    if answered is not None:
        return answered
    with _one_shot_imports():
        from supervisor.topology import TopologyError  # noqa: PLC0415
        from ui.cli import EXIT_USAGE, run_client  # noqa: PLC0415

    try:
        opts = _client_options(args)
    except TopologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_client(opts, args.command, args.args)


def cmd_status(args: argparse.Namespace) -> int:
    with _one_shot_imports():
        from ui.operator import status  # noqa: PLC0415

    return status(args.topology or DEFAULT_TOPOLOGY, args.proxy, args.json, args.ranges)


def cmd_keys(args: argparse.Namespace) -> int:
    """Make the CurveZMQ key files a topology lacks (with ``--host``: of its processes)."""
    from supervisor.keys import ensure_keys, key_names  # noqa: PLC0415
    from supervisor.topology import TopologyError, load_topology  # noqa: PLC0415

    try:
        topology = load_topology(args.topology)
    except TopologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    names = key_names(topology, args.host)
    made = ensure_keys(topology.keys_dir, names)
    for name in names:
        print(f"{'made' if name in made else 'kept'} {topology.keys_dir / name}.key(_secret)")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    with _one_shot_imports():
        from ui.operator import trace  # noqa: PLC0415

    logs = Path(args.logs) if args.logs is not None else None
    return trace(args.trace_id, args.topology or DEFAULT_TOPOLOGY, logs, args.json, ROOT)


def cmd_bench(argv: list[str]) -> int:
    """``run.py bench [--clients K] [--seconds S] [--read-ratio F] [--json] ...``"""
    sys.path.insert(0, str(ROOT))
    from benchmarks.cluster_bench import main as bench_main  # noqa: PLC0415

    return bench_main(argv)


def cmd_default(args: argparse.Namespace) -> int:
    """Start the default topology in the background, open the menu, stop it
    on exit (or, ``--attach``, open the menu on the one running here)."""
    from ui.launch import run_default  # noqa: PLC0415

    return run_default(DEFAULT_TOPOLOGY, [sys.executable, str(ROOT / "run.py")], args.attach)


def build_parser() -> argparse.ArgumentParser:
    # Plain data only: parsing (and --help, and a usage error) needs no client.
    from ui.contract import COMMANDS, commands_overview  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="run.py", description="shoplist: local-first shopping lists on a replicated cluster"
    )
    parser.add_argument(
        "--attach",
        action="store_true",
        help="(no mode) open the menu on the default topology's running cluster; leave it running",
    )
    sub = parser.add_subparsers(dest="mode")

    p = sub.add_parser("cluster", help="run a topology's processes under the supervisor")
    p.add_argument("topology", help="topology TOML file")
    p.add_argument("--host", help="start only the processes placed on this host")
    # `python run.py`'s own: stop when this pipe closes (see Supervisor).
    p.add_argument("--stop-with-fd", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser(
        "client",
        help="one client command",
        description="One client command on the lists held here, synced with the cluster.",
        epilog=commands_overview(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--id",
        required=True,
        type=_client_id,
        help="client id, a plain name (letters, digits, - _ .); names its local store",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--topology", help=f"topology file (default {DEFAULT_TOPOLOGY.name})")
    where.add_argument("--proxy", help="the proxy's frontend endpoint, e.g. tcp://host:5550")
    p.add_argument("--store", help="local store folder (default var/clients/ID)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trace", action="store_true", help="trace this command's requests")
    p.add_argument("command", nargs="?", choices=COMMANDS, metavar="COMMAND", help="see below")
    # The rest is the command's own (its options too: share LIST --with KEY).
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    p.set_defaults(func=cmd_client)

    p = sub.add_parser("status", help="ring members, joiners and probe results")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--topology")
    where.add_argument("--proxy")
    p.add_argument("--json", action="store_true")
    p.add_argument("--ranges", type=int, default=2, help="key ranges shown per server")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("stop", help="stop the cluster of a topology that runs on this machine")
    p.add_argument("topology", nargs="?", help=f"topology file (default {DEFAULT_TOPOLOGY.name})")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds before SIGKILL")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("keys", help="make the CurveZMQ key files a topology lacks")
    p.add_argument("topology", help="topology TOML file")
    p.add_argument("--host", help="only the keys of the processes placed on this host")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("trace", help="the hops of one request, from every process's log")
    p.add_argument("trace_id")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--topology", help="whose log folder (default the default topology's)")
    where.add_argument("--logs", help="folder searched for *.jsonl logs instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_trace)

    # Its options are parsed by benchmarks/cluster_bench.py (see main below).
    sub.add_parser("bench", help="benchmark a fresh cluster against the raw baseline")

    p = sub.add_parser("demo", help="two offline replicas converging, no cluster")
    p.set_defaults(func=lambda _a: demo())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one mode; its exit code. No traceback reaches a person: output
    cut short by its reader (a broken pipe) ends quietly with 1, an
    unexpected error prints one line and gives 70 (``SHOPLIST_DEBUG=1``
    raises it instead, traceback and all)."""
    try:
        code = _dispatch(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # here, so that a reader gone early is caught here
    except BrokenPipeError:
        # The standard way (Python's signal docs): no more output, no
        # second error when the interpreter flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("SHOPLIST_DEBUG"):
            raise
        name = type(exc).__name__
        print(f"error: unexpected {name}: {exc} (SHOPLIST_DEBUG=1 shows where)", file=sys.stderr)
        return 70
    return code


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode is None:
        return cmd_default(args)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
