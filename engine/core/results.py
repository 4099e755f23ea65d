"""What checks and actions return, and how a node ends in a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def tail(text: str, lines: int = 5) -> str:
    """The last lines of a command's output (evidence, not a log)."""
    return "\n".join(text.strip().splitlines()[-lines:])


def tail_line(text: str, lines: int = 3) -> str:
    """The last lines of a command's output on one line (` | ` between), for a reason."""
    return " | ".join(text.strip().splitlines()[-lines:])


class Health(StrEnum):
    """The three answers a check can give."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    ERROR = "error"
    """The probe itself could not run (host unreachable, misconfigured); never acted on."""


@dataclass(frozen=True)
class CheckResult:
    """One probe's answer, with a reason and the evidence that led to it."""

    health: Health
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def healthy(cls, reason: str = "", **evidence: Any) -> CheckResult:
        return cls(Health.HEALTHY, reason, evidence)

    @classmethod
    def unhealthy(cls, reason: str, **evidence: Any) -> CheckResult:
        return cls(Health.UNHEALTHY, reason, evidence)

    @classmethod
    def error(cls, reason: str, **evidence: Any) -> CheckResult:
        return cls(Health.ERROR, reason, evidence)

    @property
    def is_healthy(self) -> bool:
        return self.health is Health.HEALTHY


class ActionStatus(StrEnum):
    """How one action ended."""

    OK = "ok"
    """Nothing to do: the system already was as the action would make it."""
    CHANGED = "changed"
    FAILED = "failed"
    REFUSED = "refused"
    """Not run because it is destructive and not allowed twice (playbook and command line)."""
    SKIPPED = "skipped"
    """Its `when` was false or its `unless` guard said it is not needed."""
    INTERRUPTED = "interrupted"
    """Killed because the run was stopped by a signal (`engine.core.stopping`)."""


@dataclass(frozen=True)
class ActionResult:
    """One action's outcome."""

    status: ActionStatus
    detail: str = ""
    artifacts: tuple[str, ...] = ()
    """Files the action wrote (saved logs, ...), linked from the report."""

    @classmethod
    def ok(cls, detail: str = "") -> ActionResult:
        return cls(ActionStatus.OK, detail)

    @classmethod
    def changed(cls, detail: str = "", artifacts: tuple[str, ...] = ()) -> ActionResult:
        return cls(ActionStatus.CHANGED, detail, artifacts)

    @classmethod
    def failed(cls, detail: str) -> ActionResult:
        return cls(ActionStatus.FAILED, detail)


class Outcome(StrEnum):
    """How a node ends in a run."""

    HEALTHY = "healthy"
    REMEDIATED = "remediated"
    """Was unhealthy, an action fixed it, and the check verified the fix."""
    FAILED = "failed"
    """Still unhealthy after every attempt."""
    BLOCKED = "blocked"
    """An upstream node is not healthy; this node was neither checked to blame nor touched."""
    SKIPPED = "skipped"
    ERROR = "error"
    WOULD_REMEDIATE = "would_remediate"
    """Dry-run: unhealthy, and these are the actions a real run would take."""
    UNHEALTHY = "unhealthy"
    """`remediate check`: unhealthy, and no action is considered."""
    SUPPRESSED = "suppressed"
    """Unhealthy, not touched: its remediation limit is spent, it is flapping, too many nodes
    are unhealthy at once (blast radius) or the run used up `max_actions_per_run`. Escalates."""
    BACKOFF = "backoff"
    """Unhealthy, not touched: a remediation failed in an earlier run and the delay before the
    next try (growing with each failure, like CrashLoopBackOff) has not passed."""
    PAUSED = "paused"
    """Unhealthy, not touched: an operator paused it, a maintenance window covers it, or an
    operator stopped it by hand."""
    STARTING = "starting"
    """Unhealthy, not touched: it is inside its `start_period` after an action, or its check
    says it is starting."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Unhealthy, not touched further: the ladder reached a step that says `approval:
    required` (or the node does) and no operator has approved it yet; a pending approval is
    recorded and the next run after an approval acts."""

    @property
    def is_good(self) -> bool:
        """Counts as healthy for dependents and for the exit status. Nodes held back from
        remediation (suppressed, backoff, paused, starting, awaiting approval) are unhealthy,
        so they are not good: their dependents are blocked and the exit status is 1."""
        return self in (Outcome.HEALTHY, Outcome.REMEDIATED, Outcome.SKIPPED)
