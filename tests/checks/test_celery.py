"""The `celery_worker` check against real Celery workers on the Redis broker."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from checks.celery import CeleryWorkerCheck
from engine.core.results import Health
from tests.servers.celery import CeleryWorker
from tests.servers.redis import RedisServer
from tests.support.contexts import probe_context


def check_of(server: RedisServer, **options: object) -> CeleryWorkerCheck:
    return CeleryWorkerCheck(
        **{"url": server.url, "password_env": server.password_env, "reply_timeout": 2, **options}
    )


def test_healthy_when_a_worker_answers(
    redis_db: RedisServer, celery_worker: Callable[[], CeleryWorker]
) -> None:
    worker = celery_worker()
    result = check_of(redis_db).probe(probe_context())
    assert result.is_healthy, result.reason
    assert result.evidence["answered"] == [worker.name]


@pytest.mark.parametrize("named", [False, True])
def test_the_ping_ends_once_enough_workers_answered_not_at_the_reply_timeout(
    redis_db: RedisServer, celery_worker: Callable[[], CeleryWorker], named: bool
) -> None:
    worker = celery_worker()
    check = check_of(redis_db, reply_timeout=60, timeout=60, workers=[worker.name] if named else [])
    started = time.monotonic()
    result = check.probe(probe_context(timeout=60))
    assert result.is_healthy, result.reason
    assert time.monotonic() - started < 30  # far from the 60 s the ping could wait


def test_killed_worker_is_unhealthy_with_no_answers(
    redis_db: RedisServer, celery_worker: Callable[[], CeleryWorker]
) -> None:
    worker = celery_worker()
    worker.kill()
    result = check_of(redis_db).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason.startswith("0 worker(s) answered")


def test_fewer_workers_than_required_is_unhealthy(
    redis_db: RedisServer, celery_worker: Callable[[], CeleryWorker]
) -> None:
    celery_worker()
    result = check_of(redis_db, min_workers=2).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert "expected at least 2" in result.reason


def test_a_named_worker_that_is_silent_is_unhealthy(
    redis_db: RedisServer, celery_worker: Callable[[], CeleryWorker]
) -> None:
    celery_worker()
    result = check_of(redis_db, workers=["celery@elsewhere"]).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["missing"] == ["celery@elsewhere"]


def test_a_broker_restart_between_probes_does_not_break_later_probes(redis_db: RedisServer) -> None:
    # Regression: a connection pooled process-wide by the first probe was dead after the
    # restart, and the second probe failed with "Connection closed by server".
    assert check_of(redis_db).probe(probe_context()).health is Health.UNHEALTHY
    redis_db.stop()
    redis_db.start()
    result = check_of(redis_db).probe(probe_context())
    assert result.health is Health.UNHEALTHY, result.reason


def test_unreachable_broker_is_an_error_not_the_workers_fault(closed_port: int) -> None:
    check = CeleryWorkerCheck(url=f"redis://127.0.0.1:{closed_port}/0", timeout=2)
    result = check.probe(probe_context(timeout=2))
    assert result.health is Health.ERROR


@pytest.mark.timeout(30)  # guards against a hang; the assertion is on the reason, not the clock
def test_broker_that_never_answers_is_an_error_at_the_timeout(silent_port: int) -> None:
    check = CeleryWorkerCheck(url=f"redis://127.0.0.1:{silent_port}/0", timeout=1)
    result = check.probe(probe_context(timeout=1))
    assert result.health is Health.ERROR
    assert result.reason == "cannot ping workers through the broker: Timeout reading from socket"


def test_zero_workers_required_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="min_workers"):
        CeleryWorkerCheck(min_workers=0)
