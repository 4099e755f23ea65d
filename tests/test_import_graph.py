"""The architecture as the import graph shows it: no module imports another that imports it
back, and the rooms keep their rules. Imports inside functions and under TYPE_CHECKING count:
a cycle closed by a late import is still a cycle to a reader."""

from __future__ import annotations

import graphlib

import pytest

from tests.support.import_graph import imports


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
    ("engine.fleet", ("engine.cli", "engine.web", "engine.lab", "engine.compose")),
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
