"""No source module can turn bytes into code: no pickle, no marshal, no eval.

The scan reads the token stream of every module, so a mention in a comment
or docstring ("nothing here uses pickle") is fine, while any use of the
names, including ``import pickle as p``, ``builtins.eval`` or
``__import__("marshal")``, is not.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actors", "supervisor", "protocol", "crdt", "ring", "logs")
FORBIDDEN_NAMES = frozenset(
    {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "marshal", "eval"}
)
FORBIDDEN_STRINGS = frozenset(
    f"{quote}{name}{quote}" for name in FORBIDDEN_NAMES for quote in "'\""
)


def source_files() -> list[Path]:
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    run = ROOT / "run.py"
    return [*files, run] if run.exists() else files


def offences(source: str) -> list[str]:
    """``line: token`` for each forbidden name, or forbidden module name in a string."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if (token.type == tokenize.NAME and token.string in FORBIDDEN_NAMES) or (
            token.type == tokenize.STRING and token.string in FORBIDDEN_STRINGS
        ):
            found.append(f"{token.start[0]}: {token.string}")
    return found


def test_the_scan_sees_the_source_packages() -> None:
    scanned = {path.relative_to(ROOT).parts[0] for path in source_files()}
    assert {"protocol", "ring", "logs", "crdt"} <= scanned


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pickle\n", ["1: pickle"]),
        ("from marshal import loads\n", ["1: marshal"]),
        ("import json\nimport pickle as p\n", ["2: pickle"]),
        ("x = eval('1')\n", ["1: eval"]),
        ("import builtins\nbuiltins.eval('1')\n", ["2: eval"]),
        ("m = __import__('marshal')\n", ["1: 'marshal'"]),
        ('"""Nothing here uses pickle, marshal or eval."""\n# no pickle\n', []),
        ("evaluate = pickled = 1\n", []),
    ],
)
def test_the_scan_flags_uses_not_mentions(source: str, expected: list[str]) -> None:
    assert expected == offences(source)


@pytest.mark.parametrize("path", source_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_source_module_does_not_use_pickle_marshal_or_eval(path: Path) -> None:
    assert [] == offences(path.read_text(encoding="utf-8"))
