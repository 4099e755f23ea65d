"""Docker actions: start, stop, restart, exec, update memory limits, save logs.

All of them name their container like the docker checks do (`container`, or compose
`service` and `project`) and talk to the Docker engine through the SDK
(`engine.clients.docker`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from checks.base import CommandLine
from checks.expectations import command_text
from engine.clients.docker import (
    ContainerRef,
    container_state,
    docker_client,
    docker_errors,
    exec_in_container,
    find_container,
)
from engine.clients.sizes import ByteSize, format_size
from engine.errors import DockerError
from engine.kit import ActionContext, ActionResult, ActionStatus, Duration, action_type, tail_line
from remediations.base import Action

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container


class _DockerAction(Action, ContainerRef):
    """Finds the container, then does `_act`; Docker errors (including a missing container)
    fail the step with the engine's message."""

    def default_timeout(self) -> float:
        return 60.0

    def apply(self, ctx: ActionContext) -> ActionResult:
        try:
            with docker_client(ctx, self.docker_host, ctx.timeout) as client:
                container = find_container(client, self)
                with docker_errors():
                    return self._act(ctx, client, container)
        except DockerError as exc:
            return ActionResult.failed(str(exc))

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        raise NotImplementedError


def _name(container: Container) -> str:
    return container.name or container.short_id


@action_type("docker_start")
class DockerStartAction(_DockerAction):
    """Starts a stopped container (and unpauses a paused one); `ok` when it already runs."""

    def describe(self) -> str:
        return f"docker start {self.label()}"

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        state = container_state(container)
        if state.get("Paused"):
            container.unpause()
            return ActionResult.changed(f"unpaused {_name(container)}")
        if state.get("Running"):
            return ActionResult.ok(f"{_name(container)} is already running")
        container.start()
        return ActionResult.changed(f"started {_name(container)}")


@action_type("docker_stop")
class DockerStopAction(_DockerAction):
    """Stops a container (SIGTERM, then SIGKILL after `stop_timeout`); `ok` when it is not
    running. The runbook's first step of a security incident: `docker compose stop backend`."""

    stop_timeout: Duration = Field(10.0, description="grace period between SIGTERM and SIGKILL")

    def default_timeout(self) -> float:
        return self.stop_timeout + 60.0

    def describe(self) -> str:
        return f"docker stop {self.label()} (grace {self.stop_timeout:g}s)"

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        state = container_state(container)
        if not state.get("Running"):
            return ActionResult.ok(f"{_name(container)} is not running ({state.get('Status')})")
        container.stop(timeout=round(self.stop_timeout))
        return ActionResult.changed(f"stopped {_name(container)}")


@action_type("docker_restart")
class DockerRestartAction(_DockerAction):
    """Restarts a container, or starts it when it is stopped. A restart always counts as
    `changed`: the engine runs it only when the node's check failed, and the point of a
    restart (fresh connections, a process unstuck) cannot be read off the container."""

    stop_timeout: Duration = Field(10.0, description="grace period between SIGTERM and SIGKILL")

    def default_timeout(self) -> float:
        return self.stop_timeout + 60.0

    def describe(self) -> str:
        return f"docker restart {self.label()} (grace {self.stop_timeout:g}s)"

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        container.restart(timeout=round(self.stop_timeout))
        return ActionResult.changed(f"restarted {_name(container)}")


@action_type("docker_exec")
class DockerExecAction(_DockerAction):
    """Runs a command in a running container (`alembic upgrade head` in the backend). With
    `unless_cmd`, that command runs first and exit 0 means nothing is to do (`ok`), which
    makes the step idempotent. A non-zero exit of `cmd` fails the step."""

    cmd: CommandLine = Field(description="command line (run with sh -c) or argument list (run as is)")
    unless_cmd: str | list[str] | None = Field(
        None, description="a command whose exit 0 says `cmd` is not needed"
    )
    user: str | None = Field(None, description="user to run as (default: the image's)")
    workdir: str | None = Field(None, description="working directory inside the container")
    environment: dict[str, str] = Field(default_factory=dict, description="extra environment")

    def default_timeout(self) -> float:
        return 300.0

    def describe(self) -> str:
        text = f"docker exec {self.label()} {command_text(self.cmd)}"
        if self.unless_cmd is not None:
            text += f" (unless {command_text(self.unless_cmd)} succeeds)"
        return text

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        state = container_state(container)
        if not state.get("Running"):
            return ActionResult.failed(f"{_name(container)} is not running ({state.get('Status')})")
        deadline = time.monotonic() + ctx.timeout
        if self.unless_cmd is not None:
            code, _ = self._exec(client, container, self.unless_cmd, deadline)
            if code == 0:
                return ActionResult.ok(f"not needed: {command_text(self.unless_cmd)} succeeded")
        started = time.monotonic()
        code, output = self._exec(client, container, self.cmd, deadline)
        if code is None:
            return ActionResult.failed(
                f"{command_text(self.cmd)} still running after {ctx.timeout:g}s "
                "(Docker cannot stop an exec; it is left to finish in the container)"
            )
        if code != 0:
            return ActionResult.failed(f"exited {code}: {tail_line(ctx.redactor.text(output))}")
        return ActionResult.changed(f"exited 0 in {time.monotonic() - started:.2f}s")

    def _exec(
        self, client: DockerClient, container: Container, command: str | list[str], deadline: float
    ) -> tuple[int | None, str]:
        """(exit code, output), or (None, "") when the command outlives the deadline."""
        return exec_in_container(
            client,
            container,
            command,
            deadline,
            user=self.user,
            workdir=self.workdir,
            environment=self.environment,
        )


@action_type("docker_update")
class DockerUpdateAction(_DockerAction):
    """Sets a running container's memory limit and reservation (the runbook's "Ressourcen-
    Limits setzen"); `ok` when they are already so. It lasts until the container is
    recreated: put the same limits into the compose file."""

    memory: ByteSize | None = Field(None, description="hard memory limit, e.g. 1g")
    memory_reservation: ByteSize | None = Field(
        None, description="soft limit the kernel reclaims towards under pressure, e.g. 512m"
    )
    memory_swap: int | None = Field(
        None,
        ge=-1,
        description="memory plus swap in bytes (-1: unlimited swap) set with `memory`; by "
        "default twice `memory` (Docker's own default), or unlimited when it was unlimited",
    )

    @model_validator(mode="after")
    def _something_to_set(self) -> DockerUpdateAction:
        if self.memory is None and self.memory_reservation is None:
            raise ValueError("give `memory` and/or `memory_reservation`")
        if (
            self.memory is not None
            and self.memory_reservation is not None
            and self.memory_reservation > self.memory
        ):
            raise ValueError("`memory_reservation` must not exceed `memory`")
        if self.memory is not None and self.memory < 6 * 1024 * 1024:
            raise ValueError("Docker refuses memory limits below 6MiB")
        return self

    def describe(self) -> str:
        parts = []
        if self.memory is not None:
            parts.append(f"--memory {format_size(self.memory)}")
        if self.memory_reservation is not None:
            parts.append(f"--memory-reservation {format_size(self.memory_reservation)}")
        return f"docker update {' '.join(parts)} {self.label()}"

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        container_state(container)  # fresh inspect
        host_config: dict[str, Any] = container.attrs.get("HostConfig", {})
        wanted: dict[str, Any] = {}
        if self.memory is not None and host_config.get("Memory") != self.memory:
            wanted["mem_limit"] = self.memory
            # The engine refuses a memory limit above the current memory+swap limit (and an
            # unset one counts as such on cgroup v1), so swap is always set alongside:
            # unlimited stays unlimited, otherwise twice the memory, as `docker run -m` does.
            current_swap = int(host_config.get("MemorySwap") or 0)
            if self.memory_swap is not None:
                wanted["memswap_limit"] = self.memory_swap
            else:
                wanted["memswap_limit"] = -1 if current_swap == -1 else 2 * self.memory
        if (
            self.memory_reservation is not None
            and host_config.get("MemoryReservation") != self.memory_reservation
        ):
            wanted["mem_reservation"] = self.memory_reservation
        if not wanted:
            return ActionResult.ok(f"{_name(container)} already has these limits")
        container.update(**wanted)
        return ActionResult.changed(
            f"set {', '.join(f'{k}={v}' for k, v in wanted.items())} on {_name(container)}"
        )


@action_type("docker_logs")
class DockerLogsAction(_DockerAction):
    """Saves the container's last `lines` log lines into the incident folder (the runbook's
    "Logs sichern"), with secrets masked, and names the file in the result's artifacts. It
    changes nothing on the host, so it reports `ok`; it also works on stopped containers,
    whose logs say why they stopped."""

    lines: int = Field(200, ge=1, le=100_000, description="how many of the newest lines to save")
    timestamps: bool = Field(True, description="prefix every line with Docker's timestamp")

    def describe(self) -> str:
        return f"save the last {self.lines} log lines of {self.label()} to the incident folder"

    def _act(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        raw = container.logs(tail=self.lines, timestamps=self.timestamps, stdout=True, stderr=True)
        text = ctx.redactor.text(raw.decode(errors="replace"))
        folder = Path(ctx.incident_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        parts = [ctx.run_id, ctx.node, _name(container), stamp]
        path = folder / (_safe("-".join(p for p in parts if p)) + ".log")
        path.write_text(text)
        count = len(text.splitlines())
        return ActionResult(
            ActionStatus.OK,
            f"saved {count} log lines of {_name(container)} to {path}",
            (str(path),),
        )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
