"""`docker_container` and `docker_env`: a container runs and is healthy; its configuration
sets an environment variable as required."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from checks.base import Check
from engine.clients.docker import (
    ContainerRef,
    container_state,
    container_version,
    docker_client,
    find_container,
    last_health_log,
    memory_usage,
)
from engine.errors import ContainerNotFound, DockerError
from engine.kit import CheckResult, ProbeContext, check_type, is_secret_key


@check_type("docker_container")
class DockerContainerCheck(Check, ContainerRef):
    """Healthy when the container is running and, if its image or compose file defines a
    healthcheck, Docker reports it `healthy`. Unhealthy reasons: missing, exited (with exit
    code and whether the kernel killed it for memory: OOMKilled), restarting, paused,
    created but never started, unhealthy (with the last healthcheck output), still
    `starting` its healthcheck, no memory limit (with `require_memory_limit`), and memory
    use above `max_memory_percent`."""

    starting_is_healthy: bool = Field(
        False,
        description="count a healthcheck still in its start period (`starting`) as healthy",
    )
    max_memory_percent: float | None = Field(
        None,
        gt=0,
        le=100,
        description="memory use above this percentage of the container's limit is unhealthy "
        "(computed like `docker stats`: page cache excluded; without a limit, of the "
        "host's memory)",
    )

    require_memory_limit: bool = Field(
        False,
        description="a running container without a memory limit is unhealthy (the runbook's "
        "'Ressourcen-Limits setzen': one leaking service must not starve the others)",
    )

    def probe(self, ctx: ProbeContext) -> CheckResult:
        try:
            with docker_client(ctx, self.docker_host, self.timeout) as client:
                container = find_container(client, self)
                state = container_state(container)
                result = self._judge(container.name or container.short_id, state)
                limit = int((container.attrs.get("HostConfig") or {}).get("Memory") or 0)
                if result.is_healthy and self.require_memory_limit and limit <= 0:
                    return CheckResult.unhealthy(f"{container.name} has no memory limit", **result.evidence)
                if result.is_healthy and self.max_memory_percent is not None:
                    used, limit = memory_usage(client, container)
                    result = self._judge_memory(result, used, limit)
                if result.is_healthy:
                    result.evidence["version"] = container_version(client, container)
                return result
        except ContainerNotFound as exc:
            return CheckResult.unhealthy(f"missing: {exc}", container=self.label())
        except DockerError as exc:
            return CheckResult.error(str(exc), container=self.label())

    def _judge(self, name: str, state: dict[str, Any]) -> CheckResult:
        status = str(state.get("Status", "unknown"))
        evidence: dict[str, Any] = {"container": name, "status": status}
        if state.get("Restarting") or status == "restarting":
            return CheckResult.unhealthy(
                f"{name} is restarting (last exit code {state.get('ExitCode')})",
                exit_code=state.get("ExitCode"),
                **evidence,
            )
        if status in ("exited", "dead"):
            oom = bool(state.get("OOMKilled"))
            detail = ", OOMKilled" if oom else ""
            return CheckResult.unhealthy(
                f"{name} exited with code {state.get('ExitCode')}{detail}",
                exit_code=state.get("ExitCode"),
                oom_killed=oom,
                error=state.get("Error") or None,
                finished_at=state.get("FinishedAt"),
                **evidence,
            )
        if status != "running":
            return CheckResult.unhealthy(f"{name} is {status}, not running", **evidence)
        health = state.get("Health")
        if health is None:
            return CheckResult.healthy(f"{name} is running (no healthcheck)", **evidence)
        health_status = str(health.get("Status"))
        evidence["health"] = health_status
        if health_status == "healthy" or (health_status == "starting" and self.starting_is_healthy):
            return CheckResult.healthy(f"{name} is running and {health_status}", **evidence)
        last = last_health_log(state)
        return CheckResult.unhealthy(
            f"{name} is {health_status}" + (f": {last}" if last else ""),
            failing_streak=health.get("FailingStreak"),
            last_health_output=last,
            **evidence,
        )

    def _judge_memory(self, result: CheckResult, used: int, limit: int) -> CheckResult:
        if limit <= 0:
            return CheckResult.error("Docker reports no memory limit to compare with")
        percent = used * 100.0 / limit
        evidence = {
            **result.evidence,
            "memory_bytes": used,
            "memory_limit_bytes": limit,
            "memory_percent": round(percent, 1),
        }
        assert self.max_memory_percent is not None
        if percent > self.max_memory_percent:
            return CheckResult.unhealthy(
                f"memory at {percent:.1f}% of {_mib(limit)}, more than {self.max_memory_percent:g}%",
                **evidence,
            )
        return CheckResult.healthy(f"{result.reason}, memory at {percent:.1f}%", **evidence)


@check_type("docker_env")
class DockerEnvCheck(Check, ContainerRef):
    """An environment variable in the container's configuration meets a rule (JWT_SECRET at
    least 32 characters, CORS_ORIGINS contains the frontend's origin). The value is never
    printed: reasons say which rule fails, not what the value is.

    It reads the environment Docker starts the container with (`docker inspect`), which is
    what `docker compose exec backend env` shows, and works on stopped containers too."""

    name: str = Field(description="the environment variable, e.g. JWT_SECRET")
    set: bool = Field(True, description="the variable must be set and not empty")
    min_length: int | None = Field(None, ge=1, description="the value has at least this many characters")
    equals: str | None = Field(None, description="the value must be exactly this")
    contains: str | list[str] | None = Field(
        None,
        description="item(s) the value must list: the value is read as a comma- or "
        "space-separated list, or as a JSON array when it starts with `[` "
        "(CORS_ORIGINS=http://localhost:3000,http://ui.localhost)",
    )

    @model_validator(mode="after")
    def _has_a_rule(self) -> DockerEnvCheck:
        if not self.set and (self.min_length or self.equals is not None or self.contains):
            raise ValueError("`set: false` cannot be combined with rules on the value")
        if not self.name or "=" in self.name:
            raise ValueError(f"not an environment variable name: {self.name!r}")
        return self

    def probe(self, ctx: ProbeContext) -> CheckResult:
        try:
            with docker_client(ctx, self.docker_host, self.timeout) as client:
                container = find_container(client, self)
                running = bool(container_state(container).get("Running"))  # fresh inspect
                env_list = container.attrs.get("Config", {}).get("Env") or []
                # Only a running container's image is a version that works: the environment
                # of one that exited at start (a bad deploy) can be right all the same.
                version = container_version(client, container) if running else None
        except ContainerNotFound as exc:
            return CheckResult.error(f"cannot read the environment: {exc}", container=self.label())
        except DockerError as exc:
            return CheckResult.error(str(exc), container=self.label())
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env_list)
        value = env.get(self.name)
        if value is not None and is_secret_key(self.name):
            ctx.redactor.add_secret(value)
        result = self._judge(value)
        if result.is_healthy and version is not None:
            result.evidence["version"] = version
        return result

    def _judge(self, value: str | None) -> CheckResult:
        evidence = {"container": self.label(), "variable": self.name}
        if not self.set:
            if value:
                return CheckResult.unhealthy(f"{self.name} is set but must not be", **evidence)
            return CheckResult.healthy(f"{self.name} is not set", **evidence)
        if value is None:
            return CheckResult.unhealthy(f"{self.name} is not set", **evidence)
        if value == "":
            return CheckResult.unhealthy(f"{self.name} is empty", **evidence)
        if self.min_length is not None and len(value) < self.min_length:
            return CheckResult.unhealthy(
                f"{self.name} has {len(value)} characters, needs at least {self.min_length}",
                length=len(value),
                **evidence,
            )
        if self.equals is not None and value != self.equals:
            return CheckResult.unhealthy(f"{self.name} differs from the expected value", **evidence)
        if self.contains:
            wanted = [self.contains] if isinstance(self.contains, str) else self.contains
            items = _list_items(value)
            missing = [item for item in wanted if item not in items]
            if missing:
                return CheckResult.unhealthy(
                    f"{self.name} does not list {', '.join(missing)}", missing=missing, **evidence
                )
        return CheckResult.healthy(f"{self.name} meets its rules", **evidence)


def _list_items(value: str) -> list[str]:
    stripped = value.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [str(item).strip() for item in parsed]
    return [item for item in stripped.replace(",", " ").split() if item]


def _mib(size: int) -> str:
    return f"{size / 1048576:.0f}MiB"
