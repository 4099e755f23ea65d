"""One node's evaluation in a run: check, act, re-check, retry (the node state machine).

The steps of `remediate:` are the rungs of a ladder, climbed in order until the node is
verified healthy: a rung that did not heal (its action failed, its `wait` ran out, its fix did
not verify) leads to the next rung. An attempt ends early only when a rung marked
`stop_on_failure` fails, an action is interrupted (the run is stopping), a `when:` cannot be
evaluated, or the check itself errors.

It does no I/O of its own: probing and acting come in as callables, time as a Clock, so
every path through it is testable with fakes. The run loop (`engine.core.runner`) supplies the
real ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from checks.base import Check
from engine.core.backoff import wait_strategy
from engine.core.clock import Clock
from engine.core.results import ActionResult, ActionStatus, CheckResult, Health, Outcome
from engine.errors import TemplateProblem
from engine.playbook.models import NodeSpec, StepSpec
from engine.playbook.render import evaluate


class Mode(StrEnum):
    """What a run may do."""

    RUN = "run"
    DRY_RUN = "dry_run"
    """Check everything, change nothing, list the actions a real run would take."""
    CHECK = "check"
    """Check everything, consider no action."""


@dataclass
class StepRecord:
    """One step as it ran (or would run)."""

    step: str
    action: str
    status: str
    detail: str = ""
    attempt: int = 1
    duration_ms: float = 0.0
    artifacts: tuple[str, ...] = ()
    ignored: bool = False
    """The step failed and said `ignore_errors`: an expected failure, not a fault."""
    started_ms: float = 0.0
    """When it started, in ms after the run started (the HTML report's timeline)."""


@dataclass
class NodeResult:
    """How a node ended, why, and what was done to it."""

    host: str
    node: str
    outcome: Outcome
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = "P2"
    blocked_by: list[str] = field(default_factory=list)
    attempts: int = 0
    steps: list[StepRecord] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    """Dry-run: the steps a real run would take, arguments rendered."""
    duration_ms: float = 0.0
    started_ms: float = 0.0
    """When its evaluation started, in ms after the run started (the HTML report's timeline)."""


Probe = Callable[[Check], CheckResult]
Act = Callable[[StepSpec], ActionResult]
Event = Callable[..., None]
Gate = Callable[[CheckResult], "tuple[Outcome, str] | None"]
"""Asked before an unhealthy node is remediated: None to go ahead, or the outcome and reason
it ends with untouched (limits, pauses: see `engine.core.hooks`)."""
StepGate = Callable[[StepSpec, CheckResult], "tuple[Outcome, str] | None"]
"""Asked before a step that needs an operator's approval runs: None to run it, or the outcome
and reason the node ends with, the ladder stopped at that step (`engine.core.hooks`)."""

NO_APPROVER = "needs an operator's approval, and this run keeps no state to ask for one in"
"""Why a step needing approval does not run when nothing can approve it (no `step_gate`)."""


@dataclass
class NodeEvaluation:
    """Evaluates one node. Construct, then call `run` once."""

    host: str
    spec: NodeSpec
    probe: Probe
    act: Act
    clock: Clock
    mode: Mode = Mode.RUN
    allow_destructive: bool = False
    variables: Mapping[str, Any] = field(default_factory=dict)
    upstream_recovered: bool = False
    """An upstream node was remediated earlier in this run."""
    event: Event = lambda *args, **kwargs: None
    gate: Gate | None = None
    step_gate: StepGate | None = None
    """Approvals: asked before a step that needs one runs; without it such a step never runs."""
    epoch: float | None = None
    """`time.perf_counter()` when the run started: `started_ms` of the result and its steps
    count from it (None: from this evaluation's start)."""

    def __post_init__(self) -> None:
        self.result = NodeResult(self.host, self.spec.name, Outcome.HEALTHY, severity=self.spec.severity)
        self._attempt = 0
        self._interrupted: str | None = None
        """Why an action was interrupted (the run is stopping), or None."""
        self._condition_error: str | None = None
        """Why a step's `when:` could not be evaluated: the node then ends `error`."""
        self._stopped_at: str | None = None
        """Why the last attempt ended at a failed `stop_on_failure` rung, or None."""
        self._held: tuple[Outcome, str] | None = None
        """The ladder stopped at a step awaiting approval: the outcome and reason, or None."""

    def run(self) -> NodeResult:
        started = time.perf_counter()
        self._epoch = started if self.epoch is None else self.epoch
        self.result.started_ms = round((started - self._epoch) * 1000, 2)
        try:
            self._evaluate()
        finally:
            self.result.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return self.result

    @property
    def attempt(self) -> int:
        """The remediation attempt in progress (0 before the first)."""
        return self._attempt

    # --- the state machine -------------------------------------------------------------

    def _evaluate(self) -> None:
        if self.spec.when is not None:
            try:
                wanted = self._truth(self.spec.when, None)
            except TemplateProblem as exc:
                self._end(Outcome.ERROR, str(exc))
                return
            if not wanted:
                self._end(Outcome.SKIPPED, f"when: {self.spec.when} is false")
                return
        first = self._check("check")
        if first.health is Health.ERROR:
            self._end(Outcome.ERROR, first.reason, first.evidence)
            return
        if first.is_healthy:
            if self._restart_after_upstream_recovery():
                return
            self._end(Outcome.HEALTHY, first.reason, first.evidence)
            return
        if self.mode is Mode.CHECK:
            self._end(Outcome.UNHEALTHY, first.reason, first.evidence)
            return
        if not self.spec.remediate:
            self._end(Outcome.FAILED, f"{first.reason} (no remediation given)", first.evidence)
            return
        if self.gate is not None:
            held = self.gate(first)
            if held is not None:
                self._end(held[0], held[1], first.evidence)
                return
        if self.mode is Mode.DRY_RUN:
            self.result.plan = [self._planned(step) for step in self.spec.remediate]
            self._end(Outcome.WOULD_REMEDIATE, first.reason, first.evidence)
            return
        self._remediate(first)

    def _restart_after_upstream_recovery(self) -> bool:
        if not (
            self.upstream_recovered
            and self.spec.on_upstream_recovery == "restart"
            and self.spec.remediate
            and self.mode is Mode.RUN
        ):
            return False
        if self.gate is not None:
            held = self.gate(CheckResult.healthy("upstream recovered"))
            if held is not None:
                self._end(Outcome.HEALTHY, f"healthy; not restarted after its upstream recovered: {held[1]}")
                return True
        self._attempt = 1
        self.result.attempts = 1
        verified, last = self._attempt_steps(CheckResult.healthy("upstream recovered"))
        if self._held is not None:
            why = self._held[1]
            self._end(Outcome.HEALTHY, f"healthy; not restarted after its upstream recovered: {why}")
        elif self._interrupted is not None:
            self._end(Outcome.FAILED, f"restart after upstream recovery: {self._interrupted}")
        elif self._condition_error is not None:
            self._end(Outcome.ERROR, self._condition_error, last.evidence)
        elif verified:
            self._end(Outcome.REMEDIATED, "restarted after its upstream recovered", last.evidence)
        else:
            self._end(Outcome.FAILED, f"restart after upstream recovery: {last.reason}", last.evidence)
        return True

    def _remediate(self, first: CheckResult) -> None:
        from tenacity import RetryError, Retrying, retry_if_result, stop_after_attempt

        last = first
        retrying = Retrying(
            stop=stop_after_attempt(self.spec.retries + 1),
            wait=wait_strategy(self.spec.backoff),
            retry=retry_if_result(
                lambda verified: not verified and self._interrupted is None and self._held is None
            ),
            sleep=self._backoff_sleep,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._attempt = attempt.retry_state.attempt_number
                    self.result.attempts = self._attempt
                    verified, last = self._attempt_steps(last)
                attempt.retry_state.set_result(verified)
                if self._held is not None:
                    self._end(self._held[0], self._held[1], last.evidence)
                    return
                if self._condition_error is not None:
                    self._end(Outcome.ERROR, self._condition_error, last.evidence)
                    return
                if verified:
                    self._end(Outcome.REMEDIATED, f"fixed: {first.reason}", last.evidence)
                    return
        except RetryError:
            pass
        if self._interrupted is not None:
            self._end(Outcome.FAILED, f"{self._interrupted} (was: {first.reason})", last.evidence)
        elif self._stopped_at is not None and last.health is not Health.ERROR:
            self._end(
                Outcome.FAILED,
                f"{self._stopped_at} after {self._attempt} attempt(s) (was: {first.reason})",
                last.evidence,
            )
        elif last.health is Health.ERROR:
            self._end(Outcome.ERROR, last.reason, last.evidence)
        else:
            self._end(
                Outcome.FAILED,
                f"still unhealthy after {self._attempt} attempt(s): {last.reason}",
                last.evidence,
            )

    def _backoff_sleep(self, seconds: float) -> None:
        self.event("backoff", attempt=self._attempt, delay_s=round(seconds, 3))
        self.clock.sleep(seconds)

    def _attempt_steps(self, last: CheckResult) -> tuple[bool, CheckResult]:
        """Climb the ladder: run the steps in order, re-checking after each that ran, until
        one is verified; (verified, last check)."""
        self._stopped_at = None
        ladder = self.spec.remediate
        for index, step in enumerate(ladder):
            status = self._run_step(step, last)
            if status is ActionStatus.INTERRUPTED:
                # The run is stopping: no further step, no retry, no verification.
                self._interrupted = self.result.steps[-1].detail
                return False, last
            if self._condition_error is not None or self._held is not None:
                return False, last
            if status is ActionStatus.FAILED:
                if step.stop_on_failure:
                    detail = self.result.steps[-1].detail
                    self._stopped_at = f"step {step.title!r} failed ({detail}) and stops the ladder"
                    return False, last
                # A failed rung did not heal the node: the next rung is its chance.
                continue
            if status in (ActionStatus.OK, ActionStatus.CHANGED):
                # A change is given the `verify` window to show, unless a watching step (a
                # `wait`) comes next: that step is the window, and it gives up early when the
                # change cannot heal (verifying twice cost a whole window per rung).
                watched_next = index + 1 < len(ladder) and ladder[index + 1].action.observes
                settle = status is ActionStatus.CHANGED and not watched_next
                verified, last = self._verify(settle=settle)
                if verified:
                    return True, last
                if last.health is Health.ERROR:
                    return False, last
        return False, last

    def _run_step(self, step: StepSpec, last: CheckResult) -> ActionStatus:
        if step.when is not None:
            try:
                wanted = self._truth(step.when, last)
            except TemplateProblem as exc:
                # A condition that cannot be evaluated says nothing about the node's health:
                # the node is an `error`, like a check that cannot look; no further step runs.
                self._condition_error = f"step {step.title!r}: {exc}"
                return self._record(step, ActionResult.failed(str(exc)))
            if not wanted:
                return self._record(step, ActionResult(ActionStatus.SKIPPED, f"when: {step.when} is false"))
        if step.unless is not None:
            guard = self.probe(step.unless)
            if guard.is_healthy:
                return self._record(step, ActionResult.ok(f"not needed: {guard.reason}".rstrip(": ")))
        refusal = self._refusal(step)
        if refusal:
            return self._record(step, ActionResult(ActionStatus.REFUSED, refusal))
        if self.spec.needs_approval(step):
            held = (
                (Outcome.AWAITING_APPROVAL, NO_APPROVER)
                if self.step_gate is None
                else self.step_gate(step, last)
            )
            if held is not None:
                # The ladder stops here, untouched from this rung on, until an operator answers.
                self._held = held
                return self._record(step, ActionResult(ActionStatus.SKIPPED, held[1]), waiting=held[0])
        started = time.perf_counter()
        result = self.act(step)
        return self._record(step, result, (time.perf_counter() - started) * 1000)

    def _refusal(self, step: StepSpec) -> str | None:
        return refusal(step, self.allow_destructive)

    def _verify(self, settle: bool) -> tuple[bool, CheckResult]:
        """Poll the check until it passes `successes` times in a row, or `within` runs out.

        Only a step that changed something (`settle`) is given the window to take effect; after
        an `ok` step (saved logs, a guard that said "not needed", a `wait` that already saw the
        check pass) an unhealthy answer ends verification at once, so the next step runs."""
        verify = self.spec.verify
        deadline = self.clock.monotonic() + verify.within
        streak = 0
        while True:
            result = self._check("verify")
            if result.health is Health.ERROR or (not settle and not result.is_healthy):
                return False, result
            streak = streak + 1 if result.is_healthy else 0
            if streak >= verify.successes:
                return True, result
            if self.clock.monotonic() + verify.interval > deadline:
                if result.is_healthy:
                    result = CheckResult.unhealthy(
                        f"healthy, but not {verify.successes} times in a row within {verify.within:g}s"
                    )
                return False, result
            self.clock.sleep(verify.interval)

    # --- helpers ---------------------------------------------------------------------

    def _check(self, phase: str) -> CheckResult:
        started = time.perf_counter()
        result = self.probe(self.spec.check)
        self.event(
            phase,
            check=self.spec.check.type_key,
            attempt=self._attempt,
            outcome=str(result.health),
            reason=result.reason,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return result

    def _record(
        self, step: StepSpec, result: ActionResult, duration_ms: float = 0.0, waiting: Outcome | None = None
    ) -> ActionStatus:
        """Record a step as it ended; `waiting` is shown as its status instead when the ladder
        stopped at it (awaiting approval)."""
        record = StepRecord(
            step=step.title,
            action=step.action.type_key,
            status=str(waiting or result.status),
            detail=result.detail,
            attempt=self._attempt,
            duration_ms=round(duration_ms, 2),
            artifacts=result.artifacts,
            ignored=result.status is ActionStatus.FAILED and step.ignore_errors,
            started_ms=round((time.perf_counter() - self._epoch) * 1000 - duration_ms, 2),
        )
        self.result.steps.append(record)
        self.event(
            "action",
            action=record.action,
            step=record.step,
            attempt=record.attempt,
            outcome=record.status,
            reason=record.detail,
            duration_ms=record.duration_ms,
            **({"ignored": True} if record.ignored else {}),
        )
        return result.status

    def _planned(self, step: StepSpec) -> str:
        return planned_step(step, self._refusal(step), self.spec.needs_approval(step))

    def _truth(self, expression: str, check: CheckResult | None) -> bool:
        context = {**self.variables, **self.spec.loop_vars}
        if check is not None:
            context["check"] = {
                "health": str(check.health),
                "reason": check.reason,
                "evidence": check.evidence,
            }
        return evaluate(expression, context)

    def _end(self, outcome: Outcome, reason: str, evidence: dict[str, Any] | None = None) -> None:
        self.result.outcome = outcome
        self.result.reason = reason
        self.result.evidence = dict(evidence or {})


def refusal(step: StepSpec, allow_destructive: bool) -> str | None:
    """Why a step may not run, or None. A step is destructive when it says so
    (`destructive: true`, whatever its action) or when its action deletes data in itself (a
    purge, a DELETE); either way it runs only with the playbook's consent on the step *and*
    --allow-destructive on the command line."""
    if not (step.destructive or step.action.is_destructive()):
        return None
    missing = []
    if not step.destructive:
        missing.append("the playbook step does not say destructive: true")
    if not allow_destructive:
        missing.append("the command line does not say --allow-destructive")
    if not missing:
        return None
    return "refused, destructive: " + " and ".join(missing)


def planned_step(step: StepSpec, refusal: str | None = None, approval: bool = False) -> str:
    """A dry-run plan line: the step's name, its action with arguments, and the conditions
    under which it would run (when, unless, a refusal, waiting for an operator's approval)."""
    line = step.action.describe()
    if step.name:
        line = f"{step.name}: {line}"
    notes = []
    if step.when is not None:
        notes.append(f"when {step.when}")
    if step.unless is not None:
        notes.append(f"unless {step.unless.type_key} check passes")
    if step.stop_on_failure:
        notes.append("stops the ladder when it fails")
    if step.ignore_errors:
        notes.append("a failure is ignored")
    if refusal:
        notes.append(refusal)
    elif approval:
        notes.append("waits for an operator's approval")
    return line + (f" [{'; '.join(notes)}]" if notes else "")
