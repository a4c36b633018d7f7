"""The package layout shows the architecture, and imports keep to it.

Every import in the project's code, at module level or inside a function,
is read with :mod:`ast` (nothing is imported); the rules are the ones
``README.md`` and ``docs/architecture.md`` state.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "supervisor", "ui", "protocol", "crdt", "ring", "logs", "benchmarks")
#: the role sub-packages of ``actors``, each with a public face
ROLES = ("actors.kernel", "actors.proxy", "actors.server", "actors.client")
FACES = (*ROLES, "ui.cli", "ui.menu")
#: what each package may import from the project (pure packages import no actor)
ALLOWED = {
    "crdt": {"crdt", "protocol"},
    "ring": {"ring"},
    "protocol": {"protocol"},
    "logs": {"logs"},
    "actors.kernel": {"actors.kernel", "protocol", "logs"},
    "actors.proxy": {"actors.kernel", "actors.proxy", "protocol", "crdt", "ring", "logs"},
    "actors.server": {"actors.kernel", "actors.server", "protocol", "crdt", "ring", "logs"},
    "actors.client": {"actors.kernel", "actors.client", "protocol", "crdt", "logs"},
    "supervisor": {"supervisor", "actors", "protocol", "logs"},
    "ui": {"ui", "actors.client", "supervisor", "protocol", "crdt", "logs"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {"run": ROOT / "run.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = project_modules()


def imports_of(name: str) -> Iterator[str]:
    """The project modules that module ``name`` imports, anywhere in it."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module; `from pkg import name`, the package
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        yield from (t for t in targets if t in MODULES)


GRAPH = {name: sorted(set(imports_of(name))) for name in MODULES}


def area_of(module: str) -> str:
    """The most specific key of :data:`ALLOWED` that holds ``module``."""
    parts = module.split(".")
    for depth in (2, 1):
        key = ".".join(parts[:depth])
        if key in ALLOWED:
            return key
    return parts[0]


def test_there_are_no_import_cycles() -> None:
    """No module reaches itself through the modules it imports."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in GRAPH[node]:
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert [] == cycles


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_each_package_imports_only_what_it_may(area: str) -> None:
    """Roles never import each other, nothing imports back up into the
    supervisor or the user interfaces, and the pure packages stay pure."""
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if area_of(name) == area
        for target in targets
        if not any(target == ok or target.startswith(ok + ".") for ok in ALLOWED[area])
        and target != "actors"
    )
    assert [] == wrong


def exports_of(face: str) -> list[str]:
    """The names in a face's ``__all__``."""
    for node in ast.parse(MODULES[face].read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in _targets(node)
        ):
            assert node.value is not None
            return list(ast.literal_eval(node.value))
    return []


def test_callers_import_a_sub_package_through_its_face() -> None:
    """Outside a sub-package, code imports its ``__init__`` (or a module the
    face exports by name), not its inner modules."""
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        for target in targets
        for face in FACES
        if target.startswith(face + ".")
        and not (name == face or name.startswith(face + "."))
        and target.removeprefix(face + ".") not in exports_of(face)
    )
    assert [] == wrong


@pytest.mark.parametrize("face", FACES)
def test_every_face_states_what_it_exports(face: str) -> None:
    assert exports_of(face)


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def test_the_layout_test_sees_the_project() -> None:
    """A guard for the tests above: they read every role and find real imports."""
    assert set(FACES) <= set(MODULES)
    assert "actors.kernel" in GRAPH["actors.proxy.actor"]
    assert "supervisor.child" in MODULES
