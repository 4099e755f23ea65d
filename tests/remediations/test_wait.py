"""The wait action: polls the node's check until it passes or its timeout runs out."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.core.results import ActionStatus, CheckResult
from remediations.wait import WaitAction, cannot_start
from tests.servers.docker import ContainerFactory, unique_project
from tests.support.clock import FakeClock
from tests.support.contexts import action_context


def test_wait_polls_the_check_until_it_passes() -> None:
    answers = [CheckResult.unhealthy("down"), CheckResult.unhealthy("down"), CheckResult.healthy()]
    clock = FakeClock()
    result = WaitAction(timeout="30s", interval="2s").apply(
        action_context(clock=clock, recheck=lambda: answers.pop(0))
    )
    assert (result.status, clock.sleeps) == (ActionStatus.OK, [2, 2])


def test_wait_fails_at_its_timeout_with_the_last_reason() -> None:
    clock = FakeClock()
    result = WaitAction(timeout="5s", interval="1s").apply(
        action_context(clock=clock, recheck=lambda: CheckResult.unhealthy("refused"))
    )
    assert (result.status, result.detail) == (ActionStatus.FAILED, "still unhealthy after 5s: refused")
    assert sum(clock.sleeps) == 5


# --- watching the container it waits for ----------------------------------------------------


def state(status: str, code: int = 0, restarts: int = 0, restarting: bool = False) -> dict[str, object]:
    """The parts of a container's inspect output the wait looks at."""
    return {
        "Id": "c1",
        "RestartCount": restarts,
        "State": {"Status": status, "ExitCode": code, "Restarting": restarting or status == "restarting"},
    }


def test_a_wait_naming_its_container_says_so_in_the_plan() -> None:
    wait = WaitAction(timeout="30s", service="backend", project="shop")
    assert wait.describe() == (
        "wait up to 30s for the check to pass (watching shop/backend: gives up if it exits or crash-loops)"
    )


def test_a_wait_watches_nothing_without_a_container_or_service() -> None:
    assert WaitAction(project="shop").watched() is None


def test_a_wait_watches_one_container_not_two() -> None:
    with pytest.raises(ValidationError, match="not both"):
        WaitAction(container="shop-backend-1", service="backend")


def test_an_exited_container_that_is_not_restarting_cannot_start() -> None:
    assert cannot_start("shop/backend", state("exited", 3), 0, 3) == (
        "shop/backend exited with code 3 and is not restarting"
    )


def test_a_crash_loop_is_seen_after_the_given_number_of_restarts_during_the_wait() -> None:
    assert cannot_start("b", state("restarting", 3, restarts=6), 4, 3) is None
    assert cannot_start("b", state("restarting", 3, restarts=7), 4, 3) == (
        "b keeps crashing (exit code 3, restarted 3 times during the wait)"
    )


@given(
    status=st.sampled_from(["created", "running", "paused", "restarting", "removing", "exited", "dead"]),
    code=st.integers(-1, 255),
    then=st.integers(0, 50),
    grown=st.integers(0, 50),
    crash_loop=st.integers(1, 10),
    restarting=st.booleans(),
)
def test_a_wait_gives_up_only_on_a_container_that_stopped_for_good_or_crash_loops(
    status: str, code: int, then: int, grown: int, crash_loop: int, restarting: bool
) -> None:
    attrs = state(status, code, then + grown, restarting)
    stopped_for_good = status in ("exited", "dead") and not restarting
    crash_looping = status == "restarting" and code != 0 and grown >= crash_loop
    assert (cannot_start("c", attrs, then, crash_loop) is not None) == (stopped_for_good or crash_looping)


@pytest.mark.docker
def test_a_wait_on_an_exited_container_gives_up_at_once(make_container: ContainerFactory) -> None:
    container = make_container("exit 3")
    container.wait(timeout=10)
    result = WaitAction(timeout="30s", interval="0.2s", container=container.name).apply(
        action_context(recheck=lambda: CheckResult.unhealthy("connection refused"))
    )
    assert result.status is ActionStatus.FAILED
    assert result.detail.startswith("gave up after 0.0s: ")
    assert f"{container.name} exited with code 3 and is not restarting" in result.detail
    assert result.detail.endswith("(still unhealthy: connection refused)")


@pytest.mark.docker
@pytest.mark.slow
def test_a_wait_on_a_crash_looping_container_gives_up_long_before_its_timeout(
    make_container: ContainerFactory,
) -> None:
    project = unique_project()
    make_container("exit 4", compose=(project, "backend"), restart_policy={"Name": "always"})
    started = time.monotonic()
    result = WaitAction(timeout="60s", interval="0.2s", service="backend", project=project).apply(
        action_context(recheck=lambda: CheckResult.unhealthy("connection refused"))
    )
    assert result.status is ActionStatus.FAILED
    crashing = f"{project}/backend keeps crashing (exit code 4, restarted 3 times during the wait)"
    assert crashing in result.detail
    assert time.monotonic() - started < 30


@pytest.mark.docker
@pytest.mark.slow
def test_a_wait_tolerates_one_crash_on_the_way_up(make_container: ContainerFactory) -> None:
    # Crashes on its first start only (a dependency still starting), then runs.
    container = make_container(
        "test -f /up || { touch /up; exit 1; }; sleep 3600", restart_policy={"Name": "on-failure"}
    )

    def check() -> CheckResult:
        container.reload()
        if container.attrs["RestartCount"] >= 1 and container.attrs["State"]["Running"]:
            return CheckResult.healthy("up")
        return CheckResult.unhealthy("not yet")

    result = WaitAction(timeout="20s", interval="0.2s", container=container.name).apply(
        action_context(recheck=check)
    )
    assert result.status is ActionStatus.OK, result.detail


@pytest.mark.docker
def test_a_wait_on_a_running_container_waits_its_whole_timeout(make_container: ContainerFactory) -> None:
    container = make_container()
    clock = FakeClock()
    result = WaitAction(timeout="3s", interval="1s", container=container.name).apply(
        action_context(clock=clock, recheck=lambda: CheckResult.unhealthy("not ready"))
    )
    assert (result.status, result.detail) == (ActionStatus.FAILED, "still unhealthy after 3s: not ready")
    assert sum(clock.sleeps) == 3


def test_a_wait_whose_container_is_not_there_yet_polls_the_check_alone() -> None:
    clock = FakeClock()
    result = WaitAction(timeout="2s", interval="1s", service="backend", project=unique_project()).apply(
        action_context(clock=clock, recheck=lambda: CheckResult.unhealthy("refused"))
    )
    assert (result.status, sum(clock.sleeps)) == (ActionStatus.FAILED, 2)
