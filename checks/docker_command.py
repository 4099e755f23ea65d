"""`docker_command`: a command run inside a container says whether the service is healthy.

This is how docker compose healthchecks look (`pg_isready -U coffeestudio`, `redis-cli
ping`), so a compose file's healthcheck translates into it one to one, and the runbook's
`docker compose exec postgres pg_isready` is written the same way.
"""

from __future__ import annotations

import time

from pydantic import Field

from checks.base import Check, CommandLine
from checks.expectations import CommandExpectation, command_text
from engine.clients.docker import (
    ContainerRef,
    container_state,
    container_version,
    docker_client,
    docker_errors,
    exec_in_container,
    find_container,
)
from engine.errors import ContainerNotFound, ContainerNotRunning, DockerError
from engine.kit import CheckResult, ProbeContext, check_type


@check_type("docker_command")
class DockerCommandCheck(Check, ContainerRef, CommandExpectation):
    """Runs a read-only command in the running container (like `docker exec`). Healthy when
    it exits with `exit_code` and, if given, its output matches `stdout_regex`. A container
    that does not run is unhealthy (its service is down), not an error: the command cannot
    run, but the answer is known."""

    cmd: CommandLine = Field(
        description="command line (run with sh -c in the container) or argument list (run as is, "
        "like a compose healthcheck's CMD)"
    )
    user: str | None = Field(None, description="user to run as (default: the image's)")
    workdir: str | None = Field(None, description="working directory inside the container")

    def probe(self, ctx: ProbeContext) -> CheckResult:
        deadline = time.monotonic() + self.timeout
        try:
            with docker_client(ctx, self.docker_host, self.timeout) as client:
                container = find_container(client, self)
                name = container.name or container.short_id
                state = container_state(container)
                if not state.get("Running") or state.get("Paused"):
                    status = "paused" if state.get("Paused") else state.get("Status", "unknown")
                    return CheckResult.unhealthy(
                        f"{name} is {status}, so `{command_text(self.cmd)}` cannot run",
                        container=name,
                        status=status,
                        exit_code=state.get("ExitCode"),
                    )
                version = container_version(client, container)
                with docker_errors():
                    code, output = exec_in_container(
                        client, container, self.cmd, deadline, user=self.user, workdir=self.workdir
                    )
        except ContainerNotFound as exc:
            return CheckResult.unhealthy(f"missing: {exc}", container=self.label())
        except ContainerNotRunning as exc:
            # It stopped after it was inspected: the service is down, the answer is known.
            return CheckResult.unhealthy(
                f"{self.label()} stopped before `{command_text(self.cmd)}` could run: {exc}",
                container=self.label(),
            )
        except DockerError as exc:
            return CheckResult.error(str(exc), container=self.label())
        if code is None:
            return CheckResult.error(
                f"`{command_text(self.cmd)}` did not finish within {self.timeout:g}s in {name}"
            )
        result = self.judge(
            code,
            output,
            ctx.redactor.text(output),
            f"`{command_text(self.cmd)}` in {name}",
            container=name,
        )
        if result.is_healthy:
            result.evidence["version"] = version
        return result
