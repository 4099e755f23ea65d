"""Shared fixtures. Real servers live in `tests/servers/`, one module each."""

from __future__ import annotations

pytest_plugins: list[str] = ["tests.servers.sshd"]
