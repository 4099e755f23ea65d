"""Shared fixtures. Real servers live in `tests/servers/`, one module each."""

from __future__ import annotations

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
