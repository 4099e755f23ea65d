"""The `alembic_current` check against a real alembic project and PostgreSQL database."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.postgres import AlembicCurrentCheck
from engine.core.results import Health
from tests.servers.alembic_project import REVISIONS, AlembicProject
from tests.servers.postgres import PostgresServer
from tests.support.contexts import probe_context

FIRST, HEAD = REVISIONS


def check_of(server: PostgresServer, project: AlembicProject, **options: object) -> AlembicCurrentCheck:
    base: dict[str, object] = {
        "port": server.port,
        "user": server.user,
        "dbname": project.dbname,
        "password_env": server.password_env,
        "alembic_cmd": project.command,
        # Running alembic starts Python and SQLAlchemy: generous for a loaded CI machine.
        "timeout": 30,
    }
    return AlembicCurrentCheck(**{**base, **options})


def test_healthy_at_the_head_alembic_reports(
    postgres_db: PostgresServer, alembic_project: AlembicProject
) -> None:
    alembic_project.upgrade("head")
    result = check_of(postgres_db, alembic_project).probe(probe_context(timeout=30))
    assert result.health is Health.HEALTHY, result.reason
    assert result.evidence["current"] == [HEAD]


def test_one_revision_behind_lists_the_pending_migration(
    postgres_db: PostgresServer, alembic_project: AlembicProject
) -> None:
    alembic_project.upgrade(FIRST)
    result = check_of(postgres_db, alembic_project).probe(probe_context(timeout=30))
    assert result.health is Health.UNHEALTHY
    assert result.evidence["pending"] == [HEAD]
    assert "1 pending migration" in result.reason


def test_never_migrated_database_lists_every_migration(
    postgres_db: PostgresServer, alembic_project: AlembicProject
) -> None:
    result = check_of(postgres_db, alembic_project).probe(probe_context(timeout=30))
    assert result.health is Health.UNHEALTHY
    assert result.evidence["current"] == []
    assert result.evidence["pending"] == [FIRST, HEAD]
    assert "never migrated" in result.reason


def test_a_given_head_is_compared_without_running_alembic(
    postgres_db: PostgresServer, alembic_project: AlembicProject
) -> None:
    alembic_project.upgrade(FIRST)
    check = check_of(postgres_db, alembic_project, head=FIRST, alembic_cmd="false")
    assert check.probe(probe_context()).is_healthy


def test_failing_alembic_heads_is_an_error(
    postgres_db: PostgresServer, alembic_project: AlembicProject
) -> None:
    result = check_of(postgres_db, alembic_project, alembic_cmd="false").probe(probe_context())
    assert result.health is Health.ERROR
    assert "exited 1" in result.reason


def test_unreachable_database_is_an_error(
    postgres_db: PostgresServer, alembic_project: AlembicProject, closed_port: int
) -> None:
    result = check_of(postgres_db, alembic_project, head=HEAD, port=closed_port).probe(probe_context())
    assert result.health is Health.ERROR
    assert "connection refused" in result.reason


def test_hung_alembic_command_is_an_error_at_the_timeout() -> None:
    check = AlembicCurrentCheck(alembic_cmd="sleep 10;", timeout=0.5)
    result = check.probe(probe_context(timeout=0.5))
    assert result.health is Health.ERROR
    assert "did not finish" in result.reason


def test_version_table_must_be_an_identifier() -> None:
    with pytest.raises(ValidationError, match="identifier"):
        AlembicCurrentCheck(head="abc", version_table="alembic_version; DROP TABLE x")
