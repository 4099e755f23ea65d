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
    "tests.servers.state_postgres",
    "tests.servers.sshd",
    "tests.servers.kube_apiserver",
]


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes state to the machine's default location (/var/lib/remediate as root)."""
    monkeypatch.setenv("REMEDIATE_STATE", str(tmp_path / "default-state.db"))


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
