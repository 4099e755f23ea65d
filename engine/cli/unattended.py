"""Commands for unattended operation: the operator's pause, resume, reset, history and status,
the approvals of steps that need one (approvals, approve, deny),
and the `--state`/`--metrics-textfile` options of `run` (daemon, systemd and cron are in
`engine.cli.service`). Engine modules are imported inside the commands, so that `--help`
stays fast."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from engine import exit_codes
from engine.cli.options import state_option

if TYPE_CHECKING:
    from engine.core.planning import RunPlan
    from engine.core.runner import NodeDone, RunSettings
    from engine.output.report import RunReport
    from engine.unattended.state import StateStore

F = TypeVar("F", bound=Callable[..., Any])


def open_store(location: str | None) -> StateStore:
    """The state store at `location` (a StateStoreError exits 2 through the command group)."""
    from engine.unattended.state import open_store as open_state_store

    return open_state_store(location)


def run_with_state(
    plan: RunPlan,
    settings: RunSettings,
    location: str | None,
    metrics_textfile: str | None,
    logger: Any,
    on_node_done: NodeDone | None = None,
) -> RunReport:
    """`remediate run` with its state store: locked, limited, recorded (engine.unattended.run).
    Exits 3 when another run holds the lock. A dry-run reads the state when there is one
    and writes nothing."""
    from pathlib import Path

    from engine.core.node import Mode
    from engine.core.runner import Runner
    from engine.errors import LockHeld
    from engine.unattended.run import run_unattended
    from engine.unattended.state import default_location

    location = location or default_location()
    is_url = location.startswith(("postgresql://", "postgres://"))
    if settings.mode is Mode.DRY_RUN and not is_url and not Path(location).exists():
        return Runner(plan, settings, logger=logger, on_node_done=on_node_done).run()
    store = open_store(location)
    try:
        try:
            report = run_unattended(plan, settings, store, logger=logger, on_node_done=on_node_done)
        except LockHeld as exc:
            logger.error("another run holds the lock", host=exc.host, holder=exc.holder, state=store.location)
            click.echo(f"remediate: {exc}; nothing was run", err=True)
            sys.exit(exit_codes.LOCKED)
        if metrics_textfile and settings.mode is Mode.RUN:
            from engine.unattended.metrics import collect, write_textfile

            write_textfile(metrics_textfile, collect(report, store))
        return report
    finally:
        store.close()


def _split_node(target: str) -> tuple[str, str]:
    """`host:node` or `node` (every host: `*`)."""
    host, _, node = target.rpartition(":")
    return (host or "*"), node


def _operator() -> str:
    import getpass

    return os.environ.get("SUDO_USER") or getpass.getuser()


def _now() -> Any:
    from engine.core.clock import SystemClock

    return SystemClock().now()


def _fmt(moment: Any) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


@click.command(
    epilog="""\b
Examples:
  remediate pause backend --for 2h --reason "migrating the database"
  remediate pause web1:frontend           # one host only; no --for: until resumed"""
)
@click.argument("node")
@click.option("--for", "duration", metavar="DURATION", help="how long (2h, 30m); default: until resumed")
@click.option("--reason", default="paused by an operator", show_default=True)
@state_option
def pause(node: str, duration: str | None, reason: str, state: str | None) -> None:
    """Stop remediating NODE (`node` on every host, or `host:node`): it is still checked and
    reported, never touched."""
    from datetime import timedelta

    from engine.core.durations import parse_duration

    host, name = _split_node(node)
    now = _now()
    try:
        until = now + timedelta(seconds=parse_duration(duration)) if duration else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    store = open_store(state)
    store.set_pause(host, name, until, reason, now, _operator())
    store.close()
    click.echo(
        f"paused {node}" + (f" until {_fmt(until)} UTC" if until else " until resumed") + f": {reason}"
    )


@click.command(epilog="Example:\n\n  remediate resume backend")
@click.argument("node")
@state_option
def resume(node: str, state: str | None) -> None:
    """Remediate NODE again after `remediate pause`."""
    host, name = _split_node(node)
    store = open_store(state)
    found = store.clear_pause(host, name)
    store.close()
    if not found:
        click.echo(f"{node} was not paused", err=True)
        sys.exit(exit_codes.PROBLEMS)
    click.echo(f"resumed {node}")


@click.command(epilog="Example:\n\n  remediate reset backend      # after fixing what made it crash-loop")
@click.argument("node")
@state_option
def reset(node: str, state: str | None) -> None:
    """Clear NODE's suppression: forget its attempts, failures and state changes so far, and
    close its escalation (no recovery message: an operator dealt with it)."""
    from engine.unattended import limits

    host, name = _split_node(node)
    store = open_store(state)
    now = _now()
    matching = [s for s in store.node_states() if s.node == name and host in ("*", s.host)]
    for node_state in matching:
        store.save_node_state(limits.reset(node_state, now))
        store.close_escalation(f"{node_state.host}:{node_state.node}", now)
    store.close()
    if not matching:
        click.echo(f"no state recorded for {node}", err=True)
        sys.exit(exit_codes.PROBLEMS)
    click.echo(f"reset {name} on {', '.join(s.host for s in matching)}")


@click.command(
    epilog="""\b
Examples:
  remediate history --node backend --since 1d
  remediate history --since 2h --json"""
)
@click.option("--node", "node", help="only this node (`node` or `host:node`)")
@click.option("--since", default="1d", show_default=True, metavar="DURATION", help="how far back")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
@state_option
def history(node: str | None, since: str, as_json: bool, state: str | None) -> None:
    """What happened: every node outcome and action attempt, oldest first."""
    import json
    from datetime import timedelta

    from engine.core.durations import parse_duration

    try:
        start = _now() - timedelta(seconds=parse_duration(since))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    host, name = _split_node(node) if node else ("*", None)
    store = open_store(state)
    entries = store.history(node=name, since=start, host=None if host == "*" else host)
    escalations = [
        e for e in store.escalations() if e.opened_at >= start and (name is None or e.node == name)
    ]
    store.close()
    lines = [
        _line(e.at, e.run_id, e.host, e.node, e.kind, e.action, e.outcome, e.reason, e.duration_ms, e.step)
        for e in entries
    ]
    for esc in escalations:
        reason = f"[{esc.severity}] {esc.reason}"
        lines.append(_line(esc.opened_at, "", esc.host, esc.node, "escalation", "", "escalated", reason))
        if esc.closed_at is not None:
            lines.append(_line(esc.closed_at, "", esc.host, esc.node, "escalation", "", "closed", reason))
    lines.sort(key=lambda line: line[0])
    for _, line in lines:
        if as_json:
            click.echo(json.dumps(line))
        else:
            what = f"{line['kind']} {line['step'] or line['action']}".strip()
            click.echo(
                f"{line['at'][:19]}  {line['host']:<12} {line['node']:<14} {what:<22} {line['outcome']:<11} "
                f"{line['reason']}".rstrip()
            )
    if not lines and not as_json:
        click.echo(f"nothing recorded since {_fmt(start)} UTC")


@click.command(
    epilog="""\b
Examples:
  remediate versions
  remediate versions --service backend --json"""
)
@click.option("--service", help="only this compose service (or container name)")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
@state_option
def versions(service: str | None, as_json: bool, state: str | None) -> None:
    """The versions each service ran when it was last seen healthy, newest first: what a
    rollback goes back to."""
    import json

    store = open_store(state)
    records = store.versions(service=service)
    store.close()
    for record in records:
        fields = {
            "host": record.host,
            "project": record.project,
            "service": record.service,
            "image": record.image,
            "image_id": record.image_id,
            "repo_digest": record.repo_digest,
            "config_hash": record.config_hash,
            "alembic_revision": record.alembic_revision,
            "container": record.container,
            "node": record.node,
            "first_seen_at": record.first_seen_at.isoformat(),
            "seen_at": record.seen_at.isoformat(),
        }
        if as_json:
            click.echo(json.dumps(fields))
            continue
        where = f"{record.project}/{record.service}" if record.project else record.service
        alembic = f" alembic {record.alembic_revision}" if record.alembic_revision else ""
        click.echo(
            f"{record.host:<12} {where:<24} {record.image} ({record.image_id[:19]}){alembic} "
            f"healthy {_fmt(record.first_seen_at)} to {_fmt(record.seen_at)} UTC"
        )
    if not records and not as_json:
        click.echo("no healthy version recorded yet" + (f" of {service}" if service else ""))


def _line(
    at: Any,
    run_id: str,
    host: str,
    node: str,
    kind: str,
    action: str,
    outcome: str,
    reason: str,
    duration_ms: float | None = None,
    step: str = "",
) -> tuple[Any, dict[str, Any]]:
    fields = {
        "at": at.isoformat(),
        "run_id": run_id,
        "host": host,
        "node": node,
        "kind": kind,
        "action": action,
        "step": step,
        "outcome": outcome,
        "reason": reason,
        "duration_ms": duration_ms,
    }
    return at, fields


@click.command(epilog="Example:\n\n  remediate status")
@state_option
def status(state: str | None) -> None:
    """Each node's last outcome, and what is paused, suppressed or escalated now."""
    store = open_store(state)
    now = _now()
    last = store.last_outcomes()
    pauses = store.pauses(now)
    escalations = store.escalations(open_only=True)
    runs = store.runs()
    fleet = _fleet_status(store)
    store.close()
    if runs:
        latest = runs[-1]
        click.echo(
            f"last run {latest.run_id} ({latest.playbook}) at {_fmt(latest.started_at)} UTC "
            f"on {latest.controller}: "
            f"exit {latest.exit_code if latest.exit_code is not None else 'unfinished'}"
            + (f" (stopped by {latest.ended_by})" if latest.ended_by else "")
        )
    else:
        click.echo("no run recorded yet")
    for (host, node), (outcome, at) in sorted(last.items()):
        click.echo(f"  {host:<12} {node:<14} {outcome:<11} at {_fmt(at)} UTC")
    suppressed = [(h, n) for (h, n), (o, _) in sorted(last.items()) if o == "suppressed"]
    if suppressed:
        click.echo("suppressed (not remediated): " + ", ".join(f"{h}:{n}" for h, n in suppressed))
    for p in pauses:
        until = f"until {_fmt(p.until)} UTC" if p.until else "until resumed"
        where = f"{p.node} (every host)" if p.host == "*" else f"{p.host}:{p.node}"
        click.echo(f"paused: {where} {until} by {p.created_by}: {p.reason}")
    for e in escalations:
        click.echo(f"escalated: {e.host}:{e.node} [{e.severity}] since {_fmt(e.opened_at)} UTC: {e.reason}")
    for line in fleet:
        click.echo(line)


def _fleet_status(store: StateStore) -> list[str]:
    """The fleet's lines of `remediate status` (none without workers): each worker, alive or
    not, with the hosts it served in the last tick it ran; the last tick's progress."""
    from engine.fleet.summary import fleet_summary

    fleet = fleet_summary(store)
    if fleet is None:
        return []
    lines = ["workers:"]
    for worker in fleet.workers:
        if worker.tick is None:
            what = "served nothing yet"
        else:
            hosts = worker.hosts
            shown = ", ".join(hosts[:10]) + (f" and {len(hosts) - 10} more" if len(hosts) > 10 else "")
            what = f"tick {worker.tick}: {len(hosts)} host(s): {shown}"
        state = {True: "live", False: "gone", None: "?"}[worker.live]
        lines.append(f"  {worker.name:<28} {state:<5} {what}")
    tick = fleet.last_tick
    if tick is not None:
        progress = ", ".join(f"{n} {status}" for status, n in tick.progress.items())
        lines.append(
            f"last tick {tick.tick} of {tick.playbook} at {_fmt(tick.scheduled_at)} UTC by {tick.scheduler}: "
            f"{tick.tasks} task(s), {tick.hosts} host(s): {progress}"
        )
        lines.extend(f"  {t.group}: {t.status}: {t.reason}" for t in tick.troubles)
    return lines


@click.command(
    epilog="""\b
Examples:
  remediate approvals             # the open ones: pending, or approved and not yet acted on
  remediate approvals --all --json"""
)
@click.option("--all", "everything", is_flag=True, help="answered, expired and used ones too")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
@state_option
def approvals(everything: bool, as_json: bool, state: str | None) -> None:
    """Steps waiting for an operator's approval (`approval: required`), newest first: the
    node, the step, why the node is unhealthy, the plan it would run, when it expires."""
    import json

    store = open_store(state)
    found = store.approvals(open_only=not everything)
    store.close()
    if as_json:
        for approval in found:
            click.echo(json.dumps(approval.as_json(), default=str))
        return
    if not found:
        click.echo("no approval waiting" if not everything else "no approval recorded")
        return
    for a in found:
        click.echo(
            f"{a.id}  {a.status:<9} {a.host}:{a.node}  step {a.step!r}  asked {_fmt(a.requested_at)} UTC, "
            f"expires {_fmt(a.expires_at)} UTC"
        )
        click.echo(f"    why: {a.reason}")
        for line in a.plan:
            click.echo(f"    plan: {line}")
        if a.answered_by:
            click.echo(f"    {a.note}")


def _answer(approval_id: str, approve: bool, reason: str, state: str | None) -> None:
    store = open_store(state)
    try:
        answered = store.answer_approval(
            approval_id,
            approve,
            _operator(),
            _now(),
            f"{'approved' if approve else 'denied'} by {_operator()}" + (f": {reason}" if reason else ""),
        )
    finally:
        store.close()
    click.echo(
        f"{answered.status} {answered.id}: {answered.host}:{answered.node} step {answered.step!r}"
        + (
            " (a daemon on this state store runs it within a few seconds, else the next run does;"
            " it acts only if the node is still unhealthy)"
            if approve
            else ""
        )
    )


@click.command(epilog="Example:\n\n  remediate approve 3f2a9c81d0e4")
@click.argument("approval_id", metavar="ID")
@click.option("--reason", default="", help="why (kept in the history)")
@state_option
def approve(approval_id: str, reason: str, state: str | None) -> None:
    """Approve a waiting step (see `remediate approvals`): a running daemon on the same state
    store notices within a second and runs the node at once (else the next run does); it
    re-checks the node and acts once, only if the node is still unhealthy. Who approved is
    in the history."""
    _answer(approval_id, True, reason, state)


@click.command(epilog="Example:\n\n  remediate deny 3f2a9c81d0e4 --reason 'not during the sale'")
@click.argument("approval_id", metavar="ID")
@click.option("--reason", default="", help="why (kept in the history)")
@state_option
def deny(approval_id: str, reason: str, state: str | None) -> None:
    """Deny a waiting step: its node is not touched (reported `paused`) until the request
    would have expired; then a run asks again if it is still unhealthy."""
    _answer(approval_id, False, reason, state)
