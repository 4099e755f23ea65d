"""The bundled CoffeeStudio playbook validates and covers the runbook's scenarios."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli.app import cli
from engine.core.planning import plan_run
from inventory import Inventory
from tests.support.fixtures import REPO

PLAYBOOK = REPO / "playbooks" / "coffeestudio.yml"


def test_the_bundled_playbook_validates() -> None:
    result = CliRunner().invoke(cli, ["validate", str(PLAYBOOK)])
    assert result.exit_code == 0, result.output
    assert "valid (18 nodes" in result.output


def test_every_runbook_scenario_has_its_check_type() -> None:
    plan = plan_run(PLAYBOOK, Inventory.localhost())
    types = {key.node: spec.check.type_key for key, spec in plan.specs.items()}
    assert types["postgres"] == "docker_command"  # Datenbank-Verbindungsfehler: pg_isready
    assert types["backend"] == "http"  # Backend startet nicht: /health
    assert types["worker"] == "celery_worker"  # Celery-Worker verarbeitet keine Tasks
    assert types["memory_backend"] == "docker_container"  # Hohe Memory-Nutzung
    assert types["backend_cors"] == types["jwt_secret"] == "docker_env"  # CORS, Security Checks
    assert types["backend_errors"] == types["backend_latency"] == "metrics"  # SLOs


def test_purging_the_queue_is_the_only_destructive_step_and_is_marked() -> None:
    plan = plan_run(PLAYBOOK, Inventory.localhost())
    destructive = [
        (key.node, step.action.type_key, step.destructive)
        for key, spec in plan.specs.items()
        for step in spec.remediate
        if step.action.is_destructive()
    ]
    assert destructive == [("worker_queue", "celery_purge", True)]
