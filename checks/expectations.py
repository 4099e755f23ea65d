"""What a command's exit code and output must be: one judgement for every check that runs a
command (on the host, in a container)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.kit import CheckResult, Regex, tail, user_regex


def regex_search(pattern: str, text: str) -> bool:
    """Whether `pattern` (a user's, see user_regex) matches somewhere in `text`. As in Python's
    re, `$` also matches before a final newline: RE2's `$` is the end of the text only, and
    command output ends with one."""
    regex = user_regex(pattern)
    if regex.search(text):
        return True
    return text.endswith("\n") and regex.search(text[:-1]) is not None


def command_text(command: str | list[str]) -> str:
    """A command as one line, for messages."""
    return command if isinstance(command, str) else " ".join(command)


class CommandExpectation(BaseModel):
    """The exit code and output that mean healthy."""

    exit_code: int = Field(0, description="the exit code that means healthy")
    stdout_regex: Regex | None = Field(
        None,
        description="a regular expression (RE2: no backreferences or lookaround) that standard "
        "output must match somewhere",
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
        if self.stdout_regex and not regex_search(self.stdout_regex, stdout):
            what = f"output of {subject}" if subject else "output"
            return CheckResult.unhealthy(f"{what} does not match /{self.stdout_regex}/{said}", **evidence)
        return CheckResult.healthy(f"{prefix}exited {exit_code}{said}", **evidence)
