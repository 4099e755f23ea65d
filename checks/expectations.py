"""What a command's exit code and output must be: one judgement for every check that runs a
command (on the host, in a container)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from engine.results import CheckResult, tail


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]
"""A regular expression, refused at validation time when it does not compile."""


def command_text(command: str | list[str]) -> str:
    """A command as one line, for messages."""
    return command if isinstance(command, str) else " ".join(command)


class CommandExpectation(BaseModel):
    """The exit code and output that mean healthy."""

    exit_code: int = Field(0, description="the exit code that means healthy")
    stdout_regex: Regex | None = Field(
        None, description="a regular expression that standard output must match (re.search)"
    )

    def judge(self, exit_code: int, stdout: str, output: str, subject: str, **evidence: Any) -> CheckResult:
        """Healthy or unhealthy for a finished command. `subject` names it in the reason
        (``exited 1, expected 0``, or ``\\`pg_isready\\` in db exited 2, ...``), and the last
        line of its `output` (stdout and stderr) is quoted."""
        shown = tail(output)
        last = shown.splitlines()[-1] if shown else ""
        said = f": {last}" if last else ""
        prefix = f"{subject} " if subject else ""
        evidence = {**evidence, "exit_code": exit_code, "output": shown}
        if exit_code != self.exit_code:
            return CheckResult.unhealthy(
                f"{prefix}exited {exit_code}, expected {self.exit_code}{said}", **evidence
            )
        if self.stdout_regex and not re.search(self.stdout_regex, stdout):
            what = f"output of {subject}" if subject else "output"
            return CheckResult.unhealthy(f"{what} does not match /{self.stdout_regex}/{said}", **evidence)
        return CheckResult.healthy(f"{prefix}exited {exit_code}{said}", **evidence)
