"""`wait`: wait until the node's own check passes (giving up early when it cannot)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from engine.clients.docker import ContainerRef, docker_client, find_container
from engine.errors import DockerError
from engine.kit import ActionContext, ActionResult, Duration, action_type
from remediations.base import Action

if TYPE_CHECKING:
    from docker import DockerClient

INSPECT_TIMEOUT = 5.0
"""Bound on each look at the watched container: a slow engine must not stretch the wait."""


@action_type("wait")
class WaitAction(Action):
    """Polls the node's check until it is healthy (the runbook's "wait until healthy, at most
    30s"). It changes nothing: `ok` once healthy, `failed` at the timeout.

    Given the container it waits for (`service` or `container`), it also looks at that
    container at each poll and gives up at once, `failed`, when the check cannot come to pass:
    the container exited (or is dead) and is not restarting, or its restart policy restarted
    it `crash_loop_restarts` times during the wait after failing exits (a crash loop). So a
    rung that did not heal hands over to the next one in seconds instead of after the
    timeout. One crash on the way up (a dependency still starting) is tolerated."""

    observes: ClassVar[bool] = True
    timeout: Duration = Field(30.0, description="give up after this long")
    interval: Duration = Field(1.0, description="pause between checks")
    container: str | None = Field(None, description="the container whose start this waits for (name or id)")
    service: str | None = Field(
        None, description="the docker compose service whose container this waits for (with `project`)"
    )
    project: str | None = Field(
        None, description="docker compose project of `service` (ignored without `service`)"
    )
    docker_host: str | None = Field(None, description="Docker engine URL, as for the docker actions")
    crash_loop_restarts: int = Field(
        3, ge=1, description="give up once the watched container was restarted this often after failing exits"
    )

    @model_validator(mode="after")
    def _one_container_at_most(self) -> WaitAction:
        if self.container is not None and self.service is not None:
            raise ValueError("watch either `container` or compose `service`, not both")
        return self

    def watched(self) -> ContainerRef | None:
        """The container this wait watches, or None (it then only polls the check)."""
        if self.container is None and self.service is None:
            return None
        project = self.project if self.service is not None else None
        return ContainerRef(
            container=self.container, service=self.service, project=project, docker_host=self.docker_host
        )

    def default_timeout(self) -> float:
        # The engine's own bound must leave room for the last probe after our timeout.
        return self.timeout + 60.0

    def describe(self) -> str:
        line = f"wait up to {self.timeout:g}s for the check to pass"
        ref = self.watched()
        return (
            line if ref is None else f"{line} (watching {ref.label()}: gives up if it exits or crash-loops)"
        )

    def apply(self, ctx: ActionContext) -> ActionResult:
        if ctx.recheck is None:
            return ActionResult.failed("wait has no check to poll")
        started = ctx.clock.monotonic()
        deadline = started + self.timeout
        with self._watcher(ctx) as look:
            while True:
                result = ctx.recheck()
                if result.is_healthy:
                    return ActionResult.ok(f"healthy after {ctx.clock.monotonic() - started:.1f}s")
                hopeless = look()
                if hopeless is not None:
                    return ActionResult.failed(
                        f"gave up after {ctx.clock.monotonic() - started:.1f}s: {hopeless} "
                        f"(still {result.health}: {result.reason})"
                    )
                if ctx.clock.monotonic() + self.interval > deadline:
                    return ActionResult.failed(
                        f"still {result.health} after {self.timeout:g}s: {result.reason}"
                    )
                ctx.clock.sleep(self.interval)

    @contextlib.contextmanager
    def _watcher(self, ctx: ActionContext) -> Iterator[Any]:
        """A function telling, at each poll, why the watched container cannot become healthy,
        or None. What the engine cannot tell (it does not answer, the container is not there
        yet) is no reason to give up: the check decides then."""
        ref = self.watched()
        if ref is None:
            yield lambda: None
            return
        with contextlib.ExitStack() as stack:
            try:
                client: DockerClient | None = stack.enter_context(
                    docker_client(ctx, ref.docker_host, INSPECT_TIMEOUT)
                )
            except DockerError:
                client = None
            baseline: dict[str, int] = {}

            def look() -> str | None:
                if client is None:
                    return None
                try:
                    container = find_container(client, ref)
                except DockerError:
                    return None
                attrs = container.attrs
                # A recreated container (a new id) counts its restarts afresh.
                restarts_then = baseline.setdefault(str(attrs.get("Id")), int(attrs.get("RestartCount") or 0))
                return cannot_start(ref.label(), attrs, restarts_then, self.crash_loop_restarts)

            yield look


def cannot_start(label: str, attrs: Mapping[str, Any], restarts_then: int, crash_loop: int) -> str | None:
    """Why a container (its inspect `attrs`) will not come up by itself, or None: it exited
    or is dead and not restarting, or it has been restarted `crash_loop` times since it had
    `restarts_then` restarts and is restarting again after a failing exit."""
    state = attrs.get("State") or {}
    status = str(state.get("Status") or "")
    code = state.get("ExitCode")
    if status in ("exited", "dead") and not state.get("Restarting"):
        return f"{label} {status} with code {code} and is not restarting"
    restarts = int(attrs.get("RestartCount") or 0) - restarts_then
    if status == "restarting" and code not in (0, None) and restarts >= crash_loop:
        return f"{label} keeps crashing (exit code {code}, restarted {restarts} times during the wait)"
    return None
