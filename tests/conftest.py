"""Shared fixtures. Real servers live in `tests/servers/`, one module each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.services import Service

pytest_plugins: list[str] = [
    "tests.servers.net",
    "tests.servers.postgres",
    "tests.servers.alembic_project",
    "tests.servers.redis",
    "tests.servers.docker",
    "tests.servers.celery",
    "tests.servers.metrics",
    "tests.servers.prometheus",
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    """Services a test starts; every one is stopped afterwards."""
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()


@pytest.fixture
def http_service(tmp_path: Path, services: list[Service]) -> Service:
    service = Service("http", tmp_path).start()
    services.append(service)
    return service


@pytest.fixture
def tcp_service(tmp_path: Path, services: list[Service]) -> Service:
    service = Service("tcp", tmp_path).start()
    services.append(service)
    return service
