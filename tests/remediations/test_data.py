"""redis_command, celery_purge and postgres_sql against real Redis and PostgreSQL servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from engine.core.results import ActionStatus
from remediations.postgres import PostgresSqlAction
from remediations.redis import CeleryPurgeAction, RedisCommandAction
from tests.servers.celery import broker_url
from tests.servers.net import wait_until
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.support.contexts import action_context


def redis_action(server: RedisServer, **options: object) -> RedisCommandAction:
    return RedisCommandAction(**{"url": server.url, "password_env": server.password_env, **options})


def test_redis_config_set_runs_until_its_guard_matches(redis_db: RedisServer) -> None:
    action = redis_action(
        redis_db,
        command=["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        unless_reply={
            "command": ["CONFIG", "GET", "maxmemory-policy"],
            "equals": {"maxmemory-policy": "allkeys-lru"},
        },
    )
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    assert redis_db.client().config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert action.apply(action_context(timeout=30)).status is ActionStatus.OK
    redis_db.client().config_set("maxmemory-policy", "noeviction")


def test_redis_del_removes_the_key_then_is_ok(redis_db: RedisServer) -> None:
    redis_db.client().set("beat-lock", "stale")
    action = redis_action(redis_db, command="DEL beat-lock")
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    assert redis_db.client().exists("beat-lock") == 0
    assert action.apply(action_context(timeout=30)).status is ActionStatus.OK


def test_redis_commands_that_delete_data_are_destructive() -> None:
    for command in (["DEL", "k"], ["FLUSHALL"], ["flushdb"], ["EXPIRE", "k", "1"], ["EVAL", "x", "0"]):
        assert RedisCommandAction(command=command).is_destructive(), command
    for command in (["CONFIG", "SET", "maxmemory", "1gb"], ["PING"], ["CLIENT", "KILL", "ID", "1"]):
        assert not RedisCommandAction(command=command).is_destructive(), command


def test_redis_command_the_server_refuses_fails(redis_db: RedisServer) -> None:
    result = redis_action(redis_db, command=["CONFIG", "SET", "no-such-setting", "1"]).apply(
        action_context(timeout=30)
    )
    assert result.status is ActionStatus.FAILED
    assert "Redis refused CONFIG" in result.detail


def test_redis_command_on_a_stopped_server_fails(redis_db: RedisServer) -> None:
    redis_db.stop()
    result = redis_action(redis_db, command=["PING"]).apply(action_context(timeout=30))
    assert result.status is ActionStatus.FAILED
    assert result.detail == "connection refused"


def test_empty_redis_command_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="empty"):
        RedisCommandAction(command=[])


def send_tasks(server: RedisServer, count: int) -> None:
    from celery import Celery

    app = Celery("remediate-test-producer", broker=broker_url(server), set_as_current=False)
    for number in range(count):
        app.send_task("tests.servers.celery_app.add", args=(number, 1))
    app.close()


def test_celery_purge_removes_waiting_tasks_then_is_ok(redis_db: RedisServer) -> None:
    send_tasks(redis_db, 7)
    assert redis_db.client().llen("celery") == 7
    action = CeleryPurgeAction(url=redis_db.url, password_env=redis_db.password_env)
    result = action.apply(action_context(timeout=30))
    assert result.status is ActionStatus.CHANGED
    assert result.detail == "removed 7 task(s) from celery"
    assert redis_db.client().llen("celery") == 0
    assert action.apply(action_context(timeout=30)).status is ActionStatus.OK


def test_celery_purge_is_always_destructive() -> None:
    assert CeleryPurgeAction().is_destructive()


def test_celery_purge_on_an_unreachable_broker_fails(closed_port: int) -> None:
    result = CeleryPurgeAction(url=f"redis://127.0.0.1:{closed_port}/0").apply(action_context(timeout=2))
    assert result.status is ActionStatus.FAILED


SETTING = "log_min_duration_statement"


@pytest.fixture
def may_alter_system(postgres_db: PostgresServer) -> Iterator[PostgresServer]:
    """The application role may set the slow-query log, as the stack's owner role can."""
    postgres_db.superuser_sql(f"GRANT ALTER SYSTEM ON PARAMETER {SETTING} TO {postgres_db.user}")
    postgres_db.superuser_sql(
        f"GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {postgres_db.user}", dbname=postgres_db.dbname
    )
    yield postgres_db
    postgres_db.superuser_sql(f"ALTER SYSTEM RESET {SETTING}")
    postgres_db.superuser_sql("SELECT pg_reload_conf()")


def slow_query_log(server: PostgresServer) -> PostgresSqlAction:
    return PostgresSqlAction(
        port=server.port,
        user=server.user,
        dbname=server.dbname,
        password_env=server.password_env,
        sql=f"ALTER SYSTEM SET {SETTING} = 1000",
        reload=True,
        needed_if=f"SELECT setting <> '1000' FROM pg_settings WHERE name = '{SETTING}'",
    )


def test_postgres_sql_sets_and_reloads_then_is_ok(may_alter_system: PostgresServer) -> None:
    action = slow_query_log(may_alter_system)
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    wait_until(lambda: may_alter_system.superuser_sql(f"SHOW {SETTING}") == [("1s",)], 5, "not reloaded")
    second = action.apply(action_context(timeout=30))
    assert second.status is ActionStatus.OK
    assert second.detail.startswith("not needed")


def test_postgres_sql_without_the_privilege_fails_with_the_servers_message(
    postgres_db: PostgresServer,
) -> None:
    action = slow_query_log(postgres_db).model_copy(update={"sql": "ALTER SYSTEM SET work_mem = '8MB'"})
    result = action.apply(action_context(timeout=30))
    assert result.status is ActionStatus.FAILED
    assert "permission denied" in result.detail


def test_postgres_sql_on_a_stopped_server_fails(postgres_db: PostgresServer) -> None:
    postgres_db.stop()
    result = slow_query_log(postgres_db).apply(action_context(timeout=30))
    assert result.status is ActionStatus.FAILED
    assert "connection refused" in result.detail


def test_postgres_sql_that_drops_or_deletes_is_destructive() -> None:
    assert PostgresSqlAction(sql="DROP TABLE sessions").is_destructive()
    assert PostgresSqlAction(sql=["SELECT 1", "delete from sessions"]).is_destructive()
    assert not PostgresSqlAction(sql="ALTER SYSTEM SET log_min_duration_statement = 1000").is_destructive()
    assert not PostgresSqlAction(sql="SET application_name = 'drop everything'").is_destructive()


def test_empty_sql_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="empty"):
        PostgresSqlAction(sql=["  "])
