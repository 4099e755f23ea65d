"""The `docker_command` check (a healthcheck run inside the container) against real
containers."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from checks import docker_command
from checks.docker_command import DockerCommandCheck
from engine.clients.sizes import OUTPUT_HEAD, OUTPUT_TAIL
from engine.core.results import Health
from tests.servers.docker import ContainerFactory, unique_project
from tests.support.contexts import probe_context

if TYPE_CHECKING:
    from docker.models.containers import Container

pytestmark = pytest.mark.docker


def test_command_exiting_0_is_healthy_and_says_what_it_printed(make_container: ContainerFactory) -> None:
    container = make_container()
    result = DockerCommandCheck(container=container.name, cmd="echo accepting connections").probe(
        probe_context()
    )
    assert result.is_healthy
    assert result.reason.endswith("exited 0: accepting connections")


def test_command_exiting_otherwise_is_unhealthy_with_its_exit_code(make_container: ContainerFactory) -> None:
    container = make_container()
    check = DockerCommandCheck(container=container.name, cmd="echo no response; exit 2")
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["exit_code"] == 2
    assert "no response" in result.reason


def test_expected_exit_code_can_be_other_than_0(make_container: ContainerFactory) -> None:
    container = make_container()
    check = DockerCommandCheck(container=container.name, cmd="exit 3", exit_code=3)
    assert check.probe(probe_context()).is_healthy


def test_output_not_matching_the_regex_is_unhealthy(make_container: ContainerFactory) -> None:
    container = make_container()
    check = DockerCommandCheck(container=container.name, cmd="echo 0001_lots", stdout_regex=r"0002")
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert "does not match /0002/" in result.reason


def test_argument_list_runs_without_a_shell(make_container: ContainerFactory) -> None:
    container = make_container()
    check = DockerCommandCheck(container=container.name, cmd=["echo", "$HOME"], stdout_regex=r"^\$HOME$")
    assert check.probe(probe_context()).is_healthy


def test_stopped_container_is_unhealthy_not_an_error(make_container: ContainerFactory) -> None:
    container = make_container(start=False)
    result = DockerCommandCheck(container=container.name, cmd="true").probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert "is created, so `true` cannot run" in result.reason


def test_missing_container_is_unhealthy() -> None:
    check = DockerCommandCheck(project=unique_project(), service="postgres", cmd="pg_isready")
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason.startswith("missing")


def test_command_outliving_the_timeout_is_an_error(make_container: ContainerFactory) -> None:
    container = make_container()
    result = DockerCommandCheck(container=container.name, cmd="sleep 30", timeout=1).probe(probe_context())
    assert result.health is Health.ERROR
    assert "did not finish within 1s" in result.reason


@pytest.mark.timeout(30)
def test_command_outliving_the_timeout_leaves_no_thread_or_socket_behind(
    make_container: ContainerFactory,
) -> None:
    container = make_container()
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    result = DockerCommandCheck(container=container.name, cmd="yes", timeout=1).probe(probe_context())
    assert result.health is Health.ERROR
    assert (threading.active_count(), len(os.listdir("/proc/self/fd"))) == (threads, fds)


@pytest.mark.timeout(60)
def test_long_output_is_kept_as_a_bounded_head_and_tail(make_container: ContainerFactory) -> None:
    container = make_container()
    check = DockerCommandCheck(
        container=container.name,
        cmd="head -c 20000000 /dev/zero | tr '\\0' x; echo; echo the end; exit 1",  # one stream: docker interleaves two in arrival order
        timeout=30,
    )
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason.endswith("exited 1, expected 0: the end")
    assert len(result.evidence["output"]) <= OUTPUT_HEAD + OUTPUT_TAIL + 64


def test_container_is_found_by_compose_labels(make_container: ContainerFactory) -> None:
    project = unique_project()
    make_container(compose=(project, "redis"))
    check = DockerCommandCheck(project=project, service="redis", cmd="true")
    assert check.probe(probe_context()).is_healthy


def test_invalid_regex_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        DockerCommandCheck(container="x", cmd="true", stdout_regex="(")


def test_container_stopping_between_inspect_and_exec_is_unhealthy_not_an_error(
    make_container: ContainerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container()
    inspect = docker_command.container_state

    def inspected_then_stopped(found: Container) -> dict[str, Any]:
        state = inspect(found)  # running when looked at...
        found.stop(timeout=0)  # ...and stopped before the exec, as after a restart
        return state

    monkeypatch.setattr(docker_command, "container_state", inspected_then_stopped)
    result = DockerCommandCheck(container=container.name, cmd="true").probe(probe_context())
    assert result.health is Health.UNHEALTHY, result.reason
    assert f"{container.name} stopped before `true` could run" in result.reason
    assert "is not running" in result.reason


def test_a_missing_docker_socket_is_one_plain_sentence(tmp_path: Path) -> None:
    socket = tmp_path / "docker.sock"
    check = DockerCommandCheck(container="web", cmd="true", docker_host=f"unix://{socket}")
    result = check.probe(probe_context())
    assert result.health is Health.ERROR
    assert result.reason == f"no Docker engine on this host: {socket} does not exist (is dockerd running?)"
