"""The node state machine with scripted probes and actions (no I/O): one path each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from checks.command import CommandCheck
from engine.core.node import Mode, NodeEvaluation
from engine.core.results import ActionResult, ActionStatus, CheckResult, Outcome
from engine.playbook.models import BackoffSpec, NodeSpec, StepSpec, VerifySpec
from remediations.command import CommandAction
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
