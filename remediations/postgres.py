"""`postgres_sql`: run SQL such as `ALTER SYSTEM SET ...`, guarded by a query."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from engine.clients.postgres import PostgresOptions
from engine.errors import PostgresConnectError
from engine.kit import ActionContext, ActionResult, SecretError, action_type
from remediations.base import Action

_DESTRUCTIVE = re.compile(r"\b(DROP|TRUNCATE|DELETE|UPDATE)\b", re.IGNORECASE)
_LITERALS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)


@action_type("postgres_sql")
class PostgresSqlAction(Action, PostgresOptions):
    """Runs SQL statements in autocommit (ALTER SYSTEM cannot run in a transaction), then
    `SELECT pg_reload_conf()` when `reload` is set. `needed_if` makes it idempotent: a
    query whose first value says whether the statements are needed; false or no rows is
    `ok`. SQL that deletes or overwrites rows or objects (DROP, TRUNCATE, DELETE, UPDATE)
    makes the step destructive.

    The runbook's slow-query log:
    `sql: ALTER SYSTEM SET log_min_duration_statement = 1000`, `reload: true`,
    `needed_if: SELECT setting <> '1000' FROM pg_settings
    WHERE name = 'log_min_duration_statement'`.
    """

    sql: str | list[str] = Field(description="statement(s), run in order")
    needed_if: str | None = Field(None, description="query whose first value is true when `sql` is needed")
    reload: bool = Field(False, description="then reload the server configuration (pg_reload_conf)")

    @field_validator("sql")
    @classmethod
    def _not_empty(cls, sql: str | list[str]) -> str | list[str]:
        statements = [sql] if isinstance(sql, str) else sql
        if not statements or not all(s.strip() for s in statements):
            raise ValueError("`sql` is empty")
        return sql

    @property
    def statements(self) -> list[str]:
        return [self.sql] if isinstance(self.sql, str) else list(self.sql)

    def is_destructive(self) -> bool:
        return any(_DESTRUCTIVE.search(_LITERALS.sub("", s)) for s in self.statements)

    def default_timeout(self) -> float:
        return 60.0

    def describe(self) -> str:
        text = f"on {self.target()}: {'; '.join(self.statements)}"
        if self.reload:
            text += "; SELECT pg_reload_conf()"
        return text + (f" (if {self.needed_if})" if self.needed_if else "")

    def apply(self, ctx: ActionContext) -> ActionResult:
        import psycopg

        try:
            with self.connect(ctx, ctx.timeout) as connection:
                if self.needed_if is not None:
                    row = connection.execute(self.needed_if.encode()).fetchone()
                    if row is None or not _truthy(row[0]):
                        return ActionResult.ok(f"not needed: {self.needed_if} is false")
                for statement in self.statements:
                    connection.execute(statement.encode())
                if self.reload:
                    connection.execute(b"SELECT pg_reload_conf()")
        except (PostgresConnectError, SecretError) as exc:
            return ActionResult.failed(f"{self.target()}: {exc}")
        except psycopg.Error as exc:
            return ActionResult.failed(f"{self.target()}: {str(exc).strip().splitlines()[0]}")
        done = f"ran {len(self.statements)} statement(s)" + (" and reloaded" if self.reload else "")
        return ActionResult.changed(done)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "f", "false", "0", "no", "off")
    return bool(value)
