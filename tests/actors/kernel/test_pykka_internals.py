"""Drift check: the private pykka code that ``actors/kernel/runtime.py`` builds on.

The hosted runtime subclasses ``pykka.Actor`` as pykka's own actor types do:
it calls, overrides or copies private methods and imports private names.
pyproject.toml pins pykka exactly; this file records a sha256 of the code of
every private piece the runtime depends on (its source, less docstrings and
blank lines), so that a new pykka fails here, naming what to re-check in
runtime.py, before anything misbehaves.

To bump pykka: change the pin, re-read each changed piece against runtime.py
(and run test_pykka_suite.py), then record the new version and hashes here.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import re
import textwrap
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"

#: The pykka release the hashes below were recorded from.
RECORDED_VERSION = "4.5.0"


@dataclass(frozen=True)
class Watched:
    """One piece of pykka: ``module:qualified.name``, its source's sha256, and
    what in runtime.py relies on it."""

    target: str
    sha256: str
    recheck: str


WATCHED = [
    Watched(
        "pykka._envelope:Envelope",
        "027ad5a40eb0e515aa40b95e0ec277bb2a86f40f9cd4f1dc3e6fc5781cb60c08",
        "HostedInbox.put/get (message, reply_to; an ask is an envelope with a reply_to)",
    ),
    Watched(
        "pykka.messages:_ActorStop",
        "935bcf13467a74e0ee0caa74fcc6cabf7f5b13ad4d3f02353c82c5d31f7f9e6d",
        "HostedActor._host_run (tells it to every actor on a BaseException)",
    ),
    Watched(
        "pykka._actor:ActorInbox",
        "ec06b22a9df215541f54495a41e550d0217487470acef803014f07b147bd415d",
        "HostedInbox (implements this protocol: put, get, empty)",
    ),
    Watched(
        "pykka._actor:Actor.__init__",
        "4ba7fe4453fe3e5cdb384471af13a6a598b71a596dab58ec6b9d058cac01fef5",
        "HostedActor._create_actor_inbox and the actor_inbox/actor_stopped the host reads",
    ),
    Watched(
        "pykka._actor:Actor.start",
        "b712df531876a68af2a7dcfb5f80c6a0fe3b89c035610280c232780f027f3ab1",
        "HostedActor._start_actor_loop (the actor is registered first; a refused one unregisters)",
    ),
    Watched(
        "pykka._actor:Actor.stop",
        "9cb5225faaa21a3bbb2eeaff41237db23aafede9637d88e3d8cdf3a16e1df964",
        "the module contract: an actor's stop() of itself is a tell, allowed on the host thread",
    ),
    Watched(
        "pykka._actor:Actor._stop",
        "0c44a11da5d459069970e94e3c1bd55c37c6cd4ccc4b6f3eb961d0a25f2e89db",
        "ActorHost.stop_all and HostedActor._host_run (call it)",
    ),
    Watched(
        "pykka._actor:Actor._actor_loop",
        "04bc3128e64daebeaae5be8388f9a2da79a3969cc388e9bc8d4a790691c4145c",
        "ActorHost.run, HostedActor._host_setup/_host_round (setup, running, teardown, per round)",
    ),
    Watched(
        "pykka._actor:Actor._actor_loop_setup",
        "fbbff613e96f107a0f0168dcf816ba92dddf7c2b98cbe65b6d049a7ce9d33c91",
        "HostedActor._host_setup (calls it)",
    ),
    Watched(
        "pykka._actor:Actor._actor_loop_running",
        "8497c4553e0c3a9fdb83e472c933d2a2884e75f6e3dc763f1b24a51b0b4256ce",
        "HostedActor._host_run (a copy of its loop body: handling, logging, BaseException)",
    ),
    Watched(
        "pykka._actor:Actor._actor_loop_teardown",
        "751387fa26acbd108843ed0ca3f1fc13f1cd6f577fd353ecd7936b6928e15edb",
        "HostedActor._host_round/_host_handle_message and ActorHost.stop_all (call it)",
    ),
    Watched(
        "pykka._actor:Actor._handle_failure",
        "f67e72192b72f8f1991b9d0c12471c90939adecafc14b6e147bc0c311e60bcc3",
        "HostedActor._host_run (calls it)",
    ),
    Watched(
        "pykka._actor:Actor._handle_receive",
        "a02afc90448d3547f2de5e498d30472e975f482f6bd74f899516637a02e7b6d7",
        "HostedActor._host_run (calls it; _ActorStop stops the actor)",
    ),
    Watched(
        "pykka._actor:Actor._create_actor_inbox",
        "01bbe56dc36113d87fae96c9e98d5608f0fa707bcebeb9ce80b0ec77aa1c3abf",
        "HostedActor._create_actor_inbox (overrides it)",
    ),
    Watched(
        "pykka._actor:Actor._create_future",
        "b7fd6c17473b10b58e9f1598f27eb97f0bccbe8b69937dbd7a6081e42aa29a74",
        "HostedActor._create_future (overrides it)",
    ),
    Watched(
        "pykka._actor:Actor._start_actor_loop",
        "22c9845a178fe793718a2a81ce88045db0398dc3257c655d700fe41d24d8f2fa",
        "HostedActor._start_actor_loop (overrides it)",
    ),
    Watched(
        "pykka._threading:ThreadingActor",
        "9df67e5fa5c67db8805ec993b0be9f8740b240148bd06d73d65c5d5891b8e8a6",
        "HostedActor's overrides (pykka's own actor type, which they mirror)",
    ),
    Watched(
        "pykka._ref:ActorRef.__init__",
        "d36a6846ccb3622c58a678462e6152997b54882f8fc5f8eeb1a8d6b8801ac078",
        "ActorHost.tell (reads ref.actor_inbox)",
    ),
    Watched(
        "pykka._ref:ActorRef.tell",
        "398e2b1fdd7ea39c8fd0830e9c7480e29712596993e28f9eaeacce3b617dd283",
        "HostedInbox.put (a tell is an envelope without a reply_to)",
    ),
    Watched(
        "pykka._ref:ActorRef.ask",
        "bb077e706fbc01bb1098180aac88b2443450d869ca550d034967bca5e4031243",
        "HostedInbox.put (an ask puts an envelope with a reply_to: refused on the host thread)",
    ),
    Watched(
        "pykka._ref:ActorRef.stop",
        "bc531905ebd1e6b28e7cd57b79e4b8b91c416db84f743b0aad7116cf87d5e643",
        "HostedInbox.put and the module contract (ref.stop() is an ask)",
    ),
]


def resolve(target: str) -> object:
    module_name, _, qualname = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def code_of(target: str) -> str:
    """The source of ``target`` without its docstrings (those of the attributes
    too) and blank lines: the text as written, the same on every Python."""
    lines = textwrap.dedent(inspect.getsource(resolve(target))).splitlines()
    strings: set[int] = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        for statement in getattr(node, "body", None) or []:
            if is_string_statement(statement):
                strings.update(range(statement.lineno, (statement.end_lineno or 0) + 1))
    return "\n".join(
        line for n, line in enumerate(lines, start=1) if n not in strings and line.strip()
    )


def is_string_statement(statement: ast.AST) -> bool:
    """A docstring, or the string documenting an attribute."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def source_sha256(target: str) -> str:
    return hashlib.sha256(code_of(target).encode()).hexdigest()


def pinned_version() -> str:
    with PYPROJECT.open("rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    pins = [m.group(1) for d in dependencies if (m := re.fullmatch(r"pykka==([\w.]+)", d))]
    assert 1 == len(pins), f"pyproject.toml must pin pykka exactly (pykka==X.Y.Z): {dependencies}"
    return pins[0]


def test_installed_pykka_is_the_pinned_release_the_hashes_were_recorded_from() -> None:
    installed, pinned = version("pykka"), pinned_version()
    assert pinned == installed, (
        f"pykka {installed} is installed, but pyproject.toml pins {pinned}: reinstall"
    )
    assert RECORDED_VERSION == pinned, (
        f"pyproject.toml pins pykka {pinned}, the hashes here are of {RECORDED_VERSION}:"
        " re-check actors/kernel/runtime.py against the new release (the hash checks in this"
        " file say where), run test_pykka_suite.py, then record the new version and hashes here"
    )


@pytest.mark.parametrize("watched", WATCHED, ids=[w.target for w in WATCHED])
def test_private_pykka_code_the_runtime_builds_on_is_unchanged(watched: Watched) -> None:
    try:
        actual = source_sha256(watched.target)
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"pykka no longer has {watched.target} ({exc!r}): re-check {watched.recheck}"
            " in actors/kernel/runtime.py"
        )
    assert watched.sha256 == actual, (
        f"pykka's {watched.target} changed (sha256 now {actual}): re-check {watched.recheck}"
        " in actors/kernel/runtime.py, then record the new hash in this file"
    )
