"""The wait action: polls the node's check until it passes or its timeout runs out."""

from __future__ import annotations

from engine.core.results import ActionStatus, CheckResult
from remediations.wait import WaitAction
from tests.support.clock import FakeClock
from tests.support.contexts import action_context


def test_wait_polls_the_check_until_it_passes() -> None:
    answers = [CheckResult.unhealthy("down"), CheckResult.unhealthy("down"), CheckResult.healthy()]
    clock = FakeClock()
    result = WaitAction(timeout="30s", interval="2s").apply(
        action_context(clock=clock, recheck=lambda: answers.pop(0))
    )
    assert (result.status, clock.sleeps) == (ActionStatus.OK, [2, 2])


def test_wait_fails_at_its_timeout_with_the_last_reason() -> None:
    clock = FakeClock()
    result = WaitAction(timeout="5s", interval="1s").apply(
        action_context(clock=clock, recheck=lambda: CheckResult.unhealthy("refused"))
    )
    assert (result.status, result.detail) == (ActionStatus.FAILED, "still unhealthy after 5s: refused")
    assert sum(clock.sleeps) == 5
