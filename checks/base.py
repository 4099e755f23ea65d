"""The base of every check type."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict

from engine.core.context import ProbeContext
from engine.core.durations import Duration
from engine.core.results import CheckResult


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty")
    return text


NonBlankText = Annotated[str, AfterValidator(_not_blank)]
"""Text that must say something (a query, an expression): empty or only blanks is refused."""


def _runnable(command: str | list[str]) -> str | list[str]:
    if isinstance(command, str) and not command.strip():
        raise ValueError("is empty: give a command line or a non-empty argument list")
    if isinstance(command, list) and (not command or not command[0].strip()):
        raise ValueError("is empty: give a command line or a non-empty argument list")
    return command


CommandLine = Annotated[str | list[str], AfterValidator(_runnable)]
"""A command line (run with sh -c) or an argument list (run as is); refused when empty, which
could only fail at run time."""


class Check(BaseModel):
    """A read-only probe. Subclasses are pydantic models of their options, registered with
    `engine.core.registry.check_type`, and implement `probe`.

    A probe never changes the system. It returns `CheckResult.unhealthy` with a reason and
    evidence when the system is wrong, and `CheckResult.error` when it could not look at all
    (the engine never acts on an error). It may raise: the engine turns an exception into an
    error result for the node.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    type_key: ClassVar[str] = ""

    timeout: Duration = 10.0
    """How long the probe may take before it counts as an error."""

    def probe(self, ctx: ProbeContext) -> CheckResult:
        raise NotImplementedError
