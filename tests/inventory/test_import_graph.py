"""The inventory package reads top-down: the model imports no other inventory module, and no
inventory module imports another that imports it back (imports inside functions count)."""

from __future__ import annotations

import graphlib

from tests.support.import_graph import imports


def _inventory_graph() -> dict[str, set[str]]:
    return {
        name.removeprefix("inventory."): {
            t.removeprefix("inventory.") for t in targets if t.startswith("inventory.")
        }
        for name, targets in imports().items()
        if name.startswith("inventory.")
    }


def test_the_model_imports_no_other_inventory_module() -> None:
    assert _inventory_graph()["model"] == set()


def test_the_inventory_modules_import_each_other_without_a_cycle() -> None:
    order = list(graphlib.TopologicalSorter(_inventory_graph()).static_order())
    assert order[0] == "model"
