"""The `compose` action with the compose CLI the machine has (here docker-compose v1)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.transports.base import Command, CommandResult
from engine.transports.local import LocalTransport
from remediations.compose import ComposeAction, find_compose_cli
from tests.servers.docker import IMAGE, LABELS, unique_project
from tests.support.contexts import action_context

pytestmark = pytest.mark.docker


@pytest.fixture
def compose_project(docker_client: object, test_image: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A compose project of one service, `app`, in tmp_path; taken down afterwards."""
    try:
        cli = find_compose_cli(LocalTransport(), timeout=30)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no compose CLI: {exc}")
        pytest.skip(f"no compose CLI: {exc}")
    labels = "".join(f"      {key}: '{value}'\n" for key, value in LABELS.items())
    (tmp_path / "docker-compose.yml").write_text(
        "version: '2.4'\nservices:\n  app:\n"
        f"    image: {IMAGE}\n    command: ['sh', '-c', 'sleep 3600']\n    init: true\n"
        f"    network_mode: none\n    labels:\n{labels}"
    )
    project = unique_project()
    yield project, tmp_path
    subprocess.run([*cli, "-p", project, "down", "-t", "0"], cwd=tmp_path, capture_output=True)


def app_running(docker_client: object, project: str) -> bool:
    found = docker_client.containers.list(  # type: ignore[attr-defined]
        filters={"label": [f"com.docker.compose.project={project}", "com.docker.compose.service=app"]}
    )
    return len(found) == 1


def test_up_creates_the_service_then_is_ok(compose_project: tuple[str, Path], docker_client: object) -> None:
    project, directory = compose_project
    action = ComposeAction(services=["app"], project=project, project_dir=str(directory))
    first = action.apply(action_context(timeout=120))
    assert first.status == "changed", first.detail
    assert app_running(docker_client, project)
    second = action.apply(action_context(timeout=120))
    assert second.status == "ok", second.detail


def test_restart_restarts_the_service(compose_project: tuple[str, Path], docker_client: object) -> None:
    project, directory = compose_project
    ComposeAction(services=["app"], project=project, project_dir=str(directory)).apply(
        action_context(timeout=120)
    )
    restart = ComposeAction(command="restart", services=["app"], project=project, project_dir=str(directory))
    result = restart.apply(action_context(timeout=120))
    assert result.status == "changed", result.detail
    assert app_running(docker_client, project)


def test_unknown_service_fails_with_the_clis_message(compose_project: tuple[str, Path]) -> None:
    project, directory = compose_project
    action = ComposeAction(services=["nosuch"], project=project, project_dir=str(directory))
    result = action.apply(action_context(timeout=120))
    assert result.status == "failed"
    assert "nosuch" in result.detail


class NoComposePath(LocalTransport):
    """The local transport on a host whose PATH has only a shell: no compose CLI at all."""

    def __init__(self, bin_dir: Path) -> None:
        super().__init__("bare-host")
        self.bin_dir = bin_dir

    def run(self, command: Command, *, timeout: float, **kwargs: object) -> CommandResult:
        return super().run(command, timeout=timeout, env={"PATH": str(self.bin_dir)})


def test_without_any_compose_cli_fails_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "sh").symlink_to("/bin/sh")
    result = ComposeAction(services=["backend"]).apply(action_context(transport=NoComposePath(tmp_path)))
    assert result.status == "failed"
    assert result.detail.startswith(
        "neither `docker compose` (v2) nor `docker-compose` (v1) works on bare-host"
    )


def test_describe_shows_the_exact_command() -> None:
    action = ComposeAction(services=["backend"], build=True, project="coffeestudio", project_dir="/srv/cs")
    assert action.describe() == "cd /srv/cs && docker compose -p coffeestudio up -d --build backend"


def test_build_with_restart_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="only goes with"):
        ComposeAction(command="restart", services=["backend"], build=True)


def test_no_services_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="at least one service"):
        ComposeAction(services=[])
