"""`compose`: `docker compose up -d [--build] SERVICE` or `restart SERVICE` on the host."""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import Field, field_validator, model_validator

from engine.errors import ComposeNotFound
from engine.kit import ActionContext, ActionResult, TransportError, action_type, tail_line
from engine.transports.base import CommandResult, Transport
from remediations.base import Action


@action_type("compose")
class ComposeAction(Action):
    """Runs docker compose on the host through its transport, with whichever CLI it has:
    `docker compose` (v2, preferred) or `docker-compose` (v1). `up` is `ok` when every named
    service already runs and nothing is to be built; `restart` always restarts (`changed`).
    `up` without a compose file (in `project_dir` or above, or `files`) fails at once."""

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
        # One cheap shell command finds the CLI and, for `up`, the compose file: without a
        # file compose can only fail, and docker-compose v1 (Python) takes a second or two
        # to start for that, twice when its `version` was asked first.
        try:
            cli = find_compose_cli(
                ctx.transport,
                timeout=min(ctx.timeout, 30.0),
                sudo=self.sudo,
                project_dir=self.project_dir,
                files=self.files if self.command == "up" else None,
            )
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


COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
"""The files compose looks for in the project directory and each directory above it."""

_NO_CLI, _NO_DIR, _NO_FILE = 10, 11, 12
_PREFLIGHT = f"""
dir=$1; shift
if docker compose version >/dev/null 2>&1; then echo 'docker compose'
elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose
else exit {_NO_CLI}; fi
[ "$dir" = '' ] || cd "$dir" 2>/dev/null || exit {_NO_DIR}
[ "$1" = '--no-file-check' ] && exit 0
if [ $# -gt 0 ]; then
  for f in "$@"; do [ -f "$f" ] || {{ echo "$f"; exit {_NO_FILE}; }}; done
  exit 0
fi
[ -n "${{COMPOSE_FILE:-}}" ] && exit 0
if [ -f .env ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in COMPOSE_FILE=*) exit 0;; esac
  done < .env
fi
d=$(pwd)
while :; do
  for f in {" ".join(COMPOSE_FILE_NAMES)}; do [ -f "$d/$f" ] && exit 0; done
  [ "$d" = '' ] && exit {_NO_FILE}
  d=${{d%/*}}
done
"""
"""Prints the compose CLI the host has, then looks for the compose file as compose does:
the `-f` files given, else `COMPOSE_FILE` (environment or the project's `.env`), else one
of `COMPOSE_FILE_NAMES` in the directory or a directory above it. Shell builtins only (and
the docker CLI), so it costs one short process, local or remote."""


def find_compose_cli(
    transport: Transport,
    *,
    timeout: float,
    sudo: bool = False,
    project_dir: str | None = None,
    files: list[str] | None = None,
) -> list[str]:
    """The compose CLI the host has: ``docker compose`` (v2) or ``docker-compose`` (v1).
    With `files` (a list, empty for compose's own lookup) the compose file is looked for
    too, in `project_dir`. `ComposeNotFound` says what is missing."""
    where = project_dir or "the working directory"
    arguments = ["--no-file-check"] if files is None else files
    command = " ".join(shlex.quote(a) for a in ["sh", "-c", _PREFLIGHT, "sh", project_dir or "", *arguments])
    try:
        result = transport.run(command, timeout=timeout, sudo=sudo)
    except TransportError as exc:
        raise ComposeNotFound(f"cannot look for docker compose on {transport.host}: {exc}") from exc
    lines = result.stdout.splitlines()
    if result.timed_out:
        raise ComposeNotFound(f"looking for docker compose on {transport.host} took longer than {timeout:g}s")
    if result.exit_code == _NO_CLI or not lines:
        raise ComposeNotFound(
            f"neither `docker compose` (v2) nor `docker-compose` (v1) works on {transport.host}: "
            "install the docker compose plugin"
        )
    if result.exit_code == _NO_DIR:
        raise ComposeNotFound(
            f"the compose project directory {project_dir} does not exist on {transport.host}"
        )
    if result.exit_code == _NO_FILE:
        if files:
            raise ComposeNotFound(
                f"the compose file {lines[-1]} does not exist in {where} on {transport.host}"
            )
        raise ComposeNotFound(
            f"no compose file in {where} or a directory above it on {transport.host} "
            f"({', '.join(COMPOSE_FILE_NAMES)}): compose has nothing to build or create from"
        )
    if result.exit_code != 0:
        raise ComposeNotFound(
            f"looking for docker compose on {transport.host} failed: {tail_line(result.stderr)}"
        )
    return lines[0].split()
