"""The inventory package reads top-down: the model imports no other inventory module, and no
inventory module imports another that imports it back (imports inside functions count)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import inventory

PACKAGE = Path(inventory.__file__).parent


def _inventory_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[1] for name in names if name.startswith("inventory."))
    return found


def _graph() -> dict[str, set[str]]:
    return {path.stem: _inventory_imports(path) for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def test_the_model_imports_no_other_inventory_module() -> None:
    assert _graph()["model"] == set()


def test_the_inventory_modules_import_each_other_without_a_cycle() -> None:
    order = list(graphlib.TopologicalSorter(_graph()).static_order())
    assert order[0] == "model"
