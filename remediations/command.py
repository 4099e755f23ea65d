"""`command`: run a command on the host."""

from __future__ import annotations

from pydantic import Field

from checks.base import CommandLine
from engine.kit import ActionContext, ActionResult, action_type, tail_line
from remediations.base import Action


@action_type("command")
class CommandAction(Action):
    """Runs a command through the host's transport. Exit 0 is `changed`; anything else fails
    the step. Make it idempotent with the step's `unless:` guard (a check that says the command
    is not needed)."""

    cmd: CommandLine = Field(
        description="shell command line (run with sh -c) or argument list (run as is)"
    )
    sudo: bool = Field(False, description="run with sudo (become)")

    def describe(self) -> str:
        command = self.cmd if isinstance(self.cmd, str) else " ".join(self.cmd)
        return f"command: {command}" + (" (sudo)" if self.sudo else "")

    def apply(self, ctx: ActionContext) -> ActionResult:
        result = ctx.transport.run(self.cmd, timeout=ctx.timeout, sudo=self.sudo)
        if result.timed_out:
            return ActionResult.failed(f"killed after {ctx.timeout:g}s")
        if result.exit_code != 0:
            return ActionResult.failed(
                f"exited {result.exit_code}: {tail_line(result.stderr or result.stdout)}"
            )
        return ActionResult.changed(f"exited 0 in {result.duration:.2f}s")
