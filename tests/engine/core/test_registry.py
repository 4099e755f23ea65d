"""The type registry: every built-in key is found, and only the modules a playbook uses load."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import checks
import remediations
from engine.core.registry import ACTION_TYPES, CHECK_TYPES, TypeRegistry


@pytest.mark.parametrize(("registry", "package"), [(CHECK_TYPES, checks), (ACTION_TYPES, remediations)])
def test_the_module_index_lists_exactly_the_types_the_modules_register(
    registry: TypeRegistry[type], package: object
) -> None:
    declared: dict[str, str] = {}
    for module in pkgutil.iter_modules(package.__path__):  # type: ignore[attr-defined]
        imported = importlib.import_module(f"{package.__name__}.{module.name}")  # type: ignore[attr-defined]
        for value in vars(imported).values():
            key = getattr(value, "type_key", "")
            if isinstance(value, type) and key and value.__module__ == imported.__name__:
                declared[key] = module.name
    assert declared == package.MODULES  # type: ignore[attr-defined]
    assert all(registry[key].type_key == key for key in declared)


def test_a_playbook_loads_only_the_type_modules_it_uses(tmp_path) -> None:
    playbook = tmp_path / "p.yml"
    playbook.write_text('name: p\nchecks:\n  a: {tcp: {port: 1}, remediate: [{command: {cmd: "true"}}]}\n')
    code = (
        "import sys; from engine.core.planning import plan_run; from inventory import Inventory; "
        f"plan_run({str(playbook)!r}, Inventory.localhost()); "
        "print(sorted(m for m in sys.modules if m.startswith(('checks.', 'remediations.'))))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "['checks.base', 'checks.tcp', 'remediations.base', 'remediations.command']"


def test_one_registration_can_serve_several_keys_and_its_type_key_is_the_first() -> None:
    registry: TypeRegistry[object] = TypeRegistry("transport", "engine.transports")

    @registry.register("first", "second")
    def factory() -> None:
        """A factory known under two keys."""

    assert registry["first"] is factory and registry["second"] is factory
    assert factory.type_key == "first"  # type: ignore[attr-defined]


def test_an_alias_already_registered_is_refused_and_nothing_is_registered() -> None:
    registry: TypeRegistry[object] = TypeRegistry("transport", "engine.transports")
    registry.register("taken")(lambda: None)
    with pytest.raises(ValueError, match="transport type 'taken' is registered twice"):
        registry.register("fresh", "taken")(lambda: None)
    assert "fresh" not in registry
