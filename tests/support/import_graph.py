"""The project's import graph, read from its source: each module and the project modules it
imports. Shared by the architecture tests (tests/test_import_graph.py and the rooms' own)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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

    Parsed in a process of its own: CPython 3.11 before 3.11.8 raises "AST constructor
    recursion depth mismatch" from ast.parse after a RecursionError (as the template tests
    provoke on purpose) or beside another thread's parse, and a thread of its own did not
    escape it in CI."""
    found = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())], capture_output=True, text=True, check=True, timeout=120
    )
    return {name: frozenset(targets) for name, targets in json.loads(found.stdout).items()}


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


if __name__ == "__main__":
    print(json.dumps({name: sorted(targets) for name, targets in _scan().items()}))
