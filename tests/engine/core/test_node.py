"""The node state machine with scripted probes and actions (no I/O): one path each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.command import CommandCheck
from engine.core.node import Mode, NodeEvaluation
from engine.core.results import ActionResult, ActionStatus, CheckResult, Outcome
from engine.playbook.models import BackoffSpec, NodeSpec, StepSpec, VerifySpec
from remediations.command import CommandAction
from remediations.wait import WaitAction
from tests.support.clock import FakeClock

HEALTHY = CheckResult.healthy("up")
DOWN = CheckResult.unhealthy("down")
BROKEN = CheckResult.error("cannot look")


class Script:
    """Probe answers in order (the last repeats), or healthy once a healing step has run;
    and a log of the steps run."""

    def __init__(
        self,
        answers: Iterable[CheckResult],
        action_results: dict[str, ActionResult] | None = None,
        healed_by: str | None = None,
    ):
        self.answers = list(answers)
        self.probes = 0
        self.acted: list[str] = []
        self.action_results = action_results or {}
        self.healed_by = healed_by

    def probe(self, check: Any) -> CheckResult:
        self.probes += 1
        if self.healed_by is not None:
            return HEALTHY if self.healed_by in self.acted else DOWN
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def act(self, step: StepSpec) -> ActionResult:
        self.acted.append(step.title)
        return self.action_results.get(step.title, ActionResult.changed())


def step(name: str, **fields: Any) -> StepSpec:
    return StepSpec(action=CommandAction(cmd=name), name=name, **fields)


def node(*steps: StepSpec, **fields: Any) -> NodeSpec:
    fields.setdefault("backoff", BackoffSpec(initial=1, factor=2, max=30, jitter=False))
    return NodeSpec(name="svc", check=CommandCheck(cmd="probe"), remediate=list(steps), **fields)


def evaluate(spec: NodeSpec, script: Script, clock: FakeClock | None = None, **options: Any) -> Any:
    return NodeEvaluation("h", spec, script.probe, script.act, clock or FakeClock(), **options).run()


def test_a_healthy_node_is_left_alone() -> None:
    script = Script([HEALTHY])
    result = evaluate(node(step("restart")), script)
    assert (result.outcome, script.acted) == (Outcome.HEALTHY, [])


def test_an_unhealthy_node_is_fixed_by_its_first_step_and_verified() -> None:
    script = Script([DOWN, HEALTHY])
    result = evaluate(node(step("restart"), step("rebuild")), script)
    assert (result.outcome, script.acted, script.probes) == (Outcome.REMEDIATED, ["restart"], 2)


def test_later_steps_run_only_when_earlier_ones_did_not_heal() -> None:
    script = Script([], healed_by="restart")
    result = evaluate(node(step("migrate"), step("restart"), step("rebuild")), script)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["migrate", "restart"])


def test_a_fix_gets_the_verify_window_to_take_effect() -> None:
    clock = FakeClock()
    script = Script([DOWN, DOWN, DOWN, HEALTHY])
    spec = node(step("restart"), step("rebuild"), verify=VerifySpec(within=5, interval=1))
    result = evaluate(spec, script, clock)
    assert (result.outcome, script.acted, clock.sleeps) == (Outcome.REMEDIATED, ["restart"], [1, 1])


def test_a_step_that_changed_nothing_gets_no_window_the_next_step_runs_at_once() -> None:
    clock = FakeClock()
    script = Script([], {"save logs": ActionResult.ok("saved")}, healed_by="restart")
    result = evaluate(node(step("save logs"), step("restart"), verify=VerifySpec(within=30)), script, clock)
    assert (result.outcome, script.acted, clock.sleeps) == (Outcome.REMEDIATED, ["save logs", "restart"], [])


def test_a_fix_followed_by_a_wait_is_looked_at_once_the_wait_is_its_window() -> None:
    clock = FakeClock()
    script = Script([], {"wait": ActionResult.failed("gave up: exited")}, healed_by="rollback")
    ladder = (step("restart"), StepSpec(action=WaitAction(), name="wait"), step("rollback"))
    result = evaluate(node(*ladder, verify=VerifySpec(within=30, interval=1)), script, clock)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["restart", "wait", "rollback"])
    assert clock.sleeps == []


def test_a_fix_that_does_not_take_effect_within_the_window_moves_on() -> None:
    clock = FakeClock()
    script = Script([DOWN])
    result = evaluate(node(step("restart"), verify=VerifySpec(within=3, interval=1)), script, clock)
    assert (result.outcome, clock.sleeps) == (Outcome.FAILED, [1, 1, 1])


def test_an_error_is_reported_and_never_acted_on() -> None:
    script = Script([BROKEN])
    result = evaluate(node(step("restart")), script)
    assert (result.outcome, result.reason, script.acted) == (Outcome.ERROR, "cannot look", [])


QUICK = VerifySpec(within=0)


def test_retries_wait_by_the_backoff_schedule_between_attempts() -> None:
    clock = FakeClock()
    script = Script([DOWN])
    result = evaluate(node(step("restart"), retries=3, verify=QUICK), script, clock)
    assert result.outcome is Outcome.FAILED
    assert result.attempts == 4
    assert script.acted == ["restart"] * 4
    assert clock.sleeps == [1, 2, 4]


def test_a_node_recovering_on_a_retry_is_remediated() -> None:
    clock = FakeClock()
    script = Script([DOWN, DOWN, HEALTHY])
    result = evaluate(node(step("restart"), retries=5, verify=QUICK), script, clock)
    assert (result.outcome, result.attempts, clock.sleeps) == (Outcome.REMEDIATED, 2, [1])


def test_a_failed_rung_leads_to_the_next_rung() -> None:
    script = Script([], {"migrate": ActionResult.failed("exit 1")}, healed_by="restart")
    result = evaluate(node(step("migrate"), step("restart")), script)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["migrate", "restart"])
    assert [s.status for s in result.steps] == ["failed", "changed"]


def test_a_wait_that_ran_out_leads_to_the_next_rung() -> None:
    ran_out = {"wait": ActionResult.failed("still unhealthy after 30s: down")}
    script = Script([], ran_out, healed_by="rebuild")
    result = evaluate(node(step("restart"), step("wait"), step("rebuild"), verify=QUICK), script)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["restart", "wait", "rebuild"])


def test_a_failed_rung_that_stops_on_failure_ends_the_attempt() -> None:
    script = Script([], {"fence": ActionResult.failed("no quorum")}, healed_by="restart")
    result = evaluate(node(step("fence", stop_on_failure=True), step("restart")), script)
    assert (result.outcome, script.acted) == (Outcome.FAILED, ["fence"])
    assert result.reason == "step 'fence' failed (no quorum) and stops the ladder after 1 attempt(s) (was: down)"


def test_a_rung_that_stops_on_failure_is_retried_by_the_next_attempt() -> None:
    script = Script([], {"fence": ActionResult.failed("no quorum")}, healed_by="restart")
    result = evaluate(node(step("fence", stop_on_failure=True), step("restart"), retries=2), script)
    assert (result.outcome, result.attempts, script.acted) == (Outcome.FAILED, 3, ["fence"] * 3)


def test_a_rung_that_stops_on_failure_and_succeeds_lets_the_ladder_go_on() -> None:
    script = Script([], healed_by="restart")
    result = evaluate(node(step("fence", stop_on_failure=True), step("restart"), verify=QUICK), script)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["fence", "restart"])


def test_an_ignored_failure_is_reported_as_ignored() -> None:
    script = Script([], {"migrate": ActionResult.failed("exit 1")}, healed_by="restart")
    result = evaluate(node(step("migrate", ignore_errors=True), step("restart")), script)
    assert [(s.status, s.ignored) for s in result.steps] == [("failed", True), ("changed", False)]


def test_a_failure_not_marked_ignore_errors_is_reported_as_a_fault() -> None:
    script = Script([], {"migrate": ActionResult.failed("exit 1")}, healed_by="restart")
    result = evaluate(node(step("migrate"), step("restart")), script)
    assert result.steps[0].ignored is False


def test_every_rung_tried_is_an_event_with_its_outcome() -> None:
    events: list[dict[str, Any]] = []
    script = Script([], {"restart": ActionResult.failed("exit 1")}, healed_by="rebuild")
    spec = node(step("logs", ignore_errors=True), step("restart"), step("rebuild"), verify=QUICK)
    evaluate(spec, script, event=lambda kind, **fields: events.append({"kind": kind, **fields}))
    actions = [(e["step"], e["outcome"]) for e in events if e["kind"] == "action"]
    assert actions == [("logs", "changed"), ("restart", "failed"), ("rebuild", "changed")]


def test_the_dry_run_plan_shows_how_each_rung_fails() -> None:
    spec = node(step("fence", stop_on_failure=True), step("logs", ignore_errors=True), step("rebuild"))
    plan = evaluate(spec, Script([DOWN]), mode=Mode.DRY_RUN).plan
    assert plan == [
        "fence: command: fence [stops the ladder when it fails]",
        "logs: command: logs [a failure is ignored]",
        "rebuild: command: rebuild",
    ]


def test_verification_needs_the_stated_number_of_consecutive_passes() -> None:
    spec = node(step("restart"), verify=VerifySpec(successes=3, within=10, interval=1))
    flapping = Script([DOWN, HEALTHY, HEALTHY, DOWN, HEALTHY, DOWN])
    result = evaluate(spec, flapping, FakeClock())
    assert result.outcome is Outcome.FAILED
    steady = Script([DOWN, HEALTHY, HEALTHY, HEALTHY])
    assert evaluate(spec, steady, FakeClock()).outcome is Outcome.REMEDIATED


def test_dry_run_plans_the_steps_and_runs_none() -> None:
    script = Script([DOWN])
    result = evaluate(node(step("restart"), step("rebuild")), script, mode=Mode.DRY_RUN)
    assert result.outcome is Outcome.WOULD_REMEDIATE
    assert result.plan == ["restart: command: restart", "rebuild: command: rebuild"]
    assert script.acted == []


def test_check_mode_reports_unhealthy_without_a_plan() -> None:
    script = Script([DOWN])
    result = evaluate(node(step("restart")), script, mode=Mode.CHECK)
    assert (result.outcome, result.plan, script.acted) == (Outcome.UNHEALTHY, [], [])


def test_a_node_without_remediation_fails_with_its_reason() -> None:
    result = evaluate(node(), Script([DOWN]))
    assert (result.outcome, result.reason) == (Outcome.FAILED, "down (no remediation given)")


def test_restart_after_upstream_recovery_runs_the_steps_of_a_healthy_node_once() -> None:
    script = Script([HEALTHY])
    result = evaluate(node(step("restart"), on_upstream_recovery="restart"), script, upstream_recovered=True)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["restart"])


def test_without_upstream_recovery_a_restart_node_is_not_restarted() -> None:
    script = Script([HEALTHY])
    result = evaluate(node(step("restart"), on_upstream_recovery="restart"), script, upstream_recovered=False)
    assert (result.outcome, script.acted) == (Outcome.HEALTHY, [])


def test_a_destructive_step_is_refused_unless_allowed_twice() -> None:
    purge = StepSpec(action=DestructiveAction(cmd="purge"), name="purge", destructive=True)
    script = Script([DOWN])
    result = evaluate(node(purge), script)
    assert script.acted == []
    assert result.steps[0].status == "refused"
    assert "--allow-destructive" in result.steps[0].detail
    script = Script([DOWN, HEALTHY])
    assert evaluate(node(purge), script, allow_destructive=True).outcome is Outcome.REMEDIATED
    assert script.acted == ["purge"]


def test_a_destructive_step_without_the_playbooks_consent_is_refused_even_when_allowed() -> None:
    purge = StepSpec(action=DestructiveAction(cmd="purge"), name="purge")
    script = Script([DOWN])
    result = evaluate(node(purge), script, allow_destructive=True)
    assert (script.acted, result.steps[0].status) == ([], "refused")
    assert "destructive: true" in result.steps[0].detail


def test_a_step_marked_destructive_is_refused_without_the_flag_whatever_its_action() -> None:
    wipe = step("wipe", destructive=True)  # a plain command: not destructive in itself
    script = Script([DOWN])
    result = evaluate(node(wipe), script)
    assert (script.acted, result.steps[0].status) == ([], "refused")
    assert "--allow-destructive" in result.steps[0].detail
    script = Script([DOWN, HEALTHY])
    assert evaluate(node(wipe), script, allow_destructive=True).outcome is Outcome.REMEDIATED
    assert script.acted == ["wipe"]


def test_the_dry_run_plan_marks_a_step_marked_destructive_refused_without_the_flag() -> None:
    wipe = step("wipe", destructive=True)
    (line,) = evaluate(node(wipe), Script([DOWN]), mode=Mode.DRY_RUN).plan
    assert "refused, destructive: the command line does not say --allow-destructive" in line
    (allowed,) = evaluate(node(wipe), Script([DOWN]), mode=Mode.DRY_RUN, allow_destructive=True).plan
    assert "refused" not in allowed


def test_an_interrupted_step_ends_the_node_without_further_steps_or_retries() -> None:
    stopped = ActionResult(ActionStatus.INTERRUPTED, "interrupted: the run was stopped by SIGTERM")
    script = Script([DOWN], action_results={"restart": stopped})
    result = evaluate(node(step("restart", ignore_errors=True), step("rebuild"), retries=2), script)
    assert (result.outcome, result.attempts, script.acted) == (Outcome.FAILED, 1, ["restart"])
    assert result.reason == "interrupted: the run was stopped by SIGTERM (was: down)"


def test_a_step_whose_unless_guard_passes_is_ok_without_running() -> None:
    guarded = step("migrate", unless=CommandCheck(cmd="alembic current"))
    script = Script([DOWN, HEALTHY, HEALTHY])
    result = evaluate(node(guarded), script)
    assert script.acted == []
    assert result.steps[0].status == "ok"
    assert result.steps[0].detail == "not needed: up"
    # the guard's pass is followed by a re-check, which found the node healthy
    assert (result.outcome, script.probes) == (Outcome.REMEDIATED, 3)


def test_a_step_whose_unless_guard_fails_runs() -> None:
    guarded = step("migrate", unless=CommandCheck(cmd="alembic current"))
    script = Script([DOWN, DOWN, HEALTHY])
    result = evaluate(node(guarded), script)
    assert (result.outcome, script.acted, result.steps[0].status) == (Outcome.REMEDIATED, ["migrate"], "changed")


def test_a_step_whose_when_is_false_is_skipped() -> None:
    script = Script([DOWN])
    evaluate(node(step("restart", when="check.reason == 'oom'"), verify=QUICK), script)
    assert script.acted == []
    script = Script([CheckResult.unhealthy("oom"), HEALTHY])
    evaluate(node(step("restart", when="check.reason == 'oom'")), script)
    assert script.acted == ["restart"]


def test_a_node_whose_when_is_false_is_skipped_without_a_check() -> None:
    script = Script([DOWN])
    result = evaluate(node(step("restart"), when="env == 'prod'"), script, variables={"env": "dev"})
    assert (result.outcome, script.probes) == (Outcome.SKIPPED, 0)


class DestructiveAction(CommandAction):
    destructive = True


def test_a_step_whose_when_cannot_be_evaluated_ends_the_node_as_error_without_acting() -> None:
    script = Script([CheckResult.unhealthy("down", free=0)])
    spec = node(step("save logs"), step("restart", when="100 / check.evidence.free > 1"), step("rebuild"))
    result = evaluate(spec, script, clock=FakeClock())
    assert result.outcome is Outcome.ERROR
    assert "step 'restart'" in result.reason and "ZeroDivisionError" in result.reason
    assert script.acted == ["save logs"]


def test_a_node_whose_when_fails_at_run_time_is_an_error_not_a_traceback() -> None:
    script = Script([DOWN])
    result = evaluate(node(step("restart"), when="range(1, 5, 0) | list"), script)
    assert result.outcome is Outcome.ERROR
    assert "range() arg 3 must not be zero" in result.reason
    assert script.probes == 0


def test_check_output_in_a_when_is_data_never_a_template() -> None:
    evil = "{{ cycler.__init__.__globals__.os.popen('touch /nonexistent-marker').read() }}"
    script = Script([CheckResult.unhealthy(evil), HEALTHY])
    result = evaluate(node(step("restart", when="check.reason != ''")), script)
    assert result.outcome is Outcome.REMEDIATED
    assert script.acted == ["restart"]


# What a rung does in the ladder property: how its action ends, and whether it heals the node.
RUNG_KINDS = ["heals", "changed", "ok", "failed", "failed_stop", "refused"]


@given(st.lists(st.sampled_from(RUNG_KINDS), min_size=1, max_size=8))
def test_the_ladder_is_climbed_until_a_rung_is_verified(kinds: list[str]) -> None:
    """Remediated iff some rung's verification passed; no rung after it runs; a failed rung
    with stop_on_failure ends the attempt; every rung before the end is recorded."""
    steps = []
    results: dict[str, ActionResult] = {}
    healing: str | None = None
    for index, kind in enumerate(kinds):
        name = f"rung{index}-{kind}"
        fields: dict[str, Any] = {}
        if kind == "failed_stop":
            fields["stop_on_failure"] = True
        if kind == "refused":
            fields["destructive"] = True
        steps.append(step(name, **fields))
        if kind in ("failed", "failed_stop"):
            results[name] = ActionResult.failed("exit 1")
        elif kind == "ok":
            results[name] = ActionResult.ok("nothing to do")
        if kind == "heals" and healing is None:
            healing = name
    script = Script([], results, healed_by=healing or "nothing heals")
    result = evaluate(node(*steps, verify=QUICK), script)

    expected_end = len(kinds)
    for index, kind in enumerate(kinds):
        if kind in ("heals", "failed_stop"):
            expected_end = index + 1
            break
    tried = kinds[:expected_end]
    assert [r.step for r in result.steps] == [f"rung{i}-{k}" for i, k in enumerate(tried)]
    assert script.acted == [f"rung{i}-{k}" for i, k in enumerate(tried) if k != "refused"]
    assert (result.outcome is Outcome.REMEDIATED) == (tried[-1] == "heals")
    if tried[-1] != "heals":
        assert result.outcome is Outcome.FAILED


def test_an_ok_step_is_followed_by_a_re_check_that_ends_the_steps_when_healthy() -> None:
    # a `wait` that saw the check pass says ok: the node is then healthy, the rebuild not run
    script = Script([DOWN, HEALTHY], {"wait": ActionResult.ok("check passed")})
    result = evaluate(node(step("wait"), step("rebuild")), script)
    assert (result.outcome, script.acted, script.probes) == (Outcome.REMEDIATED, ["wait"], 2)


def test_a_skipped_or_refused_step_is_not_followed_by_a_re_check() -> None:
    script = Script([DOWN, HEALTHY])
    spec = node(step("restart", when="false"), step("wipe", destructive=True), verify=QUICK)
    result = evaluate(spec, script)
    assert [s.status for s in result.steps] == ["skipped", "refused"]
    assert (result.outcome, script.probes) == (Outcome.FAILED, 1)


def test_a_failed_restart_after_upstream_recovery_is_reported_failed_not_remediated() -> None:
    script = Script([HEALTHY], {"restart": ActionResult.failed("exit 1")})
    spec = node(step("restart"), on_upstream_recovery="restart")
    result = evaluate(spec, script, upstream_recovered=True)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "restart after upstream recovery: upstream recovered")
    assert result.attempts == 1


def test_a_restart_after_upstream_recovery_that_leaves_the_node_down_is_failed() -> None:
    script = Script([HEALTHY, DOWN])
    spec = node(step("restart"), on_upstream_recovery="restart", verify=QUICK)
    result = evaluate(spec, script, upstream_recovered=True)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "restart after upstream recovery: down")


def test_a_restart_after_upstream_recovery_is_verified_and_reported_remediated() -> None:
    script = Script([HEALTHY])
    spec = node(step("restart"), on_upstream_recovery="restart")
    result = evaluate(spec, script, upstream_recovered=True)
    assert (result.outcome, result.reason, result.attempts) == (
        Outcome.REMEDIATED,
        "restarted after its upstream recovered",
        1,
    )
    assert script.probes == 2


def test_no_restart_after_upstream_recovery_in_a_dry_run_or_without_steps() -> None:
    for spec, mode in (
        (node(step("restart"), on_upstream_recovery="restart"), Mode.DRY_RUN),
        (node(on_upstream_recovery="restart"), Mode.RUN),
        (node(step("restart")), Mode.RUN),
    ):
        script = Script([HEALTHY])
        result = evaluate(spec, script, upstream_recovered=True, mode=mode)
        assert (result.outcome, script.acted) == (Outcome.HEALTHY, [])


def test_a_gate_holding_a_restart_after_upstream_recovery_leaves_the_node_healthy() -> None:
    script = Script([HEALTHY])
    spec = node(step("restart"), on_upstream_recovery="restart")
    result = evaluate(spec, script, upstream_recovered=True, gate=lambda check: (Outcome.SUPPRESSED, "limit reached"))
    assert (result.outcome, script.acted) == (Outcome.HEALTHY, [])
    assert result.reason == "healthy; not restarted after its upstream recovered: limit reached"


def test_a_gate_holding_an_unhealthy_node_ends_it_with_the_gates_outcome_untouched() -> None:
    seen: list[CheckResult] = []

    def gate(check: CheckResult) -> tuple[Outcome, str]:
        seen.append(check)
        return Outcome.SUPPRESSED, "3 attempts in 1h"

    script = Script([DOWN])
    result = evaluate(node(step("restart")), script, gate=gate)
    assert (result.outcome, result.reason, script.acted, seen) == (Outcome.SUPPRESSED, "3 attempts in 1h", [], [DOWN])


def test_a_gate_letting_a_node_through_lets_it_be_remediated() -> None:
    script = Script([DOWN, HEALTHY])
    result = evaluate(node(step("restart")), script, gate=lambda check: None)
    assert (result.outcome, script.acted) == (Outcome.REMEDIATED, ["restart"])


def test_a_remediated_node_says_what_was_fixed_and_a_failed_one_how_many_attempts() -> None:
    fixed = evaluate(node(step("restart")), Script([DOWN, HEALTHY]))
    assert fixed.reason == "fixed: down"
    failed = evaluate(node(step("restart"), retries=1, verify=QUICK), Script([DOWN]), FakeClock())
    assert failed.reason == "still unhealthy after 2 attempt(s): down"


def test_a_check_that_errors_after_a_step_ends_the_attempt_and_the_node_is_error() -> None:
    script = Script([DOWN, BROKEN])
    result = evaluate(node(step("restart"), step("rebuild"), retries=2), script, FakeClock())
    # the rebuild is not run on a check that cannot look; the retries still try the restart
    assert (result.outcome, result.reason, script.acted) == (Outcome.ERROR, "cannot look", ["restart"] * 3)


def test_retries_are_one_attempt_plus_the_number_given() -> None:
    script = Script([DOWN])
    result = evaluate(node(step("restart"), retries=1, verify=QUICK), script, FakeClock())
    assert (result.attempts, script.acted) == (2, ["restart", "restart"])
    script = Script([DOWN])
    result = evaluate(node(step("restart"), verify=QUICK), script, FakeClock())
    assert (result.attempts, script.acted) == (1, ["restart"])


def test_each_backoff_is_announced_with_its_attempt_and_delay() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    script = Script([DOWN])
    evaluate(
        node(step("restart"), retries=2, verify=QUICK),
        script,
        FakeClock(),
        event=lambda name, **fields: events.append((name, fields)),
    )
    assert [f for name, f in events if name == "backoff"] == [
        {"attempt": 1, "delay_s": 1.0},
        {"attempt": 2, "delay_s": 2.0},
    ]
    actions = [f for name, f in events if name == "action"]
    assert [(a["step"], a["attempt"], a["outcome"]) for a in actions] == [("restart", n, "changed") for n in (1, 2, 3)]
    checks = [(name, f["attempt"], f["outcome"]) for name, f in events if name in ("check", "verify")]
    assert checks == [("check", 0, "unhealthy"), ("verify", 1, "unhealthy"), ("verify", 2, "unhealthy"), ("verify", 3, "unhealthy")]


def test_a_node_healthy_but_not_often_enough_in_a_row_says_so() -> None:
    spec = node(step("restart"), verify=VerifySpec(successes=2, within=2.5, interval=1))
    result = evaluate(spec, Script([DOWN, HEALTHY, DOWN, HEALTHY]), FakeClock())
    assert (result.outcome, result.reason) == (
        Outcome.FAILED,
        "still unhealthy after 1 attempt(s): healthy, but not 2 times in a row within 2.5s",
    )
    spec = node(step("restart"), verify=VerifySpec(successes=2, within=3, interval=1))
    assert evaluate(spec, Script([DOWN, HEALTHY, DOWN, HEALTHY]), FakeClock()).outcome is Outcome.REMEDIATED


def test_verification_ends_when_the_next_poll_would_pass_the_window() -> None:
    clock = FakeClock()
    script = Script([DOWN])
    evaluate(node(step("restart"), verify=VerifySpec(within=2.5, interval=1)), script, clock)
    assert clock.sleeps == [1, 1]
    clock = FakeClock()
    evaluate(node(step("restart"), verify=VerifySpec(within=2, interval=1)), Script([DOWN]), clock)
    assert clock.sleeps == [1, 1]


def test_a_node_whose_when_is_true_is_checked() -> None:
    script = Script([HEALTHY])
    result = evaluate(node(step("restart"), when="env == 'prod'"), script, variables={"env": "prod"})
    assert (result.outcome, script.probes) == (Outcome.HEALTHY, 1)
    skipped = evaluate(node(step("restart"), when="env == 'prod'"), Script([DOWN]), variables={"env": "dev"})
    assert skipped.reason == "when: env == 'prod' is false"


def test_a_step_when_sees_the_loop_item_and_the_checks_evidence() -> None:
    script = Script([CheckResult.unhealthy("down", free=5), HEALTHY])
    spec = node(step("restart", when="check.evidence.free < 10 and item == 'redis' and check.health == 'unhealthy'"))
    spec = spec.model_copy(update={"loop_vars": {"item": "redis"}})
    assert evaluate(spec, script).outcome is Outcome.REMEDIATED
    assert script.acted == ["restart"]


def test_the_dry_run_plan_names_when_and_unless_conditions() -> None:
    guarded = step("migrate", when="env == 'prod'", unless=CommandCheck(cmd="alembic current"))
    (line,) = evaluate(node(guarded), Script([DOWN]), mode=Mode.DRY_RUN).plan
    assert line == "migrate: command: migrate [when env == 'prod'; unless command check passes]"


def test_steps_record_their_action_attempt_and_artifacts() -> None:
    saved = ActionResult(ActionStatus.OK, "saved", artifacts=("/var/log/x.log",))
    script = Script([DOWN, HEALTHY], {"save": saved})
    result = evaluate(node(step("save")), script)
    (record,) = result.steps
    assert (record.step, record.action, record.status, record.detail, record.attempt, record.artifacts) == (
        "save",
        "command",
        "ok",
        "saved",
        1,
        ("/var/log/x.log",),
    )
    assert result.evidence == {}


EVIDENCE = {"code": 503}
DOWN_WITH = CheckResult.unhealthy("down", **EVIDENCE)
UP_WITH = CheckResult.healthy("up", **EVIDENCE)
BROKEN_WITH = CheckResult.error("cannot look", **EVIDENCE)
STOPPED = ActionResult(ActionStatus.INTERRUPTED, "interrupted")


@pytest.mark.parametrize(
    ("answers", "spec", "options", "outcome", "reason"),
    [
        ([BROKEN_WITH], node(step("restart")), {}, Outcome.ERROR, "cannot look"),
        ([UP_WITH], node(step("restart")), {}, Outcome.HEALTHY, "up"),
        ([DOWN_WITH], node(step("restart")), {"mode": Mode.CHECK}, Outcome.UNHEALTHY, "down"),
        ([DOWN_WITH], node(), {}, Outcome.FAILED, "down (no remediation given)"),
        ([DOWN_WITH], node(step("restart")), {"gate": lambda c: (Outcome.PAUSED, "paused")}, Outcome.PAUSED, "paused"),
        ([DOWN_WITH], node(step("restart")), {"mode": Mode.DRY_RUN}, Outcome.WOULD_REMEDIATE, "down"),
        ([DOWN, UP_WITH], node(step("restart")), {}, Outcome.REMEDIATED, "fixed: down"),
        ([DOWN, DOWN_WITH], node(step("restart"), verify=QUICK), {}, Outcome.FAILED, "still unhealthy after 1 attempt(s): down"),
        ([DOWN, BROKEN_WITH], node(step("restart")), {}, Outcome.ERROR, "cannot look"),
        ([UP_WITH], node(step("restart"), on_upstream_recovery="restart"), {"upstream_recovered": True}, Outcome.REMEDIATED, "restarted after its upstream recovered"),
        ([UP_WITH, DOWN_WITH], node(step("restart"), on_upstream_recovery="restart", verify=QUICK), {"upstream_recovered": True}, Outcome.FAILED, "restart after upstream recovery: down"),
    ],
)
def test_a_node_ends_with_the_evidence_of_its_last_check(
    answers: list[CheckResult], spec: NodeSpec, options: dict[str, Any], outcome: Outcome, reason: str
) -> None:
    result = evaluate(spec, Script(answers), FakeClock(), **options)
    assert (result.outcome, result.reason, result.evidence) == (outcome, reason, EVIDENCE)
    assert (result.host, result.node, result.severity) == ("h", "svc", "P2")


def test_a_node_ends_with_the_evidence_of_the_check_before_an_interrupted_or_undecidable_step() -> None:
    script = Script([DOWN_WITH], {"restart": STOPPED})
    result = evaluate(node(step("restart")), script)
    assert (result.outcome, result.reason, result.evidence) == (Outcome.FAILED, "interrupted (was: down)", EVIDENCE)
    script = Script([DOWN_WITH])
    result = evaluate(node(step("restart", when="1 / 0")), script)
    assert (result.outcome, result.evidence) == (Outcome.ERROR, EVIDENCE)
    assert result.steps[0].status == "failed" and "division by zero" in result.steps[0].detail
    script = Script([UP_WITH])
    spec = node(step("restart", when="1 / 0"), on_upstream_recovery="restart")
    result = evaluate(spec, script, upstream_recovered=True)
    assert (result.outcome, result.evidence) == (Outcome.ERROR, {})
    assert result.reason.startswith("step 'restart': ") and "division by zero" in result.reason


def test_an_interrupted_restart_after_upstream_recovery_is_failed_saying_so() -> None:
    script = Script([HEALTHY], {"restart": STOPPED})
    spec = node(step("restart"), step("rebuild"), on_upstream_recovery="restart")
    result = evaluate(spec, script, upstream_recovered=True)
    assert (result.outcome, result.reason, script.acted) == (
        Outcome.FAILED,
        "restart after upstream recovery: interrupted",
        ["restart"],
    )


def test_a_restart_after_upstream_recovery_is_attempt_one_and_the_gate_sees_a_healthy_check() -> None:
    seen: list[CheckResult] = []

    def gate(check: CheckResult) -> None:
        seen.append(check)

    result = evaluate(node(step("restart"), on_upstream_recovery="restart"), Script([HEALTHY]), upstream_recovered=True, gate=gate)
    assert seen == [CheckResult.healthy("upstream recovered")]
    assert [s.attempt for s in result.steps] == [1]


def test_each_check_and_action_is_announced_with_what_it_saw() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    script = Script([DOWN, HEALTHY], {"restart": ActionResult.changed("restarted")})
    evaluate(node(step("restart")), script, event=lambda name, **fields: events.append((name, fields)))
    for _, fields in events:
        assert isinstance(fields.pop("duration_ms"), float)
    assert events == [
        ("check", {"check": "command", "attempt": 0, "outcome": "unhealthy", "reason": "down"}),
        ("action", {"action": "command", "step": "restart", "attempt": 1, "outcome": "changed", "reason": "restarted"}),
        ("verify", {"check": "command", "attempt": 1, "outcome": "healthy", "reason": "up"}),
    ]


def test_durations_are_measured_in_milliseconds_to_two_decimals() -> None:
    import time as real_time

    class Slow(Script):
        def probe(self, check: Any) -> CheckResult:
            real_time.sleep(0.02)
            return super().probe(check)

        def act(self, step: StepSpec) -> ActionResult:
            real_time.sleep(0.02)
            return super().act(step)

    events: list[tuple[str, dict[str, Any]]] = []
    result = evaluate(node(step("restart")), Slow([DOWN, HEALTHY]), event=lambda n, **f: events.append((n, f)))
    measured = [result.duration_ms, result.steps[0].duration_ms, *(f["duration_ms"] for _, f in events)]
    for duration in measured:
        # at least the 20 ms slept (lower bounds only: a busy machine makes them longer)
        assert isinstance(duration, float) and duration >= 20 and round(duration, 2) == duration
        assert duration < 60_000  # measured from the start, not since the clock's epoch
    assert result.duration_ms >= 60


def test_a_step_not_run_records_no_duration_and_says_why() -> None:
    script = Script([DOWN])
    result = evaluate(node(step("restart", when="false"), verify=QUICK), script)
    (record,) = result.steps
    assert (record.status, record.detail, record.duration_ms) == ("skipped", "when: false is false", 0.0)


def test_an_unless_guard_is_its_own_check_and_a_silent_pass_says_only_not_needed() -> None:
    probed: list[Any] = []
    guard = CommandCheck(cmd="alembic current")

    def probe(check: Any) -> CheckResult:
        probed.append(check)
        if check is guard:
            return CheckResult.healthy("")
        return DOWN if len(probed) == 1 else HEALTHY

    spec = node(step("migrate", unless=guard))
    result = NodeEvaluation("h", spec, probe, Script([]).act, FakeClock()).run()
    assert (probed[0], probed[1], probed[2]) == (spec.check, guard, spec.check)
    assert probed[1] is guard
    assert result.steps[0].detail == "not needed"


def test_an_unless_guards_reason_is_kept_whole() -> None:
    guarded = step("migrate", unless=CommandCheck(cmd="alembic current"))
    script = Script([DOWN, CheckResult.healthy("at revision X"), HEALTHY])
    assert evaluate(node(guarded), script).steps[0].detail == "not needed: at revision X"


def test_a_refusal_names_each_missing_consent() -> None:
    purge = StepSpec(action=DestructiveAction(cmd="purge"), name="purge")
    result = evaluate(node(purge, verify=QUICK), Script([DOWN]))
    assert result.steps[0].detail == (
        "refused, destructive: the playbook step does not say destructive: true"
        " and the command line does not say --allow-destructive"
    )


def test_a_backoff_delay_is_announced_in_seconds_to_three_decimals() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    spec = node(step("restart"), retries=1, verify=QUICK, backoff=BackoffSpec(initial=1 / 3, factor=2, max=30, jitter=False))
    evaluate(spec, Script([DOWN]), FakeClock(), event=lambda name, **fields: events.append((name, fields)))
    assert [f for name, f in events if name == "backoff"] == [{"attempt": 1, "delay_s": 0.333}]


def test_a_node_result_carries_the_nodes_severity() -> None:
    result = evaluate(node(step("restart"), severity="P0"), Script([HEALTHY]))
    assert result.severity == "P0"
