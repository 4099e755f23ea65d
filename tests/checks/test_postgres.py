"""The `postgres` check against a real PostgreSQL server."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.postgres import PostgresCheck
from engine.core.results import Health
from tests.servers.postgres import PostgresServer
from tests.support.contexts import probe_context


def check_of(server: PostgresServer, **options: object) -> PostgresCheck:
    base: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "dbname": server.dbname,
        "password_env": server.password_env,
    }
    return PostgresCheck(**{**base, **options})


def test_healthy_when_select_1_answers(postgres_db: PostgresServer) -> None:
    result = check_of(postgres_db).probe(probe_context())
    assert result.health is Health.HEALTHY


def test_a_dsn_and_a_password_file_reach_the_same_server(postgres_db: PostgresServer) -> None:
    check = PostgresCheck(dsn=postgres_db.url(), password_file=str(postgres_db.password_file))
    assert check.probe(probe_context()).is_healthy


def test_query_with_expected_value_matches(postgres_db: PostgresServer) -> None:
    check = check_of(postgres_db, query="SELECT current_database()", expect="coffeestudio")
    assert check.probe(probe_context()).is_healthy


def test_query_with_other_value_is_unhealthy(postgres_db: PostgresServer) -> None:
    result = check_of(postgres_db, query="SELECT pg_is_in_recovery()", expect=True).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "value"
    assert "False" in result.reason


def test_stopped_server_is_unhealthy_connection_refused(postgres_db: PostgresServer) -> None:
    postgres_db.stop()
    result = check_of(postgres_db).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "refused"
    assert "connection refused" in result.reason


def test_wrong_password_is_unhealthy_auth_failed(
    postgres_db: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_PG_PASSWORD", "not-the-password")
    result = check_of(postgres_db, password_env="WRONG_PG_PASSWORD").probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "auth_failed"
    assert "password authentication failed" in result.reason
    assert "not-the-password" not in result.reason


def test_missing_database_is_unhealthy_database_missing(postgres_db: PostgresServer) -> None:
    result = check_of(postgres_db, dbname="no_such_db").probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "database_missing"


def test_server_that_never_answers_is_unhealthy_timeout(silent_port: int) -> None:
    check = PostgresCheck(port=silent_port, timeout=2)
    result = check.probe(probe_context(timeout=2))
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "timeout"


def test_slow_query_is_cut_off_by_the_timeout(postgres_db: PostgresServer) -> None:
    result = check_of(postgres_db, query="SELECT pg_sleep(5)", timeout=1).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "timeout"


def test_unset_password_variable_is_an_error_not_unhealthy(postgres_db: PostgresServer) -> None:
    result = check_of(postgres_db, password_env="REMEDIATE_TEST_UNSET_VARIABLE").probe(probe_context())
    assert result.health is Health.ERROR


def test_password_inside_the_dsn_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="password_env"):
        PostgresCheck(dsn="postgresql://coffeestudio:hunter22@db/coffeestudio")


def test_two_password_sources_are_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="not both"):
        PostgresCheck(password_env="A", password_file="/b")


def test_unknown_option_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PostgresCheck(hostname="db")  # type: ignore[call-arg]
