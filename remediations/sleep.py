"""`sleep`: pause between steps."""

from __future__ import annotations

from pydantic import Field

from engine.kit import ActionContext, ActionResult, Duration, action_type
from remediations.base import Action


@action_type("sleep")
class SleepAction(Action):
    """Pauses for a fixed time (for what has no check to wait on)."""

    duration: Duration = Field(description="how long to pause")

    def default_timeout(self) -> float:
        return self.duration + 10.0

    def describe(self) -> str:
        return f"sleep {self.duration:g}s"

    def apply(self, ctx: ActionContext) -> ActionResult:
        ctx.clock.sleep(self.duration)
        return ActionResult.ok(f"slept {self.duration:g}s")
