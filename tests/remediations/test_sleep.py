"""The sleep action."""

from __future__ import annotations

from engine.core.results import ActionStatus
from remediations.sleep import SleepAction
from tests.support.clock import FakeClock
from tests.support.contexts import action_context


def test_sleep_pauses_for_its_duration() -> None:
    clock = FakeClock()
    assert SleepAction(duration="1m").apply(action_context(clock=clock)).status is ActionStatus.OK
    assert clock.sleeps == [60]
