"""The base of every action type."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from engine.core.context import ActionContext
from engine.core.results import ActionResult


class Action(BaseModel):
    """One idempotent step of a remediation. Subclasses are pydantic models of their options,
    registered with `engine.core.registry.action_type`, and implement `apply`.

    `apply` reports `ok` when nothing needed doing, `changed` when it changed the system,
    `failed` with a reason otherwise; running it twice is safe.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    type_key: ClassVar[str] = ""
    destructive: ClassVar[bool] = False
    """Deletes data: runs only when the playbook says ``destructive: true`` on the step and the
    command line says ``--allow-destructive``."""

    def is_destructive(self) -> bool:
        """Whether these options delete data (types whose options decide override this)."""
        return self.destructive

    def default_timeout(self) -> float:
        """How long the engine lets the action run when the step sets no ``timeout``."""
        return 300.0

    def describe(self) -> str:
        """One line saying exactly what the action would do, arguments rendered."""
        options = self.model_dump(mode="json", exclude_defaults=True)
        arguments = " ".join(f"{key}={value!r}" for key, value in options.items())
        return f"{self.type_key} {arguments}".strip()

    def apply(self, ctx: ActionContext) -> ActionResult:
        raise NotImplementedError
