"""Docker actions against real containers: each acts when needed and is `ok` the second time."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.core.results import ActionStatus
from engine.secrets.redact import REDACTOR
from remediations.docker import (
    DockerExecAction,
    DockerLogsAction,
    DockerRestartAction,
    DockerStartAction,
    DockerStopAction,
    DockerUpdateAction,
)
from tests.servers.docker import ContainerFactory, unique_project
from tests.support.contexts import action_context

pytestmark = pytest.mark.docker


def status_of(container: object) -> str:
    container.reload()  # type: ignore[attr-defined]
    return str(container.attrs["State"]["Status"])  # type: ignore[attr-defined]


def test_start_starts_an_exited_container_then_is_ok(make_container: ContainerFactory) -> None:
    container = make_container("sleep 3600", start=False)
    action = DockerStartAction(container=container.name)
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    assert status_of(container) == "running"
    assert action.apply(action_context(timeout=30)).status is ActionStatus.OK


def test_start_finds_the_container_by_compose_labels(make_container: ContainerFactory) -> None:
    project = unique_project()
    container = make_container(compose=(project, "worker"), start=False)
    result = DockerStartAction(project=project, service="worker").apply(action_context(timeout=30))
    assert result.status is ActionStatus.CHANGED
    assert status_of(container) == "running"


def test_start_unpauses_a_paused_container(make_container: ContainerFactory) -> None:
    container = make_container()
    container.pause()
    result = DockerStartAction(container=container.name).apply(action_context(timeout=30))
    assert (result.status, status_of(container)) == (ActionStatus.CHANGED, "running")


def test_start_of_a_missing_container_fails_and_says_so() -> None:
    result = DockerStartAction(project=unique_project(), service="backend").apply(action_context(timeout=30))
    assert result.status is ActionStatus.FAILED
    assert "no container" in result.detail


def test_stop_stops_a_running_container_then_is_ok(make_container: ContainerFactory) -> None:
    container = make_container()
    action = DockerStopAction(container=container.name, stop_timeout=5)
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    assert status_of(container) == "exited"
    assert action.apply(action_context(timeout=30)).status is ActionStatus.OK


def test_restart_restarts_a_running_container(make_container: ContainerFactory) -> None:
    container = make_container()
    container.reload()
    started_before = container.attrs["State"]["StartedAt"]
    result = DockerRestartAction(container=container.name, stop_timeout=5).apply(action_context(timeout=30))
    container.reload()
    assert result.status is ActionStatus.CHANGED
    assert container.attrs["State"]["StartedAt"] != started_before
    assert status_of(container) == "running"


def test_restart_brings_up_an_exited_container(make_container: ContainerFactory) -> None:
    container = make_container("sleep 3600", start=False)
    DockerRestartAction(container=container.name).apply(action_context(timeout=30))
    assert status_of(container) == "running"


def test_exec_runs_unless_its_guard_says_done(make_container: ContainerFactory) -> None:
    container = make_container()
    action = DockerExecAction(
        container=container.name, cmd="touch /tmp/migrated", unless_cmd="test -f /tmp/migrated"
    )
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    assert container.exec_run(["test", "-f", "/tmp/migrated"]).exit_code == 0
    second = action.apply(action_context(timeout=30))
    assert second.status is ActionStatus.OK
    assert "not needed" in second.detail


def test_exec_failure_fails_with_the_commands_output(make_container: ContainerFactory) -> None:
    container = make_container()
    result = DockerExecAction(container=container.name, cmd="echo migration broke; exit 4").apply(
        action_context(timeout=30)
    )
    assert result.status is ActionStatus.FAILED
    assert result.detail == "exited 4: migration broke"


def test_exec_in_a_stopped_container_fails(make_container: ContainerFactory) -> None:
    container = make_container(start=False)
    result = DockerExecAction(container=container.name, cmd=["true"]).apply(action_context(timeout=30))
    assert result.status is ActionStatus.FAILED
    assert "not running" in result.detail


def test_exec_longer_than_the_timeout_fails(make_container: ContainerFactory) -> None:
    container = make_container()
    result = DockerExecAction(container=container.name, cmd="sleep 5").apply(action_context(timeout=1))
    assert result.status is ActionStatus.FAILED
    assert "still running after 1s" in result.detail


def test_update_sets_missing_memory_limits_then_is_ok(make_container: ContainerFactory) -> None:
    container = make_container()
    action = DockerUpdateAction(container=container.name, memory="64m", memory_reservation="32m")
    assert action.apply(action_context(timeout=30)).status is ActionStatus.CHANGED
    container.reload()
    assert container.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert container.attrs["HostConfig"]["MemoryReservation"] == 32 * 1024 * 1024
    assert action.apply(action_context(timeout=30)).status is ActionStatus.OK


def test_update_raises_a_limit_above_the_old_memory_and_swap(
    make_container: ContainerFactory,
) -> None:
    container = make_container(mem_limit="16m", memswap_limit="16m")
    result = DockerUpdateAction(container=container.name, memory="1g").apply(action_context(timeout=30))
    assert result.status is ActionStatus.CHANGED, result.detail
    container.reload()
    assert container.attrs["HostConfig"]["Memory"] == 1024**3


def test_update_describes_itself_like_the_docker_cli() -> None:
    action = DockerUpdateAction(service="backend", project="cs", memory="1G", memory_reservation=536870912)
    assert action.describe() == "docker update --memory 1g --memory-reservation 512m cs/backend"


def test_update_with_reservation_above_limit_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="must not exceed"):
        DockerUpdateAction(container="backend", memory="512m", memory_reservation="1g")


def test_update_with_unreadable_size_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="expected a size"):
        DockerUpdateAction(container="backend", memory="lots")


def test_logs_are_saved_to_the_incident_folder_with_secrets_masked(
    make_container: ContainerFactory, tmp_path: Path
) -> None:
    REDACTOR.add_secret("hunter2-secret")
    container = make_container("seq 1 50; echo password is hunter2-secret; sleep 3600")
    container.reload()
    action = DockerLogsAction(container=container.name, lines=10, timestamps=False)
    result = action.apply(action_context(30, incident_dir=tmp_path, redactor=REDACTOR))
    assert result.status is ActionStatus.OK
    (artifact,) = result.artifacts
    lines = Path(artifact).read_text().splitlines()
    assert lines[0] == "42" and len(lines) == 10
    assert lines[-1] == "password is ***"
    assert Path(artifact).parent == tmp_path


def test_logs_of_an_exited_container_are_saved_too(make_container: ContainerFactory, tmp_path: Path) -> None:
    container = make_container("echo fatal: cannot connect to postgres; exit 1")
    container.wait(timeout=10)
    result = DockerLogsAction(container=container.name).apply(
        action_context(30, incident_dir=tmp_path, redactor=REDACTOR)
    )
    assert "fatal: cannot connect to postgres" in Path(result.artifacts[0]).read_text()
