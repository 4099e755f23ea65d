"""The `docker_container` and `docker_env` checks against real containers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from checks.docker import DockerContainerCheck, DockerEnvCheck
from engine.core.results import Health
from tests.servers.docker import ContainerFactory, healthcheck, unique_project
from tests.servers.net import wait_until
from tests.support.contexts import probe_context

pytestmark = pytest.mark.docker


def health_of(container: object) -> str:
    container.reload()  # type: ignore[attr-defined]
    return str(container.attrs["State"].get("Health", {}).get("Status"))  # type: ignore[attr-defined]


def test_running_container_without_healthcheck_is_healthy(make_container: ContainerFactory) -> None:
    container = make_container()
    result = DockerContainerCheck(container=container.name).probe(probe_context())
    assert result.is_healthy, result.reason


def test_container_is_found_by_compose_project_and_service(make_container: ContainerFactory) -> None:
    project = unique_project()
    make_container(compose=(project, "backend"))
    make_container(compose=(project, "worker"), start=False)
    check = DockerContainerCheck(project=project, service="backend")
    assert check.probe(probe_context()).is_healthy


def test_missing_container_is_unhealthy_missing() -> None:
    check = DockerContainerCheck(project=unique_project(), service="backend")
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason.startswith("missing")


def test_exited_container_reports_its_exit_code(make_container: ContainerFactory) -> None:
    container = make_container("exit 3")
    wait_until(lambda: container.wait(timeout=10), 10, "container did not exit")
    result = DockerContainerCheck(container=container.name).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["exit_code"] == 3
    assert result.evidence["oom_killed"] is False
    assert "exited with code 3" in result.reason


def test_container_killed_for_memory_reports_oomkilled(make_container: ContainerFactory) -> None:
    # `tail /dev/zero` buffers an endless line until the 16MiB limit kills it.
    container = make_container("tail /dev/zero", mem_limit="16m", memswap_limit="16m")
    container.wait(timeout=30)
    result = DockerContainerCheck(container=container.name).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["oom_killed"] is True
    assert "OOMKilled" in result.reason


def test_restarting_container_is_unhealthy_restarting(make_container: ContainerFactory) -> None:
    container = make_container("sleep 0.2; exit 1", restart_policy={"Name": "always"})

    def seen_restarting() -> bool:
        result = DockerContainerCheck(container=container.name).probe(probe_context())
        return "restarting" in result.reason

    wait_until(seen_restarting, 15, "never saw the container restarting", interval=0.05)


def test_failing_healthcheck_is_unhealthy_with_its_last_output(
    make_container: ContainerFactory,
) -> None:
    container = make_container(
        "touch /tmp/ok; sleep 3600",
        healthcheck=healthcheck("test -f /tmp/ok && echo fine || (echo no marker file; exit 1)"),
    )
    wait_until(lambda: health_of(container) == "healthy", 15, "container never became healthy")
    assert DockerContainerCheck(container=container.name).probe(probe_context()).is_healthy
    container.exec_run(["rm", "/tmp/ok"])
    wait_until(lambda: health_of(container) == "unhealthy", 15, "container never became unhealthy")
    result = DockerContainerCheck(container=container.name).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["health"] == "unhealthy"
    assert "no marker file" in result.reason


def test_healthcheck_still_starting_is_unhealthy_unless_allowed(
    make_container: ContainerFactory,
) -> None:
    container = make_container(healthcheck=healthcheck("exit 1", interval=60))
    assert health_of(container) == "starting"
    assert not DockerContainerCheck(container=container.name).probe(probe_context()).is_healthy
    allowed = DockerContainerCheck(container=container.name, starting_is_healthy=True)
    assert allowed.probe(probe_context()).is_healthy


def test_created_but_never_started_is_unhealthy(make_container: ContainerFactory) -> None:
    container = make_container(start=False)
    result = DockerContainerCheck(container=container.name).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert "created" in result.reason


def test_memory_above_percentage_of_the_limit_is_unhealthy(
    make_container: ContainerFactory,
) -> None:
    # A shell variable of 10MB keeps more than a third of a 24MiB limit in use (the echo
    # after the sleep keeps the shell, and so the variable, alive).
    container = make_container(
        'x=$(yes | head -c 10000000); touch /tmp/full; sleep 3600; echo "${#x}"',
        mem_limit="24m",
        memswap_limit="24m",
    )
    wait_until(lambda: container.exec_run(["test", "-f", "/tmp/full"]).exit_code == 0, 20, "no ballast")
    result = DockerContainerCheck(container=container.name, max_memory_percent=30).probe(probe_context())
    assert result.health is Health.UNHEALTHY, result.reason
    assert result.evidence["memory_limit_bytes"] == 24 * 1024 * 1024
    assert result.evidence["memory_percent"] > 30


def test_memory_below_percentage_of_the_limit_is_healthy(make_container: ContainerFactory) -> None:
    container = make_container(mem_limit="64m")
    result = DockerContainerCheck(container=container.name, max_memory_percent=50).probe(probe_context())
    assert result.is_healthy, result.reason
    assert result.evidence["memory_percent"] < 50


def test_missing_memory_limit_is_unhealthy_when_required(make_container: ContainerFactory) -> None:
    unlimited = make_container()
    limited = make_container(mem_limit="64m")
    result = DockerContainerCheck(container=unlimited.name, require_memory_limit=True).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason.endswith("has no memory limit")
    check = DockerContainerCheck(container=limited.name, require_memory_limit=True)
    assert check.probe(probe_context()).is_healthy


def test_several_containers_of_one_service_is_an_error(make_container: ContainerFactory) -> None:
    project = unique_project()
    make_container(compose=(project, "worker"))
    make_container(compose=(project, "worker"))
    result = DockerContainerCheck(project=project, service="worker").probe(probe_context())
    assert result.health is Health.ERROR
    assert "2 containers match" in result.reason


def test_unreachable_docker_engine_is_an_error(tmp_path: object) -> None:
    check = DockerContainerCheck(container="x", docker_host=f"unix://{tmp_path}/no.sock", timeout=2)
    result = check.probe(probe_context())
    assert result.health is Health.ERROR


def test_container_and_service_together_are_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="not both"):
        DockerContainerCheck(container="a", service="b")


def test_project_without_service_is_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="not both and not neither"):
        DockerContainerCheck(project="coffeestudio")


SECRET = "s3cr3t-value-of-exactly-32-chars"


def env_container(make_container: ContainerFactory) -> str:
    container = make_container(
        start=False,
        environment={
            "JWT_SECRET": SECRET,
            "SHORT_SECRET": "tooshort",
            "CORS_ORIGINS": "http://localhost:3000,http://ui.localhost",
            "JSON_ORIGINS": '["http://ui.localhost"]',
            "EMPTY": "",
        },
    )
    return str(container.name)


def test_env_secret_long_enough_is_healthy(make_container: ContainerFactory) -> None:
    name = env_container(make_container)
    check = DockerEnvCheck(container=name, name="JWT_SECRET", min_length=32)
    assert check.probe(probe_context()).is_healthy


def test_env_secret_too_short_is_unhealthy_without_printing_it(
    make_container: ContainerFactory,
) -> None:
    name = env_container(make_container)
    result = DockerEnvCheck(container=name, name="SHORT_SECRET", min_length=32).probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.reason == "SHORT_SECRET has 8 characters, needs at least 32"
    assert "tooshort" not in repr(result)


def test_env_unset_and_empty_are_unhealthy(make_container: ContainerFactory) -> None:
    name = env_container(make_container)
    unset = DockerEnvCheck(container=name, name="NOT_THERE").probe(probe_context())
    empty = DockerEnvCheck(container=name, name="EMPTY").probe(probe_context())
    assert (unset.health, empty.health) == (Health.UNHEALTHY, Health.UNHEALTHY)
    assert "not set" in unset.reason and "empty" in empty.reason


def test_env_equals_mismatch_hides_both_values(make_container: ContainerFactory) -> None:
    name = env_container(make_container)
    result = DockerEnvCheck(container=name, name="JWT_SECRET", equals="other").probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert SECRET not in repr(result) and "other" not in result.reason


def test_env_list_contains_origin(make_container: ContainerFactory) -> None:
    name = env_container(make_container)
    good = DockerEnvCheck(container=name, name="CORS_ORIGINS", contains="http://ui.localhost")
    json_list = DockerEnvCheck(container=name, name="JSON_ORIGINS", contains="http://ui.localhost")
    assert good.probe(probe_context()).is_healthy
    assert json_list.probe(probe_context()).is_healthy


def test_env_list_missing_origin_is_unhealthy_even_as_prefix(
    make_container: ContainerFactory,
) -> None:
    name = env_container(make_container)
    check = DockerEnvCheck(container=name, name="CORS_ORIGINS", contains="http://localhost:30")
    result = check.probe(probe_context())
    assert result.health is Health.UNHEALTHY
    assert result.evidence["missing"] == ["http://localhost:30"]


def test_env_of_missing_container_is_an_error() -> None:
    check = DockerEnvCheck(project=unique_project(), service="backend", name="JWT_SECRET")
    assert check.probe(probe_context()).health is Health.ERROR


def test_env_rules_on_an_unset_variable_are_rejected_at_validation() -> None:
    with pytest.raises(ValidationError, match="set: false"):
        DockerEnvCheck(container="backend", name="DEBUG", set=False, min_length=3)


def test_a_healthy_container_reports_the_version_it_runs(make_container: ContainerFactory) -> None:
    project = unique_project()
    container = make_container(compose=(project, "backend"))
    result = DockerContainerCheck(project=project, service="backend").probe(probe_context())
    version = result.evidence["version"]
    assert (version["project"], version["service"], version["container"]) == (
        project,
        "backend",
        container.name,
    )
    assert version["image_id"] == container.attrs["Image"]
    assert version["image"] == container.attrs["Config"]["Image"]


def test_an_unhealthy_container_reports_no_version(make_container: ContainerFactory) -> None:
    project = unique_project()
    make_container(compose=(project, "backend"), start=False)
    result = DockerContainerCheck(project=project, service="backend").probe(probe_context())
    assert (result.health, "version" in result.evidence) == (Health.UNHEALTHY, False)


def test_env_of_a_running_container_reports_the_version_it_runs(make_container: ContainerFactory) -> None:
    container = make_container(environment={"JWT_SECRET": SECRET})
    result = DockerEnvCheck(container=container.name, name="JWT_SECRET", min_length=32).probe(probe_context())
    assert (result.health, result.evidence["version"]["image_id"]) == (
        Health.HEALTHY,
        container.attrs["Image"],
    )


def test_env_of_a_stopped_container_reports_no_version(make_container: ContainerFactory) -> None:
    # Its configuration is right, but nothing says its image starts (a bad deploy exits at
    # once): a rollback must not take it for a healthy version.
    check = DockerEnvCheck(container=env_container(make_container), name="JWT_SECRET", min_length=32)
    result = check.probe(probe_context())
    assert (result.health, "version" in result.evidence) == (Health.HEALTHY, False)
