"""Options and helpers shared by the command modules. A leaf: it imports no command module,
and engine modules only inside functions (so that `--help` stays fast)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from engine.core.planning import RunPlan

F = TypeVar("F", bound=Callable[..., Any])


def inventory_options(function: F) -> F:
    """`-i/--inventory`, `--limit` and `-e/--extra-vars`: which hosts, with which variables."""
    function = click.option(
        "-e",
        "--extra-vars",
        "extra_vars",
        multiple=True,
        metavar="VARS",
        help="k=v pairs, @vars.yml or a JSON mapping (repeatable; highest precedence)",
    )(function)
    function = click.option(
        "--limit", "-l", metavar="PATTERN", help="only hosts matching this pattern (a group, host, glob)"
    )(function)
    function = click.option(
        "-i",
        "--inventory",
        "inventories",
        multiple=True,
        metavar="INVENTORY",
        help="inventory file or comma-separated host list (repeatable); default: this host",
    )(function)
    return function


def execution_options(function: F) -> F:
    """How a run executes and logs: forks, log format, verbosity, where incidents go (`run`,
    `check`, and the daemon's and a worker's runs)."""
    function = click.option(
        "--forks",
        "-f",
        default=10,
        show_default=True,
        type=click.IntRange(1, 1000),
        help="how many nodes run at once",
    )(function)
    function = click.option(
        "--log-format",
        type=click.Choice(["auto", "json", "console"]),
        default="auto",
        show_default=True,
        help="every event on stderr, in this format (auto: on a terminal a line per node and "
        "per step, JSON lines otherwise)",
    )(function)
    function = click.option(
        "-v", "--verbose", is_flag=True, help="every event on stderr, debug events too"
    )(function)
    function = click.option(
        "--incident-dir",
        default="incidents",
        show_default=True,
        type=click.Path(file_okay=False),
        help="where actions save evidence (container logs) before acting",
    )(function)
    return function


def allow_destructive_option(function: F) -> F:
    """`--allow-destructive`: the command line's half of the destructive gate."""
    return click.option(
        "--allow-destructive",
        is_flag=True,
        help="let steps marked destructive: true in the playbook run (purges, deletes)",
    )(function)


def run_options(function: F) -> F:
    """The inventory and execution options, and `--report`."""
    function = execution_options(inventory_options(function))
    return click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False),
        help="write the whole run to this file: JSON, or one self-contained HTML page (the graph "
        "coloured by outcome, the timeline of nodes and steps) when the name ends in .html",
    )(function)


STATE_HELP = (
    "where state across runs lives: a SQLite file, or a postgresql:// URL shared by several "
    "controllers [env REMEDIATE_STATE; default /var/lib/remediate/state.db for root, "
    "$XDG_STATE_HOME/remediate/state.db otherwise]"
)


def state_option(function: F) -> F:
    """`--state` (also from REMEDIATE_STATE)."""
    return click.option("--state", metavar="PATH|URL", envvar="REMEDIATE_STATE", help=STATE_HELP)(function)


def explicit_state_option(function: F) -> F:
    # Not read from REMEDIATE_STATE: a unit or crontab line should name only what was asked for.
    return click.option("--state", metavar="PATH|URL", help="pass --state to every run")(function)


def state_options(function: F) -> F:
    """`--state` and `--metrics-textfile`, for commands that run the playbook."""
    function = click.option(
        "--metrics-textfile",
        type=click.Path(dir_okay=False),
        help="after the run, write Prometheus metrics to this file atomically (node_exporter textfile)",
    )(function)
    return state_option(function)


def load_plan(
    playbook: str | None, inventories: tuple[str, ...], limit: str | None, extra_vars: tuple[str, ...]
) -> RunPlan:
    """The run plan of PLAYBOOK (the bundled CoffeeStudio playbook when None) over the
    inventories. Invalid input raises an `engine.errors.InvalidInput`, which the command group
    reports and exits 2 with."""
    from engine.core.planning import plan_run
    from engine.playbook.extra_vars import parse_extra_vars
    from inventory import load_inventory

    if playbook is None:
        from playbooks import DEFAULT_PLAYBOOK

        playbook = str(DEFAULT_PLAYBOOK)
    return plan_run(
        playbook,
        load_inventory(list(inventories)),
        limit=limit,
        extra_vars=parse_extra_vars(list(extra_vars)),
    )
