"""`compose`: `docker compose up -d [--build] SERVICE` or `restart SERVICE` on the host."""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import Field, field_validator, model_validator

from engine.errors import ComposeNotFound
from engine.kit import ActionContext, ActionResult, TransportError, action_type, tail_line
from engine.transports.base import CommandResult, Transport
from remediations.base import Action

_CLIS = (["docker", "compose"], ["docker-compose"])
"""Compose v2 (the docker CLI plugin) first, then the standalone v1."""


@action_type("compose")
class ComposeAction(Action):
    """Runs docker compose on the host through its transport, with whichever CLI it has:
    `docker compose` (v2) or `docker-compose` (v1). `up` is `ok` when every named service
    already runs and nothing is to be built; `restart` always restarts (`changed`)."""

    command: Literal["up", "restart"] = Field("up", description="up -d, or restart")
    services: list[str] = Field(description="compose services to act on, e.g. [backend]")
    build: bool = Field(False, description="up: rebuild images first (--build)")
    project_dir: str | None = Field(None, description="directory with the compose file (cwd)")
    files: list[str] = Field(default_factory=list, description="compose files (-f), in order")
    project: str | None = Field(None, description="project name (-p), e.g. coffeestudio")
    sudo: bool = Field(False, description="run with sudo (become)")

    @field_validator("services")
    @classmethod
    def _some_services(cls, services: list[str]) -> list[str]:
        if not services:
            raise ValueError("name at least one service: acting on the whole project is too wide")
        for service in services:
            if not service or service.startswith("-") or any(c.isspace() for c in service):
                raise ValueError(f"not a compose service name: {service!r}")
        return services

    @model_validator(mode="after")
    def _build_needs_up(self) -> ComposeAction:
        if self.build and self.command != "up":
            raise ValueError("`build: true` only goes with `command: up`")
        return self

    def default_timeout(self) -> float:
        return 900.0 if self.build else 180.0

    def describe(self) -> str:
        command = "docker compose " + " ".join(shlex.quote(a) for a in self._arguments(self._verb()))
        return f"cd {shlex.quote(self.project_dir)} && {command}" if self.project_dir else command

    def _verb(self) -> list[str]:
        if self.command == "restart":
            return ["restart", *self.services]
        return ["up", "-d", *(["--build"] if self.build else []), *self.services]

    def _arguments(self, verb: list[str]) -> list[str]:
        options: list[str] = []
        for file in self.files:
            options += ["-f", file]
        if self.project:
            options += ["-p", self.project]
        return [*options, *verb]

    def apply(self, ctx: ActionContext) -> ActionResult:
        try:
            cli = find_compose_cli(ctx.transport, timeout=min(ctx.timeout, 30.0), sudo=self.sudo)
        except ComposeNotFound as exc:
            return ActionResult.failed(str(exc))
        if self.command == "up" and not self.build:
            running = self._run(ctx, cli, ["ps", "--services", "--filter", "status=running"])
            if running.succeeded and set(self.services) <= set(running.stdout.split()):
                return ActionResult.ok(f"{', '.join(self.services)} already running")
        result = self._run(ctx, cli, self._verb())
        if result.timed_out:
            return ActionResult.failed(f"killed after {ctx.timeout:g}s")
        if result.exit_code != 0:
            output = tail_line(result.stderr or result.stdout)
            return ActionResult.failed(f"{' '.join(cli)} exited {result.exit_code}: {output}")
        return ActionResult.changed(f"{' '.join(cli)} {' '.join(self._verb())} in {result.duration:.1f}s")

    def _run(self, ctx: ActionContext, cli: list[str], verb: list[str]) -> CommandResult:
        command = " ".join(shlex.quote(part) for part in [*cli, *self._arguments(verb)])
        if self.project_dir:
            command = f"cd {shlex.quote(self.project_dir)} && {command}"
        return ctx.transport.run(command, timeout=ctx.timeout, sudo=self.sudo)


def find_compose_cli(transport: Transport, *, timeout: float, sudo: bool = False) -> list[str]:
    """The compose CLI the host has: ``docker compose`` (v2) or ``docker-compose`` (v1)."""
    for cli in _CLIS:
        try:
            result = transport.run([*cli, "version"], timeout=timeout, sudo=sudo)
        except TransportError:
            continue  # the executable does not exist (local transports raise)
        if result.succeeded:
            return cli
    raise ComposeNotFound(
        f"neither `docker compose` (v2) nor `docker-compose` (v1) works on {transport.host}: "
        "install the docker compose plugin"
    )
