"""Commands that run the engine on its own: `daemon` (a long-lived service) and the
generators of `systemd` units and `cron` lines. Engine modules are imported inside the
commands, so that `--help` stays fast."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from engine import exit_codes
from engine.cli.options import (
    allow_destructive_option,
    execution_options,
    explicit_state_option,
    inventory_options,
    load_plan,
    state_option,
    state_options,
)

if TYPE_CHECKING:
    from pathlib import Path

    from engine.core.planning import RunPlan
    from engine.unattended.state.postgres import PostgresStateStore
    from engine.web.app import Controller

BROKER_HELP = (
    "a Celery broker URL (redis://:PASSWORD@HOST:6379/0, amqp://...): with it the fleet's work "
    "goes through workers (remediate worker) and --state must be postgresql://"
)


@click.command(
    epilog=f"""\b
Examples:
  remediate daemon site.yml --interval 60s --listen 127.0.0.1:9560 --token-file /etc/remediate/token
  remediate token                  # how to make the token
  systemctl reload remediate       # SIGHUP: reload playbook and inventory
  remediate systemd site.yml --daemon > remediate.service

{exit_codes.HELP}"""
)
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_options
@click.option("--interval", default="60s", show_default=True, metavar="DURATION", help="time between runs")
@click.option(
    "--jitter",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 0.5),
    help="spread of the interval, as a share of it (0.1: ±10%)",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="serve the status page, its API, /metrics and /hooks/alertmanager here (e.g. 127.0.0.1:9560)",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="the same as --listen 127.0.0.1:PORT (kept for older units)",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="the operator's token for actions on the status page (else $REMEDIATE_TOKEN); "
    "not readable by every user",
)
@click.option(
    "--hook-token-file",
    type=click.Path(dir_okay=False),
    help="the bearer token Alertmanager sends to /hooks/alertmanager (else $REMEDIATE_HOOK_TOKEN)",
)
@execution_options
@allow_destructive_option
@click.option(
    "--broker", metavar="URL", envvar="REMEDIATE_BROKER", help=BROKER_HELP + " [env REMEDIATE_BROKER]"
)
@state_options
def daemon(
    playbook: str,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    interval: str,
    jitter: float,
    listen: str | None,
    metrics_port: int | None,
    token_file: str | None,
    hook_token_file: str | None,
    forks: int,
    allow_destructive: bool,
    incident_dir: str,
    log_format: str,
    verbose: bool,
    broker: str | None,
    state: str | None,
    metrics_textfile: str | None,
) -> None:
    """Run PLAYBOOK every --interval until SIGTERM (a systemd service). SIGHUP reloads the
    playbook and inventory; a version that does not validate is rejected, the old one kept.
    With --listen: a status page (read-only for anyone; actions need the operator's token),
    its JSON API under /api/, /metrics, and POST /hooks/alertmanager, where a firing alert
    the playbook's `alerts:` maps to nodes starts a run of them at once.

    With --broker: schedule instead of running. Every --interval the leading daemon (several
    may run; one leads) sends one task per host group to the workers (remediate worker)."""
    from pathlib import Path

    from engine.core.durations import parse_duration
    from engine.output import logs
    from engine.unattended.daemon import Daemon

    try:
        seconds = parse_duration(interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    if listen is not None and metrics_port is not None:
        raise click.UsageError("give --listen or --metrics-port, not both")
    address = listen or (f"127.0.0.1:{metrics_port}" if metrics_port is not None else None)
    serve = _web(address, state, token_file, hook_token_file) if address is not None else None
    if broker is not None:
        if metrics_textfile is not None:
            raise click.UsageError(
                "--metrics-textfile is not available with --broker: the workers run the nodes"
            )
        _schedule(
            playbook, inventories, limit, extra_vars, seconds, broker, state, log_format, verbose,
            serve, Path(incident_dir),
        )  # fmt: skip
        return
    load_plan(playbook, inventories, limit, extra_vars)  # exit 2 at start when invalid
    logs.configure(log_format, verbose)  # type: ignore[arg-type]

    def load() -> RunPlan:
        return load_plan(playbook, inventories, limit, extra_vars)

    code = Daemon(
        load,
        state,
        seconds,
        logs.get_logger(),
        jitter=jitter,
        forks=forks,
        allow_destructive=allow_destructive,
        incident_dir=Path(incident_dir),
        metrics_textfile=metrics_textfile,
        serve=serve,
        page=f"http://{address}" if address else None,
    ).run()
    sys.exit(code)


def _fleet_store(broker: str, state: str | None) -> PostgresStateStore:
    """The fleet's PostgreSQL store, after the broker URL was checked (exit 2 for either)."""
    from engine.errors import FleetError
    from engine.fleet.broker import check_broker_url
    from engine.unattended.state import open_store
    from engine.unattended.state.postgres import PostgresStateStore

    check_broker_url(broker)
    if not state or not state.startswith(("postgresql://", "postgres://")):
        raise FleetError(
            "--broker needs --state postgresql://...: the fleet's locks, ticks and claims live in "
            "a PostgreSQL store every worker and daemon shares"
        )
    store = open_store(state)
    assert isinstance(store, PostgresStateStore)
    return store


def _schedule(
    playbook: str,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    interval: float,
    broker: str,
    state: str | None,
    log_format: str,
    verbose: bool,
    serve: Callable[[Controller], Any] | None,
    incident_dir: Path,
) -> None:
    """`remediate daemon --broker`: the fleet's scheduler (engine.fleet.scheduler), with the
    status page of --listen when `serve` is given."""
    from engine.fleet.scheduler import Scheduler
    from engine.output import logs

    store = _fleet_store(broker, state)
    load_plan(playbook, inventories, limit, extra_vars)  # exit 2 at start when invalid
    logs.configure(log_format, verbose)  # type: ignore[arg-type]

    def load() -> RunPlan:
        return load_plan(playbook, inventories, limit, extra_vars)

    try:
        code = Scheduler(
            load, store, broker, interval, logs.get_logger(), serve=serve, incident_dir=incident_dir
        ).run()
    finally:
        store.close()
    sys.exit(code)


@click.command(
    epilog=f"""\b
Examples:
  remediate worker site.yml -i hosts.yml --broker redis://:PASSWORD@10.0.0.5:6379/0 \\
      --state postgresql://remediate:PASSWORD@10.0.0.6/remediate
  remediate daemon site.yml -i hosts.yml --broker ... --state ...   # the scheduler

{exit_codes.HELP}"""
)
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_options
@click.option(
    "--broker",
    metavar="URL",
    envvar="REMEDIATE_BROKER",
    required=True,
    help=BROKER_HELP + " [env REMEDIATE_BROKER]",
)
@click.option("--name", help="this worker's name, unique in the fleet [default: remediate-RANDOM@HOSTNAME]")
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="tasks (host groups) run at once, each in a thread: runs wait on the network",
)
@click.option(
    "--visibility-timeout",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="how long the broker waits before delivering an unacknowledged task again; longer than any run",
)
@execution_options
@allow_destructive_option
@state_option
def worker(
    playbook: str,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    broker: str,
    name: str | None,
    concurrency: int,
    visibility_timeout: str,
    forks: int,
    allow_destructive: bool,
    incident_dir: str,
    log_format: str,
    verbose: bool,
    state: str | None,
) -> None:
    """A worker of the fleet: runs PLAYBOOK for the host groups of the tasks `remediate
    daemon --broker` sends, with the same locks, limits and records as any run, keeping its
    SSH connections open between tasks. A task whose playbook differs from this worker's is
    refused, with the reason in the store. SIGTERM: tasks in flight finish, then it exits."""
    from pathlib import Path

    from engine.core.durations import parse_duration
    from engine.fleet.worker import Worker, default_name, serve
    from engine.output import logs

    try:
        visibility = parse_duration(visibility_timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--visibility-timeout") from None
    store = _fleet_store(broker, state)
    try:
        plan = load_plan(playbook, inventories, limit, extra_vars)
        logs.configure(log_format, verbose)  # type: ignore[arg-type]
        runner = Worker(
            name or default_name(),
            plan,
            store,
            logs.get_logger(),
            forks=forks,
            allow_destructive=allow_destructive,
            incident_dir=Path(incident_dir),
        )
        code = serve(runner, broker, concurrency, visibility)
    finally:
        store.close()
    sys.exit(code)


def _web(
    address: str, state: str | None, token_file: str | None, hook_token_file: str | None
) -> Callable[[Controller], Any]:
    """What starts the status page once the daemon has its plan; the tokens and the address
    are read now, so that a bad one is exit 2 before anything runs."""
    from engine.web.app import parse_address, serve
    from engine.web.tokens import HOOK_TOKEN_ENV, TOKEN_ENV, read_token

    try:
        parse_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    token = read_token(token_file, TOKEN_ENV, "operator token")
    hook_token = read_token(hook_token_file, HOOK_TOKEN_ENV, "Alertmanager token")

    def start(daemon: Controller) -> Any:
        server = serve(daemon, address, state, token, hook_token)
        daemon.logger.info(
            "status page",
            url=f"http://{address}/",
            actions="on" if token else "off (no operator token)",
            alertmanager_hook="on" if hook_token else "off (no Alertmanager token)",
        )
        return server

    return start


@click.command(
    epilog="""\b
Examples:
  umask 077; remediate token > /etc/remediate/token
  remediate daemon site.yml --listen 127.0.0.1:9560 --token-file /etc/remediate/token"""
)
def token() -> None:
    """Print a new random token (for --token-file or --hook-token-file) on stdout, and on
    stderr how to keep it: a file only its owner can read (a token file that every user
    can read is refused), or REMEDIATE_TOKEN / REMEDIATE_HOOK_TOKEN in the service's
    environment."""
    from engine.web.tokens import new_token

    click.echo(new_token())
    click.echo(
        "keep it in a file only the daemon's user can read:\n"
        "  umask 077; remediate token > /etc/remediate/token; chmod 600 /etc/remediate/token\n"
        "  remediate daemon site.yml --listen 127.0.0.1:9560 --token-file /etc/remediate/token\n"
        "or in the service's environment: REMEDIATE_TOKEN (actions), REMEDIATE_HOOK_TOKEN (Alertmanager's "
        "bearer token, its http_config.authorization.credentials_file)",
        err=True,
    )


def _pass_through(inventories: tuple[str, ...], limit: str | None, extra_vars: tuple[str, ...]) -> list[str]:
    from pathlib import Path

    options: list[str] = []
    for inventory in inventories:
        options += ["-i", str(Path(inventory).resolve()) if Path(inventory).exists() else inventory]
    if limit:
        options += ["--limit", limit]
    for extra in extra_vars:
        options += ["-e", extra]
    return options


@click.command(
    epilog="""\b
Examples:
  remediate systemd site.yml                        # print a service + timer (every minute)
  remediate systemd site.yml --on-calendar '*:0/5' --install
  remediate systemd site.yml --daemon --interval 60s --install
  systemctl daemon-reload && systemctl enable --now remediate.timer"""
)
@click.argument("playbook", type=click.Path(dir_okay=False, exists=True))
@inventory_options
@click.option("--name", default="remediate", show_default=True, help="unit name (without suffix)")
@click.option("--on-calendar", default="minutely", show_default=True, help="the timer's OnCalendar=")
@click.option("--randomized-delay", default="10s", show_default=True, help="the timer's RandomizedDelaySec=")
@click.option(
    "--daemon", "as_daemon", is_flag=True, help="one long-lived Type=notify service instead of a timer"
)
@click.option("--interval", default="60s", show_default=True, help="with --daemon: time between runs")
@click.option("--watchdog", default="0s", show_default=True, help="with --daemon: WatchdogSec= (0: none)")
@click.option("--install", is_flag=True, help="write the units to --unit-dir instead of printing them")
@click.option(
    "--unit-dir", default="/etc/systemd/system", show_default=True, type=click.Path(file_okay=False)
)
@explicit_state_option
def systemd(
    playbook: str,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    name: str,
    on_calendar: str,
    randomized_delay: str,
    as_daemon: bool,
    interval: str,
    watchdog: str,
    install: bool,
    unit_dir: str,
    state: str | None,
) -> None:
    """Print (or --install) systemd units running PLAYBOOK: a oneshot service with a timer
    (OnCalendar, RandomizedDelaySec, Persistent), or with --daemon one notify service."""
    from pathlib import Path

    from engine.core.durations import parse_duration
    from engine.unattended.schedule import Units

    units = Units(playbook, name, state, _pass_through(inventories, limit, extra_vars))
    files: dict[str, str]
    if as_daemon:
        files = {f"{name}.service": units.daemon_service(parse_duration(interval), parse_duration(watchdog))}
    else:
        files = {
            f"{name}.service": units.timer_service(),
            f"{name}.timer": units.timer(on_calendar, parse_duration(randomized_delay)),
        }
    if not install:
        for file_name, text in files.items():
            click.echo(f"# {file_name}\n{text}")
        return
    directory = Path(unit_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (directory / file_name).write_text(text)
        click.echo(f"wrote {directory / file_name}")
    started = f"{name}.service" if as_daemon else f"{name}.timer"
    click.echo(f"now: systemctl daemon-reload && systemctl enable --now {started}")


@click.command(
    epilog="""\b
Examples:
  remediate cron site.yml | crontab -            # replaces your crontab: review first
  remediate cron site.yml --every 5m --user root > /etc/cron.d/remediate"""
)
@click.argument("playbook", type=click.Path(dir_okay=False, exists=True))
@inventory_options
@click.option("--every", default="1m", show_default=True, help="how often (minutes or whole hours)")
@click.option("--log", "log_file", help="append the run's output to this file (default: discard)")
@click.option("--user", help="add a user field (for /etc/cron.d files)")
@explicit_state_option
def cron(
    playbook: str,
    inventories: tuple[str, ...],
    limit: str | None,
    extra_vars: tuple[str, ...],
    every: str,
    log_file: str | None,
    user: str | None,
    state: str | None,
) -> None:
    """Print a crontab line running PLAYBOOK. No flock is needed: the engine locks, and a
    run finding the lock held exits 3 at once."""
    from engine.core.durations import parse_duration
    from engine.unattended.schedule import Units

    minutes = max(1, round(parse_duration(every) / 60))
    units = Units(playbook, state=state, options=_pass_through(inventories, limit, extra_vars))
    click.echo(units.crontab_line(minutes, log_file, user), nl=False)
