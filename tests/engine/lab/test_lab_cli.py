"""`remediate lab`: the lab's command line, on the session's lab."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from engine.cli.app import cli
from engine.lab.stack import Lab

pytestmark = pytest.mark.docker


@pytest.mark.parametrize(
    "command", [["lab"], ["lab", "up"], ["lab", "break"], ["lab", "deploy-broken"], ["init"]]
)
def test_lab_and_init_commands_have_help_with_examples(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_break_help_lists_the_runbook_scenarios() -> None:
    output = CliRunner().invoke(cli, ["lab", "break", "--help"]).output
    assert "postgres-stopped" in output
    assert "jwt-secret-short" in output


def test_vars_point_the_playbook_at_the_lab(lab: Lab) -> None:
    result = CliRunner().invoke(cli, ["lab", "vars", "--project", lab.project])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == lab.variables()


def test_status_of_a_healthy_lab_exits_0(lab: Lab) -> None:
    lab.reset()
    result = CliRunner().invoke(cli, ["lab", "status", "--project", lab.project])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [
        word
        for service in ("postgres", "redis", "backend", "worker", "beat", "frontend")
        for word in (service, "ok")
    ]


def test_unknown_scenario_is_refused_with_the_list(lab: Lab) -> None:
    result = CliRunner().invoke(cli, ["lab", "break", "--project", lab.project, "disk-full"])
    assert result.exit_code == 1
    assert "unknown scenario 'disk-full'; scenarios: postgres-stopped, redis-stopped" in result.stderr


def test_commands_on_a_missing_lab_say_how_to_create_it() -> None:
    result = CliRunner().invoke(cli, ["lab", "vars", "--project", "coffeestudio-lab-nonexistent"])
    assert result.exit_code == 1
    assert "run `remediate lab up`" in result.stderr


def test_deploy_broken_refuses_an_unknown_service_with_the_list(lab: Lab) -> None:
    result = CliRunner().invoke(cli, ["lab", "deploy-broken", "--project", lab.project, "api"])
    assert result.exit_code == 1
    assert (
        "unknown service 'api'; services: postgres, redis, backend, worker, beat, frontend" in result.stderr
    )


def test_deploy_broken_after_a_migration_is_refused_for_a_service_that_does_not_migrate(lab: Lab) -> None:
    result = CliRunner().invoke(
        cli, ["lab", "deploy-broken", "--project", lab.project, "--after-migration", "worker"]
    )
    assert result.exit_code == 1
    assert "only the backend migrates the database, not worker" in result.stderr
