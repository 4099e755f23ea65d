"""Limits, backoff, flapping and startup grace across runs (pure logic, injected time).

`Memory` below plays the state store: it keeps what `observe` says and the attempts a run
makes, so many runs can be simulated exactly without sleeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checks.command import CommandCheck
from engine.core.results import Outcome
from engine.playbook.models import NodeSpec
from engine.playbook.unattended import FlappingSpec, LimitSpec, MaintenanceWindow, RunBackoffSpec
from engine.unattended import limits
from engine.unattended.limits import Decision, decide, observe
from engine.unattended.state.base import Attempt, NodeState, Pause

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def node(**fields: Any) -> NodeSpec:
    defaults: dict[str, Any] = {"run_backoff": RunBackoffSpec(initial=0)}
    return NodeSpec(name="api", check=CommandCheck(cmd="true"), **{**defaults, **fields})


@dataclass
class Simulated:
    """One node's memory across simulated runs."""

    spec: NodeSpec
    state: NodeState = field(default_factory=lambda: NodeState("h", "api"))
    attempts: list[Attempt] = field(default_factory=list)
    transitions: list[tuple[datetime, str]] = field(default_factory=list)
    pause: Pause | None = None
    runs: int = 0

    def memory(self) -> limits.Memory:
        return limits.Memory(self.state, self.attempts, self.transitions, self.pause)

    def decide(self, at: datetime, **evidence: Any) -> Decision | None:
        return decide(self.spec, self.memory(), evidence, at)

    def run(
        self, at: datetime, healthy: bool, fix_works: bool = False, attempts: int = 1, actions: int = 1
    ) -> Outcome:
        """One run: check; if unhealthy and allowed, `attempts` passes of `actions` actions each."""
        self.runs += 1
        if healthy:
            return self._observe(Outcome.HEALTHY, False, at)
        held = self.decide(at)
        if held is not None:
            return self._observe(held.outcome, False, at)
        for number in range(1, attempts + 1):
            for _ in range(actions):
                self.attempts.append(
                    Attempt(
                        len(self.attempts) + 1,
                        f"run{self.runs}",
                        "h",
                        "api",
                        number,
                        "s",
                        "command",
                        at,
                        at,
                        "changed",
                        1.0,
                        "",
                    )
                )
        return self._observe(Outcome.REMEDIATED if fix_works else Outcome.FAILED, True, at)

    def _observe(self, outcome: Outcome, attempted: bool, at: datetime) -> Outcome:
        self.state, changes = observe(self.state, outcome, attempted, at, limits.reset_after(self.spec))
        self.transitions.extend(changes)
        return outcome


def limited(held: Decision | None) -> bool:
    """The decision holds the node back because its remediation limit is spent."""
    assert held is not None
    assert (held.outcome, held.escalate, held.details["rule"]) == (Outcome.SUPPRESSED, True, "limit")
    return True


# --- the remediation limit ------------------------------------------------------------


def test_a_node_under_its_limit_is_remediated() -> None:
    sim = Simulated(node(limit=LimitSpec(max=3, within=3600)))
    assert [sim.run(T0 + i * MIN, healthy=False) for i in range(3)] == [Outcome.FAILED] * 3


def test_past_its_limit_a_node_is_suppressed_and_the_run_escalates() -> None:
    sim = Simulated(node(limit=LimitSpec(max=3, within=3600)))
    for i in range(3):
        sim.run(T0 + i * MIN, healthy=False)
    held = sim.decide(T0 + 3 * MIN)
    assert held is not None
    assert (held.outcome, held.escalate) == (Outcome.SUPPRESSED, True)
    assert "3 remediation attempts within 1h (max 3)" in held.reason


def test_many_runs_of_an_unfixable_node_make_no_more_attempts_than_the_limit() -> None:
    sim = Simulated(node(limit=LimitSpec(max=3, within=3600)))
    outcomes = [sim.run(T0 + i * MIN, healthy=False) for i in range(50)]
    assert len(sim.attempts) == 3
    assert outcomes.count(Outcome.SUPPRESSED) == 47


def test_the_limit_counts_attempts_not_runs() -> None:
    # One run with retries makes three attempts: the limit of three is spent at once.
    sim = Simulated(node(limit=LimitSpec(max=3, within=3600)))
    sim.run(T0, healthy=False, attempts=3)
    assert limited(sim.decide(T0 + MIN))


def test_several_actions_in_one_attempt_count_once() -> None:
    sim = Simulated(node(limit=LimitSpec(max=2, within=3600)))
    sim.run(T0, healthy=False, actions=3)
    assert sim.decide(T0 + MIN) is None


def test_runs_that_find_the_node_healthy_do_not_count() -> None:
    sim = Simulated(node(limit=LimitSpec(max=2, within=3600, reset_after=86400)))
    sim.run(T0, healthy=False)
    for i in range(1, 30):
        sim.run(T0 + i * MIN, healthy=True)
    assert sim.decide(T0 + 31 * MIN) is None


def test_suppression_lifts_when_the_oldest_counted_attempt_leaves_the_window() -> None:
    sim = Simulated(node(limit=LimitSpec(max=2, within=3600)))
    sim.run(T0, healthy=False)
    sim.run(T0 + 10 * MIN, healthy=False)
    held = sim.decide(T0 + 59 * MIN)
    assert limited(held) and held is not None and held.until == T0 + 60 * MIN
    assert sim.decide(T0 + 60 * MIN + timedelta(seconds=1)) is None


def test_a_brief_recovery_does_not_reset_the_count() -> None:
    # Monit's early-reset defect: one healthy check must not forgive earlier restarts.
    sim = Simulated(node(limit=LimitSpec(max=3, within=3600, reset_after=600)))
    at = T0
    for _ in range(3):
        sim.run(at, healthy=False, fix_works=True)
        sim.run(at + 2 * MIN, healthy=True)  # healthy, but for less than reset_after
        at += 5 * MIN
    assert limited(sim.decide(at))


def test_staying_healthy_for_reset_after_resets_the_count() -> None:
    # Monit's never-reset defect: a node healthy for long enough gets its full limit back,
    # even inside the window.
    sim = Simulated(node(limit=LimitSpec(max=3, within=3600, reset_after=600)))
    for i in range(3):
        sim.run(T0 + i * MIN, healthy=False, fix_works=True)
    sim.run(T0 + 3 * MIN, healthy=True)
    sim.run(T0 + 11 * MIN, healthy=True)
    assert limited(sim.decide(T0 + 12 * MIN))  # healthy 9 minutes since the last fix: not yet
    sim.run(T0 + 13 * MIN, healthy=True)  # 11 minutes healthy: reset
    assert sim.decide(T0 + 14 * MIN) is None


def test_a_break_in_the_healthy_streak_starts_it_again() -> None:
    sim = Simulated(node(limit=LimitSpec(max=2, within=7200, reset_after=600)))
    sim.run(T0, healthy=False, fix_works=True)
    sim.run(T0 + 5 * MIN, healthy=True)
    sim.run(T0 + 8 * MIN, healthy=False, fix_works=True)  # broke at 8 min: streak starts again
    sim.run(T0 + 15 * MIN, healthy=True)  # 7 minutes since the fix
    assert limited(sim.decide(T0 + 16 * MIN))
    sim.run(T0 + 19 * MIN, healthy=True)  # 11 minutes since the fix
    assert sim.decide(T0 + 20 * MIN) is None


def test_an_operator_reset_forgives_the_count() -> None:
    sim = Simulated(node(limit=LimitSpec(max=1, within=3600)))
    sim.run(T0, healthy=False)
    assert limited(sim.decide(T0 + MIN))
    sim.state = limits.reset(sim.state, T0 + 2 * MIN)
    assert sim.decide(T0 + 3 * MIN) is None


def test_without_a_limit_a_node_is_always_remediated() -> None:
    sim = Simulated(node(limit=None))
    assert all(sim.run(T0 + i * MIN, healthy=False) is Outcome.FAILED for i in range(20))


# --- backoff between runs --------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0), (1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (12, 300)]
)
def test_the_backoff_between_runs_doubles_up_to_its_cap(failures: int, delay: float) -> None:
    assert limits.backoff_delay(RunBackoffSpec(initial=30, factor=2, max=300), failures) == delay


def test_a_failed_node_is_left_alone_until_its_backoff_passes() -> None:
    sim = Simulated(node(limit=None, run_backoff=RunBackoffSpec(initial=60, factor=2, max=600)))
    sim.run(T0, healthy=False)
    assert sim.run(T0 + 30 * timedelta(seconds=1), healthy=False) is Outcome.BACKOFF
    assert sim.run(T0 + 61 * timedelta(seconds=1), healthy=False) is Outcome.FAILED
    held = sim.decide(T0 + 61 * timedelta(seconds=1) + MIN)
    assert held is not None and held.outcome is Outcome.BACKOFF and held.until == T0 + timedelta(seconds=61 + 120)


def test_backoff_does_not_escalate() -> None:
    sim = Simulated(node(limit=None, run_backoff=RunBackoffSpec(initial=60)))
    sim.run(T0, healthy=False)
    held = sim.decide(T0 + timedelta(seconds=1))
    assert held is not None and held.outcome is Outcome.BACKOFF and not held.escalate


def test_a_successful_fix_alone_does_not_reset_the_backoff() -> None:
    sim = Simulated(node(limit=None, run_backoff=RunBackoffSpec(initial=60, factor=2, max=600)))
    sim.run(T0, healthy=False)
    sim.run(T0 + 2 * MIN, healthy=False, fix_works=True)
    sim.run(T0 + 3 * MIN, healthy=False)
    assert sim.state.failures == 2


def test_backoff_resets_after_the_healthy_period() -> None:
    sim = Simulated(
        node(limit=LimitSpec(reset_after=600), run_backoff=RunBackoffSpec(initial=60, factor=2, max=600))
    )
    sim.run(T0, healthy=False)
    sim.run(T0 + 2 * MIN, healthy=False, fix_works=True)
    sim.run(T0 + 13 * MIN, healthy=True)
    assert (sim.state.failures, sim.state.last_failure_at) == (0, None)


# --- flapping ----------------------------------------------------------------------------


def test_a_node_changing_state_too_often_is_flapping_and_escalates() -> None:
    sim = Simulated(node(limit=None, flapping=FlappingSpec(changes=4, within=1800)))
    sim.run(T0, healthy=True)
    sim.run(T0 + MIN, healthy=False, fix_works=True)  # down, up: 2 changes
    sim.run(T0 + 2 * MIN, healthy=False, fix_works=True)  # 4 changes
    held = sim.decide(T0 + 3 * MIN)  # going down again would be the fifth
    assert held is not None
    assert (held.outcome, held.escalate, held.details["rule"]) == (Outcome.SUPPRESSED, True, "flapping")


def test_state_changes_outside_the_flapping_window_are_not_counted() -> None:
    sim = Simulated(node(limit=None, flapping=FlappingSpec(changes=4, within=600)))
    sim.run(T0, healthy=True)
    sim.run(T0 + MIN, healthy=False, fix_works=True)
    sim.run(T0 + 2 * MIN, healthy=False, fix_works=True)
    assert sim.decide(T0 + 20 * MIN) is None


def test_a_steadily_broken_node_is_not_flapping() -> None:
    sim = Simulated(node(limit=None, flapping=FlappingSpec(changes=2, within=3600)))
    for i in range(10):
        sim.run(T0 + i * MIN, healthy=False)
    assert sim.decide(T0 + 11 * MIN) is None


# --- startup grace, pauses, maintenance, operator stops ---------------------------------


def test_a_node_inside_its_start_period_after_an_action_is_left_alone() -> None:
    sim = Simulated(node(limit=None, start_period=120))
    sim.run(T0, healthy=False, fix_works=True)
    held = sim.decide(T0 + MIN)
    assert held is not None and held.outcome is Outcome.STARTING and held.until == T0 + 2 * MIN
    assert sim.decide(T0 + 3 * MIN) is None


@pytest.mark.parametrize("evidence", [{"state": "starting"}, {"state": "restarting"}, {"health": "starting"}])
def test_a_check_saying_starting_means_the_node_is_left_alone(evidence: dict[str, str]) -> None:
    held = Simulated(node()).decide(T0, **evidence)
    assert held is not None and held.outcome is Outcome.STARTING


def test_an_exited_container_is_not_starting() -> None:
    assert Simulated(node()).decide(T0, state="exited") is None


def test_a_paused_node_is_never_touched() -> None:
    sim = Simulated(node(), pause=Pause("*", "api", None, "debugging", T0, "alice"))
    held = sim.decide(T0)
    assert held is not None and held.outcome is Outcome.PAUSED
    assert held.reason == "paused by alice: debugging"
    assert not held.escalate


def test_a_service_stopped_by_an_operator_is_not_started_unless_the_playbook_says_so() -> None:
    held = Simulated(node()).decide(T0, stopped_by_operator=True)
    assert held is not None and held.outcome is Outcome.PAUSED
    assert Simulated(node(act_when_stopped_by_operator=True)).decide(T0, stopped_by_operator=True) is None


def test_a_node_inside_a_maintenance_window_is_left_alone() -> None:
    nightly = MaintenanceWindow(cron="0 2 * * *", duration=3600, nodes=["api"], reason="backup")
    spec, memory = node(), limits.Memory(NodeState("h", "api"))
    inside = decide(spec, memory, {}, T0.replace(hour=2, minute=30), [nightly])
    assert inside is not None and inside.outcome is Outcome.PAUSED
    assert inside.until == T0.replace(hour=3)
    assert decide(spec, memory, {}, T0.replace(hour=3), [nightly]) is None
    assert decide(spec, memory, {}, T0.replace(hour=1, minute=59), [nightly]) is None


def test_a_maintenance_window_covers_only_its_nodes() -> None:
    nightly = MaintenanceWindow(cron="0 2 * * *", duration=3600, nodes=["db"])
    assert decide(node(), limits.Memory(NodeState("h", "api")), {}, T0.replace(hour=2), [nightly]) is None


def test_a_maintenance_window_is_read_in_its_time_zone() -> None:
    # 02:00 in Berlin is 01:00 UTC in winter.
    window = MaintenanceWindow(cron="0 2 * * *", duration=1800, timezone="Europe/Berlin")
    memory = limits.Memory(NodeState("h", "api"))
    inside = decide(node(), memory, {}, T0.replace(hour=1, minute=10), [window])
    assert inside is not None and inside.outcome is Outcome.PAUSED
    assert inside.until == T0.replace(hour=1, minute=30)
    assert decide(node(), memory, {}, T0.replace(hour=2, minute=10), [window]) is None


def test_an_invalid_cron_expression_is_a_validation_error() -> None:
    with pytest.raises(ValueError, match="not a valid cron expression"):
        MaintenanceWindow(cron="every night", duration=60)


# --- blast radius ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unhealthy", "total", "share", "exceeded"),
    [(3, 6, 0.5, False), (4, 6, 0.5, True), (6, 6, None, False), (1, 1, 1.0, False), (0, 0, 0.5, False)],
)
def test_the_blast_radius_is_exceeded_only_past_its_share(
    unhealthy: int, total: int, share: float | None, exceeded: bool
) -> None:
    assert limits.blast_radius_exceeded(unhealthy, total, share) is exceeded


@pytest.mark.parametrize("outcome", [Outcome.HEALTHY, Outcome.FAILED])
def test_the_first_observation_of_a_node_is_not_a_state_change(outcome: Outcome) -> None:
    state, changes = observe(NodeState("h", "api"), outcome, True, T0, 600)
    assert changes == []
    assert state.state_since == T0


def test_a_remediation_is_two_state_changes_from_healthy_and_one_from_unhealthy() -> None:
    healthy = NodeState("h", "api", state="healthy", healthy_since=T0)
    unhealthy = NodeState("h", "api", state="unhealthy")
    assert [s for _, s in observe(healthy, Outcome.REMEDIATED, True, T0 + MIN, 600)[1]] == [
        "unhealthy",
        "healthy",
    ]
    assert [s for _, s in observe(unhealthy, Outcome.REMEDIATED, True, T0 + MIN, 600)[1]] == ["healthy"]


@pytest.mark.parametrize("outcome", [Outcome.ERROR, Outcome.BLOCKED, Outcome.SKIPPED])
def test_nodes_that_were_not_looked_at_leave_the_memory_as_it_was(outcome: Outcome) -> None:
    state = NodeState("h", "api", state="unhealthy", failures=2, last_failure_at=T0)
    assert observe(state, outcome, False, T0 + MIN, 600) == (state, [])


@pytest.mark.parametrize(
    ("outcome", "attempted"),
    [
        (Outcome.FAILED, False),  # nothing ran: report only, refused or held back
        (Outcome.REMEDIATED, True),
        (Outcome.SUPPRESSED, False),
        (Outcome.ERROR, False),
    ],
)
def test_only_a_node_that_acted_and_ended_failed_has_spent_its_ladder(
    outcome: Outcome, attempted: bool
) -> None:
    assert limits.ladder_spent_reason(outcome, attempted, 3, 1, "HTTP 502") is None


def test_a_spent_ladder_says_how_many_rungs_and_attempts_and_the_last_reason() -> None:
    assert limits.ladder_spent_reason(Outcome.FAILED, True, 8, 2, "HTTP 502") == (
        "still down after its whole ladder (8 rungs tried in 2 attempts): HTTP 502"
    )
    assert limits.ladder_spent_reason(Outcome.FAILED, True, 1, 1, "") == (
        "still down after its whole ladder (1 rung tried in 1 attempt)"
    )


def test_only_an_escalation_opened_by_a_spent_ladder_is_sent_again_when_the_node_is_held() -> None:
    spent = limits.ladder_spent_reason(Outcome.FAILED, True, 2, 1, "down")
    assert spent is not None and limits.renotify(spent)
    assert not limits.renotify("limit reached: 3 remediation attempts within 1h (max 3)")
    assert not limits.renotify("flapping: 4 state changes within 1h (more than 3)")


# --- what each hold says -------------------------------------------------------------------


def test_each_hold_says_exactly_why_and_until_when() -> None:
    sim = Simulated(node(limit=LimitSpec(max=2, within=3600)))
    sim.run(T0, healthy=False)
    sim.run(T0 + MIN, healthy=False)
    held = sim.decide(T0 + 2 * MIN)
    assert held is not None and held.details == {"rule": "limit", "attempts": 2}
    assert held.reason == (
        "limit reached: 2 remediation attempts within 1h (max 2); left alone until "
        "2026-01-01 01:00:00 UTC or until `remediate reset api`"
    )
    sim = Simulated(node(limit=None, run_backoff=RunBackoffSpec(initial=60)))
    sim.run(T0, healthy=False)
    held = sim.decide(T0 + timedelta(seconds=59))
    assert held is not None
    assert held.reason == "backing off after 1 failed run(s): next try after 2026-01-01 00:01:00 UTC"
    assert sim.decide(T0 + timedelta(seconds=60)) is None


def test_a_start_period_hold_names_the_action_and_ends_exactly_at_its_end() -> None:
    sim = Simulated(node(limit=None, start_period=90))
    sim.run(T0, healthy=False, fix_works=True)
    held = sim.decide(T0 + timedelta(seconds=89))
    assert held is not None and held.outcome is Outcome.STARTING
    assert held.reason == "inside its start_period (1m30s) after the action at 2026-01-01 00:00:00 UTC"
    assert sim.decide(T0 + timedelta(seconds=90)) is None


def test_a_flapping_hold_counts_the_changes_it_saw() -> None:
    sim = Simulated(node(limit=None, flapping=FlappingSpec(changes=2, within=600)))
    sim.run(T0, healthy=True)
    sim.run(T0 + MIN, healthy=False, fix_works=True)
    held = sim.decide(T0 + 2 * MIN)
    assert held is not None and held.details == {"rule": "flapping", "changes": 3}
    assert held.reason == "flapping: 3 state changes within 10m (more than 2)"


def test_exactly_the_flapping_threshold_is_not_flapping() -> None:
    sim = Simulated(node(limit=None, flapping=FlappingSpec(changes=3, within=600)))
    sim.run(T0, healthy=True)
    sim.run(T0 + MIN, healthy=False, fix_works=True)
    assert sim.decide(T0 + 2 * MIN) is None


def test_a_pause_with_an_end_says_until_when() -> None:
    until = T0 + 2 * MIN
    sim = Simulated(node(), pause=Pause("*", "api", until, "deploy", T0, "bob"))
    held = sim.decide(T0)
    assert held is not None and held.until == until
    assert held.reason == "paused by bob until 2026-01-01 00:02:00 UTC: deploy"


@pytest.mark.parametrize("evidence", [{"state": "STARTING"}, {"health": "Starting"}])
def test_starting_is_recognised_in_any_case(evidence: dict[str, str]) -> None:
    assert limits.is_starting(evidence)


def test_no_backoff_without_an_initial_delay_or_a_failure() -> None:
    assert limits.backoff_delay(RunBackoffSpec(initial=0, factor=2, max=300), 3) == 0
    assert limits.backoff_delay(RunBackoffSpec(initial=30, factor=2, max=300), -1) == 0


def test_an_operator_reset_clears_failures_and_the_last_failure() -> None:
    failing = NodeState("h", "api", state="unhealthy", failures=3, last_failure_at=T0)
    cleared = limits.reset(failing, T0 + MIN)
    assert (cleared.reset_at, cleared.failures, cleared.last_failure_at) == (T0 + MIN, 0, None)


def test_a_failed_run_that_acted_counts_a_failure_and_one_that_did_not_act_does_not() -> None:
    healthy = NodeState("h", "api", state="healthy", healthy_since=T0)
    new, changes = observe(healthy, Outcome.FAILED, True, T0 + MIN, 600)
    assert (new.state, new.healthy_since, new.failures, new.last_failure_at) == ("unhealthy", None, 1, T0 + MIN)
    assert changes == [(T0 + MIN, "unhealthy")]
    new, _ = observe(healthy, Outcome.FAILED, False, T0 + MIN, 600)
    assert (new.failures, new.last_failure_at) == (0, None)
    new, _ = observe(healthy, Outcome.SUPPRESSED, True, T0 + MIN, 600)
    assert (new.state, new.failures) == ("unhealthy", 0)


def test_a_remediation_of_a_node_last_seen_healthy_records_both_changes() -> None:
    healthy = NodeState("h", "api", state="healthy", healthy_since=T0)
    _, changes = observe(healthy, Outcome.REMEDIATED, True, T0 + MIN, 600)
    assert changes == [(T0 + MIN, "unhealthy"), (T0 + MIN, "healthy")]


def test_healthy_for_exactly_reset_after_resets() -> None:
    streak = NodeState("h", "api", state="healthy", healthy_since=T0, failures=2, last_failure_at=T0)
    new, _ = observe(streak, Outcome.HEALTHY, False, T0 + 10 * MIN, 600)
    assert (new.reset_at, new.failures) == (T0, 0)
    again, _ = observe(new, Outcome.HEALTHY, False, T0 + 20 * MIN, 600)
    assert again.reset_at == T0  # the same streak is forgiven once


def test_reset_after_comes_from_the_limit_or_its_default() -> None:
    assert limits.reset_after(node(limit=LimitSpec(reset_after=60))) == 60
    assert limits.reset_after(node(limit=None)) == LimitSpec().reset_after


def test_an_attempt_exactly_a_window_ago_no_longer_counts() -> None:
    sim = Simulated(node(limit=LimitSpec(max=1, within=3600)))
    sim.run(T0, healthy=False)
    assert sim.decide(T0 + 60 * MIN) is None


def test_the_start_period_runs_from_the_end_of_the_last_action() -> None:
    action = Attempt(1, "r1", "h", "api", 1, "s", "command", T0, T0 + MIN, "changed", 60.0, "")
    memory = limits.Memory(NodeState("h", "api"), [action])
    held = decide(node(limit=None, start_period=120), memory, {}, T0 + 2 * MIN + timedelta(seconds=30))
    assert held is not None and held.until == T0 + 3 * MIN


def test_stopped_by_an_operator_starting_and_maintenance_say_why() -> None:
    assert Simulated(node()).decide(T0, stopped_by_operator=True) == Decision(
        Outcome.PAUSED, "stopped by an operator (act_when_stopped_by_operator is not set)"
    )
    assert Simulated(node()).decide(T0, state="starting") == Decision(
        Outcome.STARTING, "its check says it is starting; left alone"
    )
    nightly = MaintenanceWindow(cron="0 2 * * *", duration=3600, reason="backup")
    held = decide(node(), limits.Memory(NodeState("h", "api")), {}, T0.replace(hour=2), [nightly])
    assert held is not None and held.reason == "backup until 2026-01-01 03:00:00 UTC"


def test_a_backoff_shorter_than_a_second_still_holds() -> None:
    assert limits.backoff_delay(RunBackoffSpec(initial=0.5, factor=2, max=300), 2) == 1.0


def test_one_unhealthy_node_of_one_exceeds_a_share_below_one() -> None:
    assert limits.blast_radius_exceeded(1, 1, 0.5)
