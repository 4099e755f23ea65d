"""The `compose` action with the compose CLI the machine has (here docker-compose v1)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.errors import ComposeNotFound
from engine.transports.base import Command, CommandResult
from engine.transports.local import LocalTransport
from remediations.compose import COMPOSE_FILE_NAMES, ComposeAction, find_compose_cli
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


class CountingTransport(LocalTransport):
    """The local transport, counting the commands it starts."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[Command] = []

    def run(self, command: Command, *, timeout: float, **kwargs: object) -> CommandResult:
        self.commands.append(command)
        return super().run(command, timeout=timeout, **kwargs)  # type: ignore[arg-type]


def test_up_without_a_compose_file_fails_at_once_without_starting_compose(tmp_path: Path) -> None:
    """The lab and many hosts have no compose file: the rebuild rung must not spend seconds
    starting compose (twice, for v1) only to learn that."""
    project_dir = tmp_path / "srv" / "app"
    project_dir.mkdir(parents=True)
    transport = CountingTransport()
    action = ComposeAction(services=["backend"], build=True, project_dir=str(project_dir))
    result = action.apply(action_context(timeout=30, transport=transport))
    assert result.status == "failed"
    assert result.detail.startswith(f"no compose file in {project_dir} or a directory above it on ")
    assert "compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml" in result.detail
    assert len(transport.commands) == 1


def test_up_with_a_missing_compose_file_fails_naming_it(tmp_path: Path) -> None:
    transport = CountingTransport()
    action = ComposeAction(services=["backend"], files=["prod.yml"], project_dir=str(tmp_path))
    result = action.apply(action_context(timeout=30, transport=transport))
    assert result.status == "failed"
    assert result.detail.startswith(f"the compose file prod.yml does not exist in {tmp_path} on ")
    assert len(transport.commands) == 1


def test_up_in_a_missing_project_directory_fails_naming_it(tmp_path: Path) -> None:
    action = ComposeAction(services=["backend"], project_dir=str(tmp_path / "gone"))
    result = action.apply(action_context(timeout=30))
    assert result.status == "failed"
    assert result.detail.startswith(f"the compose project directory {tmp_path / 'gone'} does not exist")


def test_up_finds_the_compose_file_in_a_directory_above_the_project_dir(
    compose_project: tuple[str, Path], docker_client: object
) -> None:
    project, directory = compose_project
    below = directory / "deploy" / "scripts"
    below.mkdir(parents=True)
    action = ComposeAction(services=["app"], project=project, project_dir=str(below))
    result = action.apply(action_context(timeout=120))
    assert result.status == "changed", result.detail
    assert app_running(docker_client, project)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(COMPOSE_FILE_NAMES),
    depth=st.integers(min_value=0, max_value=4),
    place=st.integers(min_value=-1, max_value=4),
)
def test_the_compose_file_is_found_where_compose_looks_for_it(
    tmp_path_factory: pytest.TempPathFactory, name: str, depth: int, place: int
) -> None:
    """Compose's own lookup: any of its file names in the project directory or a directory
    above it (`place` levels up) is found; one in a directory below it (`place` -1) is not."""
    root = tmp_path_factory.mktemp("tree")
    project_dir = root.joinpath(*[f"d{i}" for i in range(depth)], "project")
    (project_dir / "below").mkdir(parents=True)
    levels_up = min(place, depth + 1)
    holder = project_dir / "below" if place < 0 else ([project_dir, *project_dir.parents])[levels_up]
    (holder / name).touch()

    def lookup() -> list[str]:
        return find_compose_cli(LocalTransport(), timeout=30, project_dir=str(project_dir), files=[])

    if place < 0:
        with pytest.raises(ComposeNotFound, match=r"^no compose file in "):
            lookup()
    else:
        assert lookup() in (["docker", "compose"], ["docker-compose"])


def test_describe_shows_the_exact_command() -> None:
    action = ComposeAction(services=["backend"], build=True, project="coffeestudio", project_dir="/srv/cs")
    assert action.describe() == "cd /srv/cs && docker compose -p coffeestudio up -d --build backend"


def test_build_with_restart_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="only goes with"):
        ComposeAction(command="restart", services=["backend"], build=True)


def test_no_services_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="at least one service"):
        ComposeAction(services=[])
