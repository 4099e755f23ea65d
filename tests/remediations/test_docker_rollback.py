"""docker_rollback against the real Docker engine: a service is recreated from the last image
recorded healthy with the configuration it has now, the failing container kept aside until
the new one is verified, and every way it cannot go ends in a clear reason with the service
untouched. Images are committed locally from the busybox test image (no registry)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine.clients.docker import KEPT_MARK, PROJECT_LABEL, ROLLBACK_LABEL, SERVICE_LABEL
from engine.core.context import ActionContext
from engine.core.results import ActionStatus, CheckResult
from remediations.docker import DockerRollbackAction
from tests.servers.docker import LABELS, ImageFactory, unique_project
from tests.support.contexts import action_context
from tests.support.services import free_port

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class Recorded:
    """A healthy version as the state store hands it to the action."""

    image_id: str
    image: str
    alembic_revision: str = ""
    seen_at: datetime = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@dataclass
class Service:
    """A compose-labelled service container on a network of its own."""

    project: str
    name: str
    network: str
    port: int
    data: Path

    def containers(self, client: DockerClient) -> list[Container]:
        return client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})

    def the_container(self, client: DockerClient) -> Container:
        [container] = self.containers(client)
        container.reload()
        return container


ServiceFactory = Callable[[str], Service]


@pytest.fixture
def deploy(docker_client: DockerClient, tmp_path: Path) -> Iterator[ServiceFactory]:
    """Deploys a service `backend` from an image the way compose would: labels, environment,
    a bind mount, a published port, a network alias, a restart policy and a memory limit."""
    projects: list[str] = []
    networks: list[Any] = []

    def make(image: str) -> Service:
        project = unique_project()
        projects.append(project)
        network = docker_client.networks.create(f"{project}_default", labels=LABELS)
        networks.append(network)
        port = free_port()
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        name = f"{project}-backend-1"
        container = docker_client.containers.create(
            image,
            name=name,
            labels={**LABELS, PROJECT_LABEL: project, SERVICE_LABEL: "backend", "team": "coffee"},
            environment={"FEATURE": "on"},
            volumes={str(data): {"bind": "/data", "mode": "rw"}},
            ports={"80/tcp": ("127.0.0.1", port)},
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 1},
            mem_limit="64m",
            init=True,
            network=network.name,
        )
        network.disconnect(container)
        network.connect(container, aliases=["api"])
        container.start()
        return Service(project, name, network.name, port, data)

    yield make
    for project in projects:
        for leftover in docker_client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={project}"}
        ):
            leftover.remove(force=True)
    for network in networks:
        network.remove()


@pytest.fixture(autouse=True)
def _incidents_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the incident folder is relative to the working directory


def context(*versions: Recorded, schema: str | None = None, **extra: Any) -> ActionContext:
    ctx = action_context(timeout=60)
    schema_revision = (lambda: CheckResult.healthy(current=[schema])) if schema is not None else None
    return dataclasses.replace(
        ctx, versions=lambda project, service: list(versions), schema_revision=schema_revision, **extra
    )


def image_id(client: DockerClient, reference: str) -> str:
    return str(client.images.get(reference).id)


GOOD = "echo started; exec sleep 3600"
BAD = "echo bad deploy; exit 3"


def test_a_bad_deploy_is_rolled_back_to_the_recorded_image_with_the_current_configuration(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    good, bad = make_image(GOOD, "1"), make_image(BAD, "2")
    service = deploy(bad)
    before = service.the_container(docker_client)
    action = DockerRollbackAction(project=service.project, service="backend", verify_timeout=20)

    result = action.apply(context(Recorded(image_id(docker_client, good), good)))

    assert result.status is ActionStatus.CHANGED, result.detail
    assert good in result.detail and bad in result.detail
    after = service.the_container(docker_client)  # one container: the kept one was removed
    assert (after.name, after.attrs["Image"], after.status) == (
        service.name,
        image_id(docker_client, good),
        "running",
    )
    config, host = after.attrs["Config"], after.attrs["HostConfig"]
    assert config["Cmd"] == ["sh", "-c", GOOD]  # the old image's command, not the bad one's
    assert "FEATURE=on" in config["Env"] and "APP_VERSION=1" in config["Env"]
    assert "APP_VERSION=2" not in config["Env"]
    assert config["Labels"][SERVICE_LABEL] == "backend" and config["Labels"]["team"] == "coffee"
    assert config["Labels"]["app.version"] == "1"
    for setting in ("PortBindings", "Binds", "Memory", "RestartPolicy", "Init"):
        assert host[setting] == before.attrs["HostConfig"][setting], setting
    assert "api" in after.attrs["NetworkSettings"]["Networks"][service.network]["Aliases"]
    log, inspect = (Path(p) for p in result.artifacts)  # in the incident folder
    assert "bad deploy" in log.read_text() and before.id in inspect.read_text()


def test_without_a_recorded_version_it_fails_saying_so_and_touches_nothing(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    service = deploy(make_image(BAD, "2"))
    before = service.the_container(docker_client).id

    result = DockerRollbackAction(project=service.project, service="backend").apply(context())

    assert (result.status, result.detail) == (
        ActionStatus.FAILED,
        "no healthy version of backend recorded yet",
    )
    assert service.the_container(docker_client).id == before


def test_a_deleted_recorded_image_fails_naming_it_and_touches_nothing(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    gone = make_image(GOOD, "1")
    gone_id = image_id(docker_client, gone)
    docker_client.images.remove(gone, force=True)
    service = deploy(make_image(BAD, "2"))
    before = service.the_container(docker_client).id

    result = DockerRollbackAction(project=service.project, service="backend").apply(
        context(Recorded(gone_id, gone))
    )

    assert result.status is ActionStatus.FAILED
    assert f"the recorded image {gone} ({gone_id[:19]}) of backend was deleted" in result.detail
    assert service.the_container(docker_client).id == before


def test_it_refuses_naming_both_revisions_when_the_schema_moved(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    good = make_image(GOOD, "1")
    service = deploy(make_image(BAD, "2"))
    before = service.the_container(docker_client).id
    recorded = Recorded(image_id(docker_client, good), good, alembic_revision="a1b2")

    result = DockerRollbackAction(project=service.project, service="backend").apply(
        context(recorded, schema="c3d4")
    )

    assert result.status is ActionStatus.REFUSED
    assert "alembic revision a1b2 then, c3d4 now" in result.detail
    assert "allow_schema_change" in result.detail
    assert service.the_container(docker_client).id == before


def test_allow_schema_change_rolls_back_although_the_schema_moved(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    good = make_image(GOOD, "1")
    service = deploy(make_image(BAD, "2"))
    recorded = Recorded(image_id(docker_client, good), good, alembic_revision="a1b2")
    action = DockerRollbackAction(project=service.project, service="backend", allow_schema_change=True)

    result = action.apply(context(recorded, schema="c3d4"))

    assert result.status is ActionStatus.CHANGED, result.detail
    assert service.the_container(docker_client).attrs["Image"] == recorded.image_id


def test_a_recorded_image_that_does_not_start_is_undone(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    crashing = make_image(BAD, "1")
    service = deploy(make_image(GOOD, "2"))
    before = service.the_container(docker_client).id
    action = DockerRollbackAction(project=service.project, service="backend", verify_timeout=10)

    result = action.apply(context(Recorded(image_id(docker_client, crashing), crashing)))

    assert result.status is ActionStatus.FAILED
    # Seen either stopped (its code) or already restarted by its policy (its restarts).
    assert "exited with code 3" in result.detail or "keeps exiting: restarted" in result.detail
    assert "undone" in result.detail
    after = service.the_container(docker_client)
    assert (after.id, after.name, after.status) == (before, service.name, "running")


def test_a_rollback_whose_new_container_does_not_pass_the_nodes_check_is_undone(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    good = make_image(GOOD, "1")
    service = deploy(make_image(BAD, "2"))
    before = service.the_container(docker_client).id
    action = DockerRollbackAction(project=service.project, service="backend", verify_timeout=2)
    never = context(
        Recorded(image_id(docker_client, good), good), recheck=lambda: CheckResult.unhealthy("503")
    )

    result = action.apply(never)

    assert result.status is ActionStatus.FAILED and "the node's check did not pass" in result.detail
    assert service.the_container(docker_client).id == before


def test_a_slow_starting_version_is_verified_at_its_first_passing_check(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    """A service that takes longer than the settling second to pass its check has shown it
    does not crash at start: the rollback ends at that first pass instead of watching it
    pass for another second."""
    good = make_image(GOOD, "1")
    service = deploy(make_image(BAD, "2"))
    asked: list[float] = []
    passes: list[float] = []

    def starts_slowly() -> CheckResult:
        asked.append(time.monotonic())
        if asked[-1] - asked[0] < 1.5:
            return CheckResult.unhealthy("connection refused")
        passes.append(asked[-1])
        return CheckResult.healthy("ok")

    result = DockerRollbackAction(project=service.project, service="backend").apply(
        context(Recorded(image_id(docker_client, good), good), recheck=starts_slowly)
    )

    assert result.status is ActionStatus.CHANGED, result.detail
    assert len(passes) == 1


def test_a_version_that_passes_at_once_but_exits_within_the_settling_second_is_undone(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    briefly = make_image("echo started; sleep 0.4; exit 3", "1")
    service = deploy(make_image(GOOD, "2"))
    before = service.the_container(docker_client).id
    action = DockerRollbackAction(project=service.project, service="backend", verify_timeout=10)

    result = action.apply(
        context(
            Recorded(image_id(docker_client, briefly), briefly), recheck=lambda: CheckResult.healthy("ok")
        )
    )

    assert result.status is ActionStatus.FAILED and "undone" in result.detail, result.detail
    assert service.the_container(docker_client).id == before


def test_a_rollback_left_half_done_by_a_killed_run_is_undone_by_the_next(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    service = deploy(make_image(GOOD, "2"))
    container = service.the_container(docker_client)
    container.stop(timeout=1)
    container.rename(service.name + KEPT_MARK)  # killed after renaming, before creating

    result = DockerRollbackAction(project=service.project, service="backend").apply(context())

    assert result.detail.startswith(f"undid an interrupted rollback: {service.name} restored")
    after = service.the_container(docker_client)
    assert (after.id, after.name, after.status) == (container.id, service.name, "running")


def test_a_rollback_left_verified_by_a_killed_run_is_finished_by_the_next(
    docker_client: DockerClient, make_image: ImageFactory, deploy: ServiceFactory
) -> None:
    good = make_image(GOOD, "1")
    service = deploy(make_image(BAD, "2"))
    old = service.the_container(docker_client)
    old.stop(timeout=1)
    old.rename(service.name + KEPT_MARK)
    labels = {**old.attrs["Config"]["Labels"], ROLLBACK_LABEL: service.name + KEPT_MARK}
    new = docker_client.containers.run(
        good, name=service.name, labels=labels, detach=True, network_mode="none"
    )

    result = DockerRollbackAction(project=service.project, service="backend").apply(context())

    assert (result.status, result.detail) == (
        ActionStatus.CHANGED,
        f"finished an interrupted rollback: {service.name} runs {good} ({new.attrs['Image'][:19]})",
    )
    assert service.the_container(docker_client).id == new.id


def test_the_dry_run_line_says_what_it_would_do() -> None:
    assert DockerRollbackAction(project="coffeestudio", service="backend").describe() == (
        "roll back coffeestudio/backend to its last healthy recorded image (recreated with its "
        "current configuration; the current container kept, stopped, until the new one is "
        "verified; refused if the alembic revision moved since)"
    )
