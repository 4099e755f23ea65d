"""`command`: a command's exit code and output say whether the host is healthy."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from checks.base import Check
from engine.context import ProbeContext
from engine.registry import check_type
from engine.results import CheckResult


@check_type("command")
class CommandCheck(Check):
    """Runs a read-only command on the host through its transport. Healthy when it exits with
    `exit_code` and, if given, its output matches `stdout_regex`."""

    cmd: str | list[str] = Field(
        description="shell command line (run with sh -c) or argument list (run as is)"
    )
    exit_code: int = Field(0, description="the exit code that means healthy")
    stdout_regex: str | None = Field(
        None, description="a regular expression that standard output must match (re.search)"
    )
    sudo: bool = Field(False, description="run with sudo (become)")

    @field_validator("stdout_regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return pattern

    def probe(self, ctx: ProbeContext) -> CheckResult:
        result = ctx.transport.run(self.cmd, timeout=self.timeout, sudo=self.sudo)
        output = _tail(result.stdout + result.stderr)
        if result.timed_out:
            return CheckResult.error(f"command did not finish within {self.timeout:g}s")
        if result.exit_code != self.exit_code:
            return CheckResult.unhealthy(
                f"exited {result.exit_code}, expected {self.exit_code}",
                exit_code=result.exit_code,
                output=output,
            )
        if self.stdout_regex and not re.search(self.stdout_regex, result.stdout):
            return CheckResult.unhealthy(f"output does not match /{self.stdout_regex}/", output=output)
        return CheckResult.healthy(f"exited {result.exit_code}")


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
