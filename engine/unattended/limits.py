"""Whether a run may remediate an unhealthy node, given what the engine remembers of it
(pure logic: the memory and the time come in as arguments, nothing is read or written here).

The rules, in the order they are applied (the first that holds decides):

1. paused by an operator (`remediate pause`)                   -> paused
2. inside a maintenance window                                 -> paused
3. the check says an operator stopped it (evidence
   ``stopped_by_operator: true``), unless the node says
   ``act_when_stopped_by_operator: true``                       -> paused
4. starting: the check's evidence says ``state: starting`` or
   ``restarting`` (or ``health: starting``), or an action ran
   less than ``start_period`` ago                              -> starting
5. flapping: its health changed more than ``flapping.changes``
   times within ``flapping.within``                             -> suppressed, escalates
6. limit: ``limit.max`` remediation attempts already made within
   ``limit.within``                                            -> suppressed, escalates
7. backoff: its last remediation failed, and the delay after
   ``failures`` failed runs (initial * factor ** (failures - 1),
   capped) has not passed                                      -> backoff

Escalation (what the run tells a person, once per node while the escalation is open):

- a node that ends ``failed`` after an action ran has climbed its whole ladder, every
  attempt, and is still down: the run escalates with the node's severity
  (`ladder_spent_reason`);
- rules 5 and 6 escalate too; when the node's escalation is already open because its
  ladder was spent, it is sent once more with the new reason (the engine has now stopped
  trying: `renotify`); any other open escalation is not sent again.

An *attempt* is one pass over the node's steps in which at least one action ran (a run with
``retries: 2`` can make three); runs that do not act do not count (Monit counts cycles, and its
limits drift with the cron interval). Attempts, failures and state changes are forgotten only
when the node has been seen healthy for ``limit.reset_after`` without a break (like
Kubernetes' 10 healthy minutes), or by `remediate reset`; a single healthy check does not
reset anything (Monit's early-reset defect) and nothing else does (its never-reset defect).
Attempts also leave the count when they fall out of the ``limit.within`` window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from engine.core.durations import format_duration
from engine.core.results import Outcome
from engine.playbook.models import NodeSpec
from engine.playbook.unattended import LimitSpec, MaintenanceWindow, RunBackoffSpec
from engine.unattended.maintenance import active_window
from engine.unattended.state.base import HEALTHY, UNHEALTHY, Attempt, NodeState, Pause

STARTING_STATES = frozenset({"starting", "restarting"})
"""Evidence values (``state`` or ``health``) that mean a service is still coming up."""

DEFAULT_RESET_AFTER = LimitSpec().reset_after

# Outcomes that observed the node unhealthy at its first check.
_SEEN_UNHEALTHY = frozenset(
    {
        Outcome.REMEDIATED,
        Outcome.FAILED,
        Outcome.SUPPRESSED,
        Outcome.BACKOFF,
        Outcome.PAUSED,
        Outcome.STARTING,
        Outcome.UNHEALTHY,
        Outcome.WOULD_REMEDIATE,
    }
)


@dataclass(frozen=True)
class Memory:
    """What the engine remembers of one node (read from the state store)."""

    state: NodeState
    attempts: Sequence[Attempt] = ()
    """Its attempts, at least those inside the limit window, oldest first."""
    transitions: Sequence[tuple[datetime, str]] = ()
    """Its health changes, at least those inside the flapping window."""
    pause: Pause | None = None


@dataclass(frozen=True)
class Decision:
    """Not to act: the outcome the node ends with, why, and whether the run escalates."""

    outcome: Outcome
    reason: str
    escalate: bool = False
    until: datetime | None = None
    """When this hold ends by itself, if it does."""
    details: dict[str, Any] = field(default_factory=dict)


def reset_after(spec: NodeSpec) -> float:
    return spec.limit.reset_after if spec.limit else DEFAULT_RESET_AFTER


def _forgotten_before(state: NodeState, since: datetime) -> datetime:
    return max(since, state.reset_at) if state.reset_at else since


def counted_attempts(
    attempts: Sequence[Attempt], state: NodeState, limit: LimitSpec, now: datetime
) -> list[Attempt]:
    """The first action of each remediation attempt that still counts against the limit."""
    start = _forgotten_before(state, now - timedelta(seconds=limit.within))
    seen: dict[tuple[str, int], Attempt] = {}
    for attempt in attempts:
        if attempt.started_at > start:
            seen.setdefault((attempt.run_id, attempt.attempt), attempt)
    return sorted(seen.values(), key=lambda a: a.started_at)


def state_changes(
    transitions: Sequence[tuple[datetime, str]], state: NodeState, within: float, now: datetime, current: str
) -> int:
    """Health changes inside the window, counting the one the current check makes."""
    start = _forgotten_before(state, now - timedelta(seconds=within))
    changes = sum(1 for at, _ in transitions if at > start)
    if state.state is not None and state.state != current:
        changes += 1
    return changes


def backoff_delay(spec: RunBackoffSpec, failures: int) -> float:
    """Seconds runs leave a node alone after `failures` failed runs in a row."""
    if failures <= 0 or spec.initial <= 0:
        return 0.0
    return float(min(spec.initial * spec.factor ** (failures - 1), spec.max))


def is_starting(evidence: dict[str, Any]) -> bool:
    """The generic startup rule on check evidence (a docker check reports its container
    ``state: starting|restarting`` or ``health: starting``)."""
    return any(str(evidence.get(key, "")).lower() in STARTING_STATES for key in ("state", "health"))


def _last_action_at(attempts: Sequence[Attempt]) -> datetime | None:
    if not attempts:
        return None
    last = attempts[-1]
    return last.finished_at or last.started_at


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def decide(
    spec: NodeSpec,
    memory: Memory,
    evidence: dict[str, Any],
    now: datetime,
    maintenance: Sequence[MaintenanceWindow] = (),
) -> Decision | None:
    """None when the run may remediate this (unhealthy) node; else why not (rules above)."""
    pause = memory.pause
    if pause is not None:
        lasting = f" until {_when(pause.until)}" if pause.until else ""
        return Decision(
            Outcome.PAUSED, f"paused by {pause.created_by}{lasting}: {pause.reason}", until=pause.until
        )
    window = active_window(maintenance, spec.name, now)
    if window is not None:
        return Decision(Outcome.PAUSED, f"{window[0].reason} until {_when(window[1])}", until=window[1])
    if evidence.get("stopped_by_operator") is True and not spec.act_when_stopped_by_operator:
        return Decision(Outcome.PAUSED, "stopped by an operator (act_when_stopped_by_operator is not set)")
    if is_starting(evidence):
        return Decision(Outcome.STARTING, "its check says it is starting; left alone")
    last_action = _last_action_at(memory.attempts)
    if spec.start_period and last_action is not None:
        grace_ends = last_action + timedelta(seconds=spec.start_period)
        if now < grace_ends:
            return Decision(
                Outcome.STARTING,
                f"inside its start_period ({format_duration(spec.start_period)}) after the action "
                f"at {_when(last_action)}",
                until=grace_ends,
            )
    if spec.flapping is not None:
        changes = state_changes(memory.transitions, memory.state, spec.flapping.within, now, UNHEALTHY)
        if changes > spec.flapping.changes:
            return Decision(
                Outcome.SUPPRESSED,
                f"flapping: {changes} state changes within {format_duration(spec.flapping.within)} "
                f"(more than {spec.flapping.changes})",
                escalate=True,
                details={"rule": "flapping", "changes": changes},
            )
    if spec.limit is not None:
        counted = counted_attempts(memory.attempts, memory.state, spec.limit, now)
        if len(counted) >= spec.limit.max:
            until = counted[-spec.limit.max].started_at + timedelta(seconds=spec.limit.within)
            return Decision(
                Outcome.SUPPRESSED,
                f"limit reached: {len(counted)} remediation attempts within "
                f"{format_duration(spec.limit.within)} (max {spec.limit.max}); left alone until "
                f"{_when(until)} or until `remediate reset {spec.name}`",
                escalate=True,
                until=until,
                details={"rule": "limit", "attempts": len(counted)},
            )
    state = memory.state
    delay = backoff_delay(spec.run_backoff, state.failures)
    if delay and state.last_failure_at is not None:
        retry_at = state.last_failure_at + timedelta(seconds=delay)
        if now < retry_at:
            return Decision(
                Outcome.BACKOFF,
                f"backing off after {state.failures} failed run(s): next try after {_when(retry_at)}",
                until=retry_at,
            )
    return None


def observe(
    state: NodeState, outcome: Outcome, attempted: bool, now: datetime, reset_after_s: float
) -> tuple[NodeState, list[tuple[datetime, str]]]:
    """The node's memory after a run ended it with `outcome` (`attempted`: an action ran),
    and the health changes to record. Errors, blocked and skipped nodes were not seen, so
    they change nothing."""
    if outcome is Outcome.HEALTHY or outcome is Outcome.REMEDIATED:
        # The first observation of a node is its initial state, not a change.
        changes: list[tuple[datetime, str]] = []
        if outcome is Outcome.REMEDIATED:
            if state.state == HEALTHY:
                changes.append((now, UNHEALTHY))
            changes.append((now, HEALTHY))
        elif state.state == UNHEALTHY:
            changes.append((now, HEALTHY))
        continuing = state.state == HEALTHY and outcome is Outcome.HEALTHY
        streak_start = (state.healthy_since or now) if continuing else now
        new = replace(state, state=HEALTHY, healthy_since=streak_start)
        if changes or state.state is None:
            new.state_since = now
        if now - streak_start >= timedelta(seconds=reset_after_s) and (
            state.reset_at is None or state.reset_at < streak_start
        ):
            # Healthy without a break for reset_after: forget what came before the streak.
            new.reset_at = streak_start
            new.failures = 0
            new.last_failure_at = None
        return new, changes
    if outcome not in _SEEN_UNHEALTHY:
        return state, []
    changes = [(now, UNHEALTHY)] if state.state == HEALTHY else []
    new = replace(state, state=UNHEALTHY, healthy_since=None)
    if changes or state.state is None:
        new.state_since = now
    if outcome is Outcome.FAILED and attempted:
        new.failures = state.failures + 1
        new.last_failure_at = now
    return new, changes


LADDER_SPENT = "still down after its whole ladder"
"""How the reason of an escalation opened by a spent ladder begins (`renotify` reads it)."""


def ladder_spent_reason(
    outcome: Outcome, attempted: bool, rungs: int, attempts: int, reason: str
) -> str | None:
    """Why the run escalates a node that climbed its whole ladder and is still down, or None
    when it did not (it ended otherwise, or no action ran: a report-only node, a held-back
    one, or one whose action a stopped run interrupted)."""
    if outcome is not Outcome.FAILED or not attempted:
        return None
    tried = (
        f"{rungs} rung{'s' if rungs != 1 else ''} tried in {attempts} attempt{'s' if attempts != 1 else ''}"
    )
    return f"{LADDER_SPENT} ({tried}): {reason}" if reason else f"{LADDER_SPENT} ({tried})"


def renotify(open_reason: str) -> bool:
    """Whether a hold that escalates (limit, flapping) sends the node's open escalation again:
    only when the ladder opened it, so a person hears once that the engine stopped trying."""
    return open_reason.startswith(LADDER_SPENT)


def reset(state: NodeState, now: datetime) -> NodeState:
    """An operator's `remediate reset`: forget attempts, failures and state changes so far."""
    return replace(state, reset_at=now, failures=0, last_failure_at=None)


def blast_radius_exceeded(unhealthy: int, total: int, share: float | None) -> bool:
    """More than `share` of all nodes unhealthy at once: a network or host problem, not many
    independent faults, so the run acts on none of them."""
    return share is not None and total > 0 and unhealthy / total > share
