"""The `remediate` command line. Engine modules are imported inside commands, so that
`--help` and `validate` start fast and clients load only when a playbook uses them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from engine import exit_codes
from engine.cli.options import (
    allow_destructive_option,
    inventory_options,
    load_plan,
    run_options,
    state_options,
)

F = TypeVar("F", bound=Callable[..., Any])

RUN_EXAMPLES = """\b
Examples:
  remediate run site.yml --dry-run              # what would be fixed, change nothing
  remediate run site.yml -i hosts.yml --limit web
  remediate run site.yml -e api_port=8000 -e @vars.yml --report run.json
  remediate run site.yml --report run.html      # the graph and the timeline as one page
  remediate run --dry-run                       # the bundled CoffeeStudio playbook, this host
"""


class Commands(click.Group):
    """remediate's command group, and the one place where an error becomes an exit status:
    every error knows its own (engine.errors); its message is masked like any output."""

    def invoke(self, ctx: click.Context) -> Any:
        from engine.errors import RemediateError

        try:
            return super().invoke(ctx)
        except RemediateError as exc:
            from engine.errors import InvalidInput, LockHeld, PlaybookError
            from engine.secrets.redact import REDACTOR

            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"error: {REDACTOR.text(line)}", err=True)
            if isinstance(exc, PlaybookError):
                click.echo(f"{len(exc.problems)} problem(s); nothing was run.", err=True)
            elif isinstance(exc, InvalidInput | LockHeld):
                click.echo("nothing was run.", err=True)
            ctx.exit(exc.exit_code)


@click.group(
    cls=Commands,
    invoke_without_command=True,
    epilog=f"{RUN_EXAMPLES}\n{exit_codes.HELP}",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="with no command: dry-run the bundled CoffeeStudio playbook against this host",
)
@click.version_option(package_name="remediate")
@click.pass_context
def cli(context: click.Context, dry_run: bool) -> None:
    """Check a graph of health checks, fix what is broken, prove each fix.

    A playbook (YAML) names checks, their dependencies and the remediation steps tried
    when a check fails. `remediate run` walks the graph in dependency order; `--dry-run`
    only reports what it would do.
    """
    if context.invoked_subcommand is not None:
        if dry_run:
            raise click.UsageError("put --dry-run after the command: remediate run --dry-run")
        return
    if not dry_run:
        click.echo(context.get_help())
        return
    context.invoke(run, playbook=None, dry_run=True)


def _execute(
    mode: str,
    playbook: str | None,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    forks: int = 10,
    report_path: str | None = None,
    log_format: str = "auto",
    verbose: bool = False,
    allow_destructive: bool = False,
    incident_dir: str = "incidents",
    state: str | None = None,
    metrics_textfile: str | None = None,
) -> int:
    from pathlib import Path

    from engine.core.node import Mode
    from engine.core.runner import Runner, RunSettings
    from engine.core.stopping import Stop, stop_on_signals
    from engine.output import logs
    from engine.output.progress import live_progress
    from engine.output.report import print_summary
    from engine.unattended.daemon import StoppableClock

    plan = load_plan(playbook, inventories, limit, extra_vars)
    stop = Stop()
    settings = RunSettings(
        mode=Mode(mode),
        forks=forks,
        allow_destructive=allow_destructive,
        incident_dir=Path(incident_dir),
        stop=stop,
        clock=StoppableClock(stop),  # a backoff or verify wait ends when the run is stopped
    )
    with (
        live_progress(len(plan.specs)) as (on_node_done, log_stream),
        stop_on_signals(stop, logs.get_logger()),
    ):
        logs.configure(
            logs.run_format(log_format, verbose, log_stream),
            verbose,
            stream=log_stream,
            names=[key.node for key in plan.specs] if len(plan.hosts) == 1 else map(str, plan.specs),
            many_hosts=len(plan.hosts) > 1,
        )
        if settings.mode is Mode.CHECK:
            report = Runner(plan, settings, logger=logs.get_logger(), on_node_done=on_node_done).run()
        else:
            from engine.cli.unattended import run_with_state

            report = run_with_state(
                plan, settings, state, metrics_textfile, logs.get_logger(), on_node_done=on_node_done
            )
    if report_path:
        report.write(report_path)
    print_summary(report, sys.stdout)
    return report.exit_code


@cli.command(epilog=f"{RUN_EXAMPLES}\n{exit_codes.HELP}")
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@run_options
@click.option("--dry-run", is_flag=True, help="check only; list the exact actions a real run would take")
@allow_destructive_option
@state_options
def run(playbook: str | None, dry_run: bool = False, **options: Any) -> None:
    """Check every node and remediate what is unhealthy.

    PLAYBOOK defaults to the bundled CoffeeStudio playbook.
    """
    sys.exit(_execute("dry_run" if dry_run else "run", playbook, **_with_defaults(options)))


@cli.command(
    epilog=f"""\b
Examples:
  remediate check site.yml
  remediate check site.yml -i hosts.yml --report health.json

{exit_codes.HELP}"""
)
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@run_options
def check(playbook: str | None, **options: Any) -> None:
    """Run the checks only: no action is taken or planned, whatever the flags."""
    sys.exit(_execute("check", playbook, **_with_defaults(options)))


def _with_defaults(options: dict[str, Any]) -> dict[str, Any]:
    defaults = {"inventories": (), "limit": None, "extra_vars": ()}
    return {**defaults, **options}


@cli.command(
    epilog="""\b
Examples:
  remediate validate site.yml
  remediate validate site.yml -i hosts.yml -e api_port=8000

\b
Exit status: 0 valid, 2 invalid (every problem is listed with file:line:column)."""
)
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_options
def validate(
    playbook: str, inventories: tuple[str, ...], limit: str | None, extra_vars: tuple[str, ...]
) -> None:
    """Validate a playbook (with the inventory and variables it will run with); run nothing."""
    plan = load_plan(playbook, inventories, limit, extra_vars)
    click.echo(f"{playbook}: valid ({len(plan.specs)} nodes on {len(plan.hosts)} host(s))")


@cli.command(
    epilog="""\b
Examples:
  remediate graph site.yml
  remediate graph site.yml --format dot | dot -Tsvg > graph.svg
  remediate graph site.yml --format mermaid"""
)
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "dot", "mermaid"]),
    default="text",
    show_default=True,
)
def graph(
    playbook: str,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    output_format: str,
) -> None:
    """Show the check graph: nodes in dependency order and their edges."""
    from engine.output.graph_render import render

    plan = load_plan(playbook, inventories, limit, extra_vars)
    click.echo(render(plan, output_format), nl=False)


@cli.command(
    epilog="""\b
Examples:
  remediate schema > remediate.schema.json
  # then, first line of a playbook:
  # yaml-language-server: $schema=remediate.schema.json"""
)
def schema() -> None:
    """Print the playbook JSON Schema, for editors to validate and complete playbooks."""
    import json

    from engine.playbook.schema import playbook_schema

    click.echo(json.dumps(playbook_schema(), indent=2))


def _add_inventory_command() -> None:
    from inventory.cli import inventory_command

    cli.add_command(inventory_command)


_add_inventory_command()


def main() -> None:
    """Console entry point. Ends the process without the interpreter's teardown."""
    try:
        cli(prog_name="remediate")
        status: int | str | None = 0
    except SystemExit as exc:
        status = exc.code
    # Freeing every module's objects at exit takes about 0.1 s with paramiko and pydantic
    # loaded, a noticeable share of a short run; nothing is left to clean up by then
    # (connections and the state store are closed), so flush what was written and leave.
    if isinstance(status, str):
        print(status, file=sys.stderr)
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status or 0)


# Commands in modules of their own, registered once `cli` exists.
from engine.cli.init import init  # noqa: E402
from engine.cli.lab import lab  # noqa: E402
from engine.cli.service import cron, daemon, systemd, token, worker  # noqa: E402
from engine.cli.unattended import (  # noqa: E402
    approvals,
    approve,
    deny,
    history,
    pause,
    reset,
    resume,
    status,
    versions,
)

for command in (
    pause,
    resume,
    reset,
    history,
    status,
    versions,
    approvals,
    approve,
    deny,
    daemon,
    worker,
    systemd,
    cron,
    token,
    init,
    lab,
):
    cli.add_command(command)
