"""The bundled CoffeeStudio playbook as the runbook reads: its nodes, order of fixes,
severities and variables. (Healing the real stack is `tests/engine/lab/`.)"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from click.testing import CliRunner

from engine.cli.app import cli
from engine.core.graph import NodeKey
from engine.core.planning import RunPlan, plan_run
from engine.playbook.models import NodeSpec
from inventory import Inventory
from playbooks import DEFAULT_PLAYBOOK
from tests.support.fixtures import FIXTURES

REPORT_ONLY = {"backend_latency", "backend_errors", "backend_cors", "frontend_api_url", "jwt_secret"}


def plan(**extra_vars: Any) -> RunPlan:
    if not extra_vars:
        return _default_plan()
    return plan_run(DEFAULT_PLAYBOOK, Inventory.localhost(), extra_vars=extra_vars)


@cache
def _default_plan() -> RunPlan:
    return plan_run(DEFAULT_PLAYBOOK, Inventory.localhost())


def node(name: str) -> NodeSpec:
    return plan().specs[NodeKey("localhost", name)]


def actions(name: str) -> list[str]:
    return [step.action.type_key for step in node(name).remediate]


def test_validates_without_extra_vars() -> None:
    result = CliRunner().invoke(cli, ["validate", str(DEFAULT_PLAYBOOK)])
    assert result.exit_code == 0, result.output


def test_has_a_node_for_everything_the_runbook_checks() -> None:
    assert {key.node for key in plan().specs} == {
        "postgres", "redis", "backend", "backend_latency", "backend_errors", "frontend",
        "backend_cors", "frontend_api_url", "worker", "worker_queue", "beat", "jwt_secret",
        "memory_postgres", "memory_redis", "memory_backend", "memory_worker", "memory_beat",
        "memory_frontend",
    }  # fmt: skip


def test_stack_is_wired_as_compose_wires_it() -> None:
    graph = plan().graph
    assert sorted(k.node for k in graph.predecessors(NodeKey("localhost", "backend"))) == [
        "postgres",
        "redis",
    ]
    assert sorted(k.node for k in graph.predecessors(NodeKey("localhost", "worker"))) == ["backend", "redis"]
    assert sorted(k.node for k in graph.predecessors(NodeKey("localhost", "frontend"))) == ["backend"]


def test_backend_fixes_follow_the_runbook_order() -> None:
    assert actions("backend") == [
        "docker_exec", "docker_logs", "docker_restart", "wait", "compose", "wait", "docker_rollback", "wait"
    ]  # fmt: skip
    rebuild = node("backend").remediate[4].action
    assert rebuild.describe() == "cd . && docker compose -p coffeestudio up -d --build backend"


@pytest.mark.parametrize("name", ["backend", "frontend", "worker"])
def test_the_ladder_of_a_service_down_ends_with_its_rollback_and_a_wait(name: str) -> None:
    *_, rollback, wait = node(name).remediate
    assert (rollback.action.type_key, rollback.action.service, wait.action.type_key) == (  # type: ignore[attr-defined]
        "docker_rollback",
        name,
        "wait",
    )


def test_migration_step_is_skipped_when_alembic_is_at_head() -> None:
    step = node("backend").remediate[0]
    assert step.unless is not None
    assert step.unless.type_key == "docker_command"
    assert step.ignore_errors  # a crashed backend cannot run alembic: the restart comes next


def test_postgres_restart_waits_the_runbooks_30_seconds() -> None:
    wait = node("postgres").remediate[1].action
    assert wait.describe().startswith("wait up to 30s for the check to pass")


@pytest.mark.parametrize("name", ["postgres", "redis", "backend", "frontend", "worker"])
def test_every_wait_watches_the_container_of_the_service_it_waits_for(name: str) -> None:
    waits = [s.action for s in node(name).remediate if s.action.type_key == "wait"]
    assert waits and {w.watched().label() for w in waits} == {f"coffeestudio/{name}"}  # type: ignore[attr-defined]


def test_backend_restarts_after_its_database_recovers() -> None:
    assert node("backend").on_upstream_recovery == "restart"


def test_queue_purge_is_destructive_and_last() -> None:
    purge = node("worker_queue").remediate[-1]
    assert purge.action.type_key == "celery_purge"
    assert purge.destructive
    assert purge.action.is_destructive()


def test_worker_fix_restarts_the_worker_then_beat() -> None:
    steps = [s.action.describe() for s in node("worker").remediate if s.action.type_key == "docker_restart"]
    assert steps == [
        "docker restart coffeestudio/worker (grace 10s)",
        "docker restart coffeestudio/beat (grace 10s)",
    ]


def test_report_only_nodes_have_no_remediation() -> None:
    for name in REPORT_ONLY:
        assert node(name).remediate == [], name


def test_severities_follow_the_runbooks_escalation() -> None:
    severities = {key.node: spec.severity for key, spec in plan().specs.items()}
    assert {n for n, s in severities.items() if s == "P0"} == {"postgres", "redis", "backend", "frontend"}
    assert severities["jwt_secret"] == "P1"
    assert severities["beat"] == "P2"


def test_memory_fix_sets_the_runbooks_limits_by_default() -> None:
    update = node("memory_backend").remediate[0].action
    assert update.describe() == "docker update --memory 1g --memory-reservation 512m coffeestudio/backend"


def test_project_and_ports_are_variables() -> None:
    specs = plan(project="shop", backend_port=18000).specs
    backend = specs[NodeKey("localhost", "backend")]
    assert backend.check.url == "http://127.0.0.1:18000/health"  # type: ignore[attr-defined]
    for key, spec in specs.items():
        for ref in [spec.check, *(step.action for step in spec.remediate)]:
            if getattr(ref, "service", None) is not None:
                assert ref.project == "shop", key  # type: ignore[attr-defined]


def test_slo_thresholds_are_the_runbooks() -> None:
    assert node("backend_latency").check.max == 0.5  # type: ignore[attr-defined]
    assert node("backend_errors").check.max == 0.01  # type: ignore[attr-defined]


GOLDEN = FIXTURES / "playbooks" / "coffeestudio_expanded.json"


def _typed(model: Any) -> dict[str, Any] | None:
    """A check or action as data, with the module key it was written under."""
    return None if model is None else {"type": model.type_key, **model.model_dump(mode="json")}


def expansion(run_plan: RunPlan) -> dict[str, Any]:
    """Every node of a plan as it will run, in run order: its check, steps and common fields."""
    nodes: dict[str, Any] = {}
    for key in run_plan.order():
        spec = run_plan.specs[key]
        steps = [
            {**step.model_dump(mode="json"), "action": _typed(step.action), "unless": _typed(step.unless)}
            for step in spec.remediate
        ]
        nodes[key.node] = {**spec.model_dump(mode="json"), "check": _typed(spec.check), "remediate": steps}
    return nodes


def test_expands_to_the_nodes_checks_and_steps_it_had_before_defaults_and_loops() -> None:
    # The golden file is the expansion of the playbook as written before it used `defaults:`
    # and `loop:`; state history is keyed by node name, so names and behaviour must not move.
    assert expansion(plan()) == json.loads(GOLDEN.read_text())


def test_the_schema_accepts_the_bundled_playbook() -> None:
    import jsonschema
    from ruamel.yaml import YAML

    from engine.playbook.schema import playbook_schema

    jsonschema.validate(YAML(typ="safe").load(DEFAULT_PLAYBOOK.read_text()), playbook_schema())


def test_the_runbooks_three_alerts_start_runs_of_their_nodes() -> None:

    settings = plan_run(DEFAULT_PLAYBOOK, Inventory.localhost()).settings
    assert settings is not None
    assert {route.match["alertname"]: route.nodes for route in settings.alerts} == {
        "ServiceDown": ["backend"],
        "HighErrorRate": ["backend_errors"],
        "HighLatency": ["backend_latency"],
    }
