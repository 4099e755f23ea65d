"""The type author's kit: one import gives a check or action module what it needs."""

from __future__ import annotations

import engine.kit
from engine.core.registry import action_type, check_type
from engine.core.results import CheckResult
from tests.support.import_graph import imports


def test_the_kit_exports_exactly_its_documented_names() -> None:
    assert sorted(engine.kit.__all__) == [
        "ActionContext",
        "ActionResult",
        "ActionStatus",
        "CheckResult",
        "Duration",
        "Health",
        "HealthyVersion",
        "ProbeContext",
        "Regex",
        "SecretError",
        "TransportError",
        "action_type",
        "alembic_revision",
        "check_type",
        "is_secret_key",
        "read_secret",
        "tail",
        "tail_line",
        "user_regex",
        "valid_regex",
    ]


def test_the_kit_hands_out_the_engine_objects_themselves() -> None:
    # Not copies: a type registered through the kit is registered with the engine.
    assert engine.kit.check_type is check_type
    assert engine.kit.action_type is action_type
    assert engine.kit.CheckResult is CheckResult


def test_every_built_in_type_module_imports_the_engine_through_the_kit() -> None:
    allowed_prefixes = ("engine.kit", "engine.errors", "engine.clients", "engine.transports", "checks", "remediations")
    base_modules = {"checks.base", "remediations.base"}  # the bases sit below the kit
    offenders = {
        name: sorted(t for t in targets if not t.startswith(allowed_prefixes))
        for name, targets in imports().items()
        if name.startswith(("checks.", "remediations.")) and name not in base_modules
    }
    assert {name: targets for name, targets in offenders.items() if targets} == {}
