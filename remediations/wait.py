"""`wait`: wait until the node's own check passes."""

from __future__ import annotations

from pydantic import Field

from engine.kit import ActionContext, ActionResult, Duration, action_type
from remediations.base import Action


@action_type("wait")
class WaitAction(Action):
    """Polls the node's check until it is healthy (the runbook's "wait until healthy, at most
    30s"). It changes nothing: `ok` once healthy, `failed` at the timeout."""

    timeout: Duration = Field(30.0, description="give up after this long")
    interval: Duration = Field(1.0, description="pause between checks")

    def default_timeout(self) -> float:
        # The engine's own bound must leave room for the last probe after our timeout.
        return self.timeout + 60.0

    def describe(self) -> str:
        return f"wait up to {self.timeout:g}s for the check to pass"

    def apply(self, ctx: ActionContext) -> ActionResult:
        if ctx.recheck is None:
            return ActionResult.failed("wait has no check to poll")
        deadline = ctx.clock.monotonic() + self.timeout
        started = ctx.clock.monotonic()
        while True:
            result = ctx.recheck()
            if result.is_healthy:
                return ActionResult.ok(f"healthy after {ctx.clock.monotonic() - started:.1f}s")
            if ctx.clock.monotonic() + self.interval > deadline:
                return ActionResult.failed(f"still {result.health} after {self.timeout:g}s: {result.reason}")
            ctx.clock.sleep(self.interval)
