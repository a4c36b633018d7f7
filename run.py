"""Command line of shoplist.

``python run.py demo`` shows two offline replicas of a list converging.
The cluster commands arrive with the cluster itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

from crdt import ShoppingList


def demo() -> int:
    """Two shoppers edit one list offline; their copies merge without losing work."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="shoplist")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="show two offline replicas converging")
    args = parser.parse_args(argv)
    if args.command not in (None, "demo"):
        parser.error(f"unknown command {args.command}")
    return demo()


if __name__ == "__main__":
    sys.exit(main())
