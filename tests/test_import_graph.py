"""The architecture as the import graph shows it: no module imports another that imports it
back, and the rooms keep their rules. Imports inside functions and under TYPE_CHECKING count:
a cycle closed by a late import is still a cycle to a reader."""

from __future__ import annotations

import ast
import graphlib
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "checks", "remediations", "inventory")


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@cache
def imports() -> dict[str, frozenset[str]]:
    """Each project module and the project modules it imports (the longest known prefix of
    each imported name: `from engine.core import node` imports `engine.core.node`).

    Parsed in a thread of its own: CPython 3.11 before 3.11.8 raises "AST constructor
    recursion depth mismatch" from ast.parse in a thread that once recovered from a
    RecursionError (as the template tests provoke on purpose)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_scan).result()


def _scan() -> dict[str, frozenset[str]]:
    known = modules()
    graph: dict[str, frozenset[str]] = {}
    for name, path in known.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in known:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        graph[name] = frozenset(targets)
    return graph


def importers_of(prefix: str) -> dict[str, set[str]]:
    return {
        name: {t for t in targets if t == prefix or t.startswith(prefix + ".")}
        for name, targets in imports().items()
    }


def test_the_project_has_no_import_cycle() -> None:
    try:
        graphlib.TopologicalSorter(imports()).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_the_error_tree_is_a_leaf() -> None:
    assert imports()["engine.errors"] <= {"engine", "engine.exit_codes"}


OUTER = ("engine.cli", "engine.unattended", "engine.lab", "engine.compose", "engine.web")

# (room, rooms it never imports): the rules each package's docstring states.
RULES = [
    ("engine.core", OUTER),
    ("engine.playbook", (*OUTER, "engine.core.runner", "engine.core.node", "engine.transports")),
    ("engine.output", ("engine.cli", "engine.unattended")),
    ("engine.secrets", ("engine.core", "engine.playbook", "engine.output", "engine.transports", *OUTER)),
    ("engine.transports", (*OUTER, "checks", "remediations")),
    ("engine.clients", (*OUTER, "checks", "remediations")),
    ("engine.unattended", ("engine.cli", "engine.web")),
    ("engine.web", ("engine.cli", "engine.lab", "engine.compose", "engine.unattended.daemon")),
    ("checks", ("engine.cli", "engine.unattended")),
    ("remediations", ("engine.cli", "engine.unattended")),
    ("inventory", ("engine.core", "engine.playbook", *OUTER, "checks", "remediations")),
]


def _in(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


@pytest.mark.parametrize(("room", "forbidden"), RULES, ids=[room for room, _ in RULES])
def test_each_room_keeps_its_import_rules(room: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        name: sorted(t for t in targets if any(_in(t, f) for f in forbidden))
        for name, targets in imports().items()
        if _in(name, room)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_nothing_outside_the_command_line_imports_it() -> None:
    importers = {name for name, targets in imports().items() if any(_in(t, "engine.cli") for t in targets)}
    assert {name for name in importers if not _in(name, "engine.cli")} == set()


def test_a_cycle_is_found_when_there_is_one() -> None:
    # The check itself can fail: two modules importing each other are a cycle to graphlib.
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).prepare()
