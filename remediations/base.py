"""The base of every action type."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from engine.core.context import ActionContext, HealthyVersion, alembic_revision
from engine.core.results import ActionResult, Health


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
    observes: ClassVar[bool] = False
    """Only watches the node's check (`wait`): the step before it needs no verification window
    of its own, the watching step is that window (and knows when to give up)."""

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


def schema_refusal(ctx: ActionContext, service: str, target: HealthyVersion) -> str | None:
    """Why rolling `service` back to `target` would run old code against a newer schema (the
    playbook's `alembic_node` reads the database's revision now; `target` recorded the one it
    was healthy with), or None when it would not or cannot be told. Shared by every rollback."""
    if not target.alembic_revision or ctx.schema_revision is None:
        return None
    check = ctx.schema_revision()
    if check.health is Health.ERROR:
        return f"refused: cannot read the database's alembic revision to compare ({check.reason})"
    now = alembic_revision(check.evidence)
    if now == target.alembic_revision:
        return None
    return (
        f"refused: the database schema moved since {target.image or target.image_id} was healthy "
        f"(alembic revision {target.alembic_revision} then, {now or 'none'} now); the old "
        f"{service} would run against the newer schema (allow_schema_change: true to do it anyway)"
    )
