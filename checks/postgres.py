"""`postgres` and `alembic_current`: the database answers; its schema is at the migration head."""

from __future__ import annotations

import re
import shlex
import time
from typing import Any

from pydantic import Field, field_validator

from checks.base import Check, NonBlankText
from engine.clients.postgres import PostgresOptions
from engine.errors import PostgresConnectError
from engine.kit import CheckResult, ProbeContext, SecretError, check_type


@check_type("postgres")
class PostgresCheck(Check, PostgresOptions):
    """Connects and runs a query (`SELECT 1` by default). Unhealthy reasons say how it
    failed: connection refused, authentication failed, database missing, timed out, the
    query failed, or its first value is not `expect`."""

    query: NonBlankText = Field(
        "SELECT 1", description="read-only query; its first column of the first row is compared"
    )
    expect: str | int | float | bool | None = Field(
        None,
        description="expected first value (compared as text); without it any answer is healthy",
    )

    def probe(self, ctx: ProbeContext) -> CheckResult:
        import psycopg

        target = self.target()
        try:
            with self.connect(ctx, self.timeout) as connection:
                row = connection.execute(self.query.encode()).fetchone()
        except SecretError as exc:
            return CheckResult.error(str(exc), target=target)
        except PostgresConnectError as exc:
            return CheckResult.unhealthy(f"{target}: {exc}", kind=exc.kind, target=target)
        except psycopg.errors.QueryCanceled:
            return CheckResult.unhealthy(
                f"{target}: query did not finish within {self.timeout:g}s",
                kind="timeout",
                target=target,
            )
        except psycopg.Error as exc:
            return CheckResult.unhealthy(
                f"{target}: query failed: {str(exc).strip().splitlines()[0]}",
                kind="query",
                target=target,
            )
        if self.expect is None:
            return CheckResult.healthy(f"{target} answers", target=target)
        if row is None:
            return CheckResult.unhealthy(f"{target}: query returned no rows", kind="value", target=target)
        if _as_text(row[0]) != _as_text(self.expect):
            return CheckResult.unhealthy(
                f"{target}: query returned {row[0]!r}, expected {self.expect!r}",
                kind="value",
                value=_as_text(row[0]),
                target=target,
            )
        return CheckResult.healthy(f"{target} answers {row[0]!r}", target=target)


@check_type("alembic_current")
class AlembicCurrentCheck(Check, PostgresOptions):
    """The database's `alembic_version` matches the migration head(s). The heads are given
    (`head`), or read by running `<alembic_cmd> heads` through the host's transport (the
    runbook's `docker compose exec backend alembic ...`). When unhealthy, the pending
    revisions are listed from `<alembic_cmd> history` (when the command is available)."""

    head: str | list[str] | None = Field(
        None, description="expected head revision(s); without it, `alembic heads` is asked"
    )
    alembic_cmd: str = Field(
        "alembic",
        description="how to run alembic on the host, e.g. `docker compose exec -T backend "
        "alembic` or `alembic -c /srv/app/alembic.ini`",
    )
    version_table: str = Field("alembic_version", description="alembic's version table")
    version_schema: str | None = Field(None, description="schema of the version table")

    @field_validator("version_table", "version_schema")
    @classmethod
    def _identifier(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
        return name

    @field_validator("alembic_cmd")
    @classmethod
    def _parses(cls, command: str) -> str:
        try:
            if not shlex.split(command):
                raise ValueError("`alembic_cmd` is empty")
        except ValueError as exc:
            raise ValueError(f"`alembic_cmd` is not a command line: {exc}") from None
        return command

    def probe(self, ctx: ProbeContext) -> CheckResult:
        # Up to three steps (heads, the database, history) share one timeout.
        deadline = time.monotonic() + self.timeout
        if self.head is not None:
            heads = [self.head] if isinstance(self.head, str) else list(self.head)
        else:
            found = self._ask_heads(ctx, deadline)
            if isinstance(found, CheckResult):
                return found
            heads = found
        current = self._current(ctx, deadline)
        if isinstance(current, CheckResult):
            return current
        evidence: dict[str, Any] = {"current": current, "heads": heads}
        if sorted(current) == sorted(heads):
            return CheckResult.healthy(f"at head {', '.join(heads)}", **evidence)
        pending = self._pending(ctx, current, deadline)
        if pending:
            evidence["pending"] = pending
        at = ", ".join(current) if current else "no revision (never migrated)"
        count = f"{len(pending)} pending migration(s)" if pending else "pending migrations"
        return CheckResult.unhealthy(f"{count}: database at {at}, head is {', '.join(heads)}", **evidence)

    def _ask_heads(self, ctx: ProbeContext, deadline: float) -> list[str] | CheckResult:
        result = ctx.transport.run(f"{self.alembic_cmd} heads", timeout=_left(deadline))
        if result.timed_out:
            return CheckResult.error(f"`{self.alembic_cmd} heads` did not finish within {self.timeout:g}s")
        if result.exit_code != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            return CheckResult.error(f"`{self.alembic_cmd} heads` exited {result.exit_code}: {tail[0]}")
        heads = re.findall(r"^\s*([0-9A-Za-z_]+)\s+\(head\)", result.stdout, re.MULTILINE)
        if not heads:
            return CheckResult.error(f"`{self.alembic_cmd} heads` named no head revision")
        return heads

    def _current(self, ctx: ProbeContext, deadline: float) -> list[str] | CheckResult:
        import psycopg
        from psycopg import sql

        table = (
            sql.Identifier(self.version_schema, self.version_table)
            if self.version_schema
            else sql.Identifier(self.version_table)
        )
        target = self.target()
        try:
            with self.connect(ctx, _left(deadline)) as connection:
                rows = connection.execute(sql.SQL("SELECT version_num FROM {}").format(table)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except (PostgresConnectError, SecretError) as exc:
            return CheckResult.error(f"cannot read the migration state of {target}: {exc}")
        except psycopg.Error as exc:
            return CheckResult.error(f"cannot read {self.version_table} on {target}: {exc}")
        return [str(row[0]) for row in rows]

    def _pending(self, ctx: ProbeContext, current: list[str], deadline: float) -> list[str]:
        """Revisions between the current one(s) and the heads, oldest first; empty when
        alembic cannot tell (no alembic on the host, an unknown current revision)."""
        start = current[0] if len(current) == 1 else "base"
        result = ctx.transport.run(
            f"{self.alembic_cmd} history -r {shlex.quote(start)}:heads", timeout=_left(deadline)
        )
        if not result.succeeded:
            return []
        # Lines read `<down> -> <rev> (head), message`, newest first.
        revisions = re.findall(r"->\s*([0-9A-Za-z_]+)", result.stdout)
        return [revision for revision in reversed(revisions) if revision not in current]


def _left(deadline: float) -> float:
    """Seconds left until `deadline`, at least a little so a step can still fail cleanly."""
    return max(0.5, deadline - time.monotonic())


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
