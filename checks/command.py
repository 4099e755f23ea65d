"""`command`: a command's exit code and output say whether the host is healthy."""

from __future__ import annotations

from pydantic import Field

from checks.base import Check, CommandLine
from checks.expectations import CommandExpectation
from engine.kit import CheckResult, ProbeContext, check_type


@check_type("command")
class CommandCheck(Check, CommandExpectation):
    """Runs a read-only command on the host through its transport. Healthy when it exits with
    `exit_code` and, if given, its output matches `stdout_regex`."""

    cmd: CommandLine = Field(
        description="shell command line (run with sh -c) or argument list (run as is)"
    )
    sudo: bool = Field(False, description="run with sudo (become)")

    def probe(self, ctx: ProbeContext) -> CheckResult:
        result = ctx.transport.run(self.cmd, timeout=self.timeout, sudo=self.sudo)
        if result.timed_out:
            return CheckResult.error(f"command did not finish within {self.timeout:g}s")
        return self.judge(result.exit_code, result.stdout, result.stdout + result.stderr, subject="")
