"""The docker fixture skips for one named reason only, and never in CI."""

from __future__ import annotations

import pytest

from tests.servers.docker import _engine, missing_engine


def test_an_unreachable_engine_is_reported_with_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    client, why = _engine()
    assert client is None
    assert why.startswith("DockerException: Error while fetching server API version")


def test_a_missing_engine_skips_outside_ci_naming_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no Docker engine answers.*: socket gone"):
        missing_engine("socket gone")


def test_a_missing_engine_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no Docker engine answers.*: socket gone"):
        missing_engine("socket gone")
