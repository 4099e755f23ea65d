"""The `redis` check against a real redis-server."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.redis import RedisCheck
from engine.core.results import Health
from tests.servers.redis import RedisServer
from tests.support.contexts import probe_context


def check_of(server: RedisServer, **options: object) -> RedisCheck:
    return RedisCheck(**{"url": server.url, "password_env": server.password_env, **options})


def test_healthy_when_ping_answers(redis_db: RedisServer) -> None:
    assert check_of(redis_db).probe(probe_context()).is_healthy


def test_password_file_works_like_the_environment(redis_db: RedisServer) -> None:
    check = RedisCheck(url=redis_db.url, password_file=str(redis_db.password_file))
    assert check.probe(probe_context()).is_healthy


def test_stopped_server_is_unhealthy_connection_refused(redis_db: RedisServer) -> None:
    redis_db.stop()
    result = check_of(redis_db).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "refused"


def test_wrong_password_is_unhealthy_auth_failed(
    redis_db: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_REDIS_PASSWORD", "not-the-password")
    result = check_of(redis_db, password_env="WRONG_REDIS_PASSWORD").probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "auth_failed"


def test_missing_password_is_unhealthy_auth_failed(redis_db: RedisServer) -> None:
    result = RedisCheck(url=redis_db.url).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "auth_failed"


def test_server_that_never_answers_is_unhealthy_timeout(silent_port: int) -> None:
    check = RedisCheck(url=f"redis://127.0.0.1:{silent_port}/0", timeout=0.5)
    result = check.probe(probe_context(timeout=0.5))
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "timeout"


def test_queue_longer_than_allowed_is_unhealthy(redis_db: RedisServer) -> None:
    redis_db.client().rpush("celery", *["task"] * 11)
    result = check_of(redis_db, max_queue_length=10).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["queue_length"] == 11
    assert "11 entries in 'celery'" in result.reason


def test_queue_at_its_limit_is_healthy(redis_db: RedisServer) -> None:
    redis_db.client().rpush("celery", *["task"] * 10)
    assert check_of(redis_db, max_queue_length=10).probe(probe_context()).is_healthy


def test_memory_above_percentage_of_maxmemory_is_unhealthy(redis_db: RedisServer) -> None:
    client = redis_db.client()
    client.set("ballast", "x" * 1_000_000)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", int(used / 0.9))  # 90% used
    result = check_of(redis_db, max_memory_percent=80).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "memory"


def test_memory_below_percentage_of_maxmemory_is_healthy(redis_db: RedisServer) -> None:
    client = redis_db.client()
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) * 10)
    assert check_of(redis_db, max_memory_percent=80).probe(probe_context()).is_healthy


def test_memory_percentage_without_maxmemory_is_an_error(redis_db: RedisServer) -> None:
    result = check_of(redis_db, max_memory_percent=80).probe(probe_context())
    assert result.health is Health.ERROR
    assert "maxmemory is not set" in result.reason


def test_memory_above_absolute_bytes_is_unhealthy(redis_db: RedisServer) -> None:
    result = check_of(redis_db, max_memory_bytes=1024).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["kind"] == "memory"


def test_password_in_the_url_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="password_env"):
        RedisCheck(url="redis://:secret@127.0.0.1:6379/0")


def test_non_redis_url_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="redis://"):
        RedisCheck(url="http://127.0.0.1:6379")


def test_rediss_url_and_tls_option_both_mean_tls() -> None:
    assert RedisCheck(url="rediss://cache:6380/0").uses_tls
    assert RedisCheck(url="redis://cache:6380/0", tls=True).uses_tls
    assert not RedisCheck(url="redis://cache:6380/0").uses_tls


def test_plain_client_against_a_tls_only_port_fails_and_tls_client_answers(
    redis_tls: tuple[RedisServer, str],
) -> None:
    server, ca_file = redis_tls
    plain = check_of(server).probe(probe_context(timeout=1))
    assert plain.health is Health.UNHEALTHY
    assert check_of(server, tls=True, tls_ca_file=ca_file).probe(probe_context()).is_healthy
