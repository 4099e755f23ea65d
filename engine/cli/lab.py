"""`remediate lab up|down|break|deploy-broken|status|vars`: a CoffeeStudio-shaped stack to try the engine on.

The lab itself is `engine.lab` (installed with remediate, so this works outside a checkout);
this module is only its command line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

LAB_EXAMPLES = """\b
Examples:
  remediate lab up                                  # build and start, print the playbook vars
  remediate lab up --vars-file lab-vars.json
  remediate run --dry-run -e @lab-vars.json         # the bundled playbook against the lab
  remediate lab break postgres-stopped
  remediate lab break jwt-secret-short cors-mismatch     # two faults at once
  remediate run -e @lab-vars.json                   # heal it
  remediate lab deploy-broken backend               # a bad deploy: restart and rebuild do not help
  remediate lab deploy-broken --after-migration backend   # ...that migrated the database first
  remediate lab status
  remediate lab down
"""


def _project_option(function: Any) -> Any:
    from engine.lab import DEFAULT_PROJECT

    return click.option(
        "--project",
        "-p",
        default=DEFAULT_PROJECT,
        show_default=True,
        help="compose project name of the lab (its containers' labels)",
    )(function)


@click.group(epilog=LAB_EXAMPLES)
def lab() -> None:
    """A CoffeeStudio-shaped stack on the local Docker engine, to break and heal.

    Six containers (postgres, redis, backend, worker, beat, frontend) labelled as docker
    compose labels them, running the host's PostgreSQL, Redis and Python (bind-mounted
    read-only), ports published on 127.0.0.1. Needs a Docker engine, PostgreSQL, Redis and
    busybox-static on this host and the `lab` extra (celery, alembic, sqlalchemy).
    """


def _lab(project: str) -> Any:
    from engine.errors import LabError
    from engine.lab.stack import Lab

    try:
        return Lab(project)
    except Exception as exc:  # docker SDK: no engine to talk to
        if isinstance(exc, LabError):
            raise click.ClickException(str(exc)) from exc
        raise click.ClickException(f"cannot reach the Docker engine: {exc}") from exc


def _guard(action: Any) -> Any:
    from engine.errors import LabError

    try:
        return action()
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc


@lab.command(epilog=LAB_EXAMPLES)
@_project_option
@click.option(
    "--vars-file",
    type=click.Path(dir_okay=False),
    help="also write the playbook variables (JSON) to this file, for -e @FILE",
)
def up(project: str, vars_file: str | None) -> None:
    """Build what is missing, start the stack, wait until healthy; print the playbook vars."""
    stack = _lab(project)
    _guard(stack.up)
    variables = json.dumps(stack.variables(), indent=2)
    if vars_file:
        with open(vars_file, "w") as handle:
            handle.write(variables + "\n")
    click.echo(variables)
    click.echo(
        f"{project} is healthy; try: remediate run --dry-run -e '{json.dumps(stack.variables())}'", err=True
    )


@lab.command(epilog=LAB_EXAMPLES)
@_project_option
def down(project: str) -> None:
    """Remove the lab's containers and network."""
    _lab(project).down()
    click.echo(f"{project} removed")


@lab.command(name="vars", epilog=LAB_EXAMPLES)
@_project_option
def variables(project: str) -> None:
    """Print the playbook variables (JSON) that point the bundled playbook at the lab."""
    click.echo(json.dumps(_guard(_lab(project).variables), indent=2))


@lab.command(epilog=LAB_EXAMPLES)
@_project_option
def status(project: str) -> None:
    """Each service's health, probed directly (exit 1 when any is not ok)."""
    states = _guard(_lab(project).health)
    for service, state in states.items():
        click.echo(f"{service:10} {state}")
    sys.exit(0 if all(state == "ok" for state in states.values()) else 1)


@lab.command(name="reset", epilog=LAB_EXAMPLES)
@_project_option
def reset(project: str) -> None:
    """Bring a broken lab back to healthy without the engine (recreate, start, migrate)."""
    _guard(_lab(project).reset)
    click.echo(f"{project} is healthy")


def _scenario_help() -> str:
    from engine.lab.scenarios import SCENARIOS

    return "\n".join(f"  {name:22} {scenario.symptom}" for name, scenario in SCENARIOS.items())


class _ScenarioCommand(click.Command):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(
            "\n\b\nScenarios (the runbook's troubleshooting sections):\n" + _scenario_help() + "\n"
        )
        super().format_epilog(ctx, formatter)


@lab.command(name="break", cls=_ScenarioCommand, epilog=LAB_EXAMPLES)
@_project_option
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True)
def break_(project: str, scenarios: tuple[str, ...]) -> None:
    """Break the lab the way a runbook scenario's symptom describes; several scenarios
    are caused at once (a drill with more than one fault)."""
    from engine.lab.scenarios import break_lab

    stack = _lab(project)
    click.echo(_guard(lambda: break_lab(stack, *scenarios)))


@lab.command(name="deploy-broken", epilog=LAB_EXAMPLES)
@_project_option
@click.option(
    "--after-migration",
    is_flag=True,
    help="the release migrated the database first (backend only): a rollback is refused",
)
@click.argument("service")
def deploy_broken(project: str, after_migration: bool, service: str) -> None:
    """A bad deploy of SERVICE: build an image of it that fails at start, tag it as the
    service's image (PROJECT-SERVICE:latest, as compose tags what it builds) and recreate the
    service's container from it. A restart or a rebuild does not help; a rollback to the last
    healthy version does, once a run has recorded one (`remediate versions`), unless the
    release migrated the database (`--after-migration`) and the playbook guards the schema
    (`alembic_node`). `remediate lab reset` goes back to the good image and revision."""
    stack = _lab(project)
    click.echo(_guard(lambda: stack.deploy_broken(service, after_migration)))
