"""Docker actions: start, stop, restart, exec, update memory limits, save logs, roll back.

All of them name their container like the docker checks do (`container`, or compose
`service` and `project`) and talk to the Docker engine through the SDK
(`engine.clients.docker`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from checks.base import CommandLine
from checks.expectations import command_text
from engine.clients.docker import (
    KEPT_MARK,
    PROJECT_LABEL,
    ROLLBACK_LABEL,
    SERVICE_LABEL,
    ContainerRef,
    connect_network,
    container_state,
    docker_client,
    docker_errors,
    exec_in_container,
    find_container,
    find_kept,
    recreate_config,
)
from engine.clients.sizes import ByteSize, format_size
from engine.errors import ContainerNotFound, DockerError
from engine.kit import (
    ActionContext,
    ActionResult,
    ActionStatus,
    Duration,
    HealthyVersion,
    action_type,
    tail_line,
)
from remediations.base import Action, schema_refusal

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
        path = _incident_file(ctx, container, ".log", text)
        count = len(text.splitlines())
        return ActionResult(
            ActionStatus.OK,
            f"saved {count} log lines of {_name(container)} to {path}",
            (str(path),),
        )


def _incident_file(ctx: ActionContext, container: Container, suffix: str, text: str) -> Path:
    """Write `text` (already masked) to a new file of the incident folder, named after the
    run, the node, the container and the time."""
    folder = Path(ctx.incident_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    parts = [ctx.run_id, ctx.node, _name(container), stamp]
    path = folder / (_safe("-".join(p for p in parts if p)) + suffix)
    path.write_text(text)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


_SETTLE = 1.0
"""Seconds a recreated container must have been running (and then pass its checks) to count
as started: an image that crashes at start often runs for a moment first."""
_POLL = 0.1
"""Seconds between looks at a recreated container that does not pass yet."""


@action_type("docker_rollback")
class DockerRollbackAction(Action, ContainerRef):
    """Brings a service back to the last version the state store saw healthy (the newest
    recorded image other than the one it runs): the container is recreated from that image
    with the configuration it has now (environment, mounts, networks and aliases, published
    ports, labels, compose's too, restart policy, limits). Its logs and inspect output go to
    the incident folder first; it is stopped and renamed aside (`<name>.remediate-kept`) and
    removed only once the new one runs and the node's check passes, else the new one is
    removed and the old one restored. Refused when the database's alembic revision (the
    playbook's `alembic_node`) moved since that version was healthy, unless
    `allow_schema_change`. A rollback a killed run left half done is finished (the new
    container is healthy) or undone first."""

    allow_schema_change: bool = Field(
        False, description="roll back even when the alembic revision moved since that version was healthy"
    )
    verify_timeout: Duration = Field(
        30.0, description="how long the new container may take to run and pass the node's check"
    )
    stop_timeout: Duration = Field(10.0, description="grace period between SIGTERM and SIGKILL")

    def default_timeout(self) -> float:
        return self.stop_timeout + self.verify_timeout + 60.0

    def describe(self) -> str:
        guard = "" if self.allow_schema_change else "; refused if the alembic revision moved since"
        return (
            f"roll back {self.label()} to its last healthy recorded image (recreated with its current "
            f"configuration; the current container kept, stopped, until the new one is verified{guard})"
        )

    def apply(self, ctx: ActionContext) -> ActionResult:
        try:
            with docker_client(ctx, self.docker_host, ctx.timeout) as client:
                recovered, finished = self._recover(ctx, client)
                if finished:
                    return ActionResult.changed(recovered)
                container = find_container(client, self)
                with docker_errors():
                    result = self._roll_back(ctx, client, container)
        except DockerError as exc:
            return ActionResult.failed(str(exc))
        if recovered:
            return ActionResult(result.status, f"{recovered}; {result.detail}", result.artifacts)
        return result

    # --- a rollback a killed run left --------------------------------------------------

    def _recover(self, ctx: ActionContext, client: DockerClient) -> tuple[str, bool]:
        """Finish or undo what a killed run left: (what was done, whether the service now
        runs a verified rolled-back container)."""
        done = [self._settle_kept(ctx, client, kept) for kept in find_kept(client, self)]
        return "; ".join(text for text, _ in done), any(finished for _, finished in done)

    def _settle_kept(self, ctx: ActionContext, client: DockerClient, kept: Container) -> tuple[str, bool]:
        name = _name(kept).removesuffix(KEPT_MARK)
        try:
            current: Container | None = find_container(client, self)
        except ContainerNotFound:
            current = None
        with docker_errors():
            if current is None:
                kept.rename(name)
                kept.start()
                return f"undid an interrupted rollback: {name} restored", False
            labels = (current.attrs.get("Config") or {}).get("Labels") or {}
            if labels.get(ROLLBACK_LABEL) != _name(kept):
                kept.remove(force=True)
                return f"removed {_name(kept)}: {_name(current)} replaced it since", False
            now = time.monotonic()  # started by the killed run, when is not known: from now
            if self._verified(ctx, current, since=now, deadline=now + 3 * _SETTLE):
                kept.remove(force=True)
                return f"finished an interrupted rollback: {name} runs {_image(current)}", True
            current.remove(force=True)
            kept.rename(name)
            kept.start()
            return f"undid an interrupted rollback: {name} restored", False

    # --- the rollback ------------------------------------------------------------------

    def _roll_back(self, ctx: ActionContext, client: DockerClient, container: Container) -> ActionResult:
        state = container.attrs.get("State") or {}  # find_container has just inspected it
        attrs = container.attrs
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        project = str(labels.get(PROJECT_LABEL) or "")
        service = str(labels.get(SERVICE_LABEL) or _name(container))
        current_id = str(attrs.get("Image") or "")
        recorded = list(ctx.versions(project, service)) if ctx.versions is not None else []
        if not recorded:
            return ActionResult.failed(f"no healthy version of {service} recorded yet")
        target = next((v for v in recorded if v.image_id != current_id), None)
        if target is None:
            running = _image(container)
            return ActionResult.failed(
                f"no healthy version of {service} recorded yet other than the one it runs ({running})"
            )
        refusal = self._schema_refusal(ctx, service, target)
        if refusal is not None:
            return ActionResult(ActionStatus.REFUSED, refusal)
        wanted = f"{target.image or target.image_id} ({target.image_id[:19]})"
        try:
            with docker_errors():
                client.images.get(target.image_id)
        except ContainerNotFound:  # docker_errors says NotFound so, whatever was not found
            return ActionResult.failed(
                f"the recorded image {wanted} of {service} was deleted; nothing to roll back to"
            )
        artifacts = self._save_evidence(ctx, container)
        try:
            with docker_errors():
                image_config = client.images.get(current_id).attrs.get("Config") or {}
        except ContainerNotFound:
            image_config = None  # deleted since: keep every setting
        body, networks = recreate_config(attrs, target.image_id, image_config)
        name = _name(container)
        kept_name = name + KEPT_MARK
        body["Labels"] = {**(body.get("Labels") or {}), ROLLBACK_LABEL: kept_name}
        was = f"{_image(container)}"
        container.stop(timeout=round(self.stop_timeout))
        container.rename(kept_name)
        try:
            created = client.api.create_container_from_config(body, name)
            new = client.containers.get(created["Id"])
            for network, endpoint in networks.items():
                connect_network(client, new.id or "", network, endpoint)
            new.start()
            started = time.monotonic()
            verified = self._verified(ctx, new, since=started, deadline=started + self.verify_timeout)
        except DockerError as exc:
            return self._undo(client, name, kept_name, bool(state.get("Running")), str(exc), artifacts)
        was_running = bool(state.get("Running"))
        if not verified:
            return self._undo(client, name, kept_name, was_running, _why_not(new), artifacts, target=wanted)
        container.remove(force=True)
        since = target.seen_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return ActionResult(
            ActionStatus.CHANGED,
            f"rolled {service} back from {was} to {wanted}, last seen healthy {since}; "
            f"the previous container was removed (its logs and inspect output are saved)",
            artifacts,
        )

    def _schema_refusal(self, ctx: ActionContext, service: str, target: HealthyVersion) -> str | None:
        """Why going back to `target` would run old code against a newer schema, or None."""
        return None if self.allow_schema_change else schema_refusal(ctx, service, target)

    def _save_evidence(self, ctx: ActionContext, container: Container) -> tuple[str, ...]:
        """The failing container's logs and inspect output, masked, in the incident folder."""
        raw = container.logs(tail=1000, timestamps=True, stdout=True, stderr=True)
        log = _incident_file(ctx, container, ".log", ctx.redactor.text(raw.decode(errors="replace")))
        inspect = _incident_file(
            ctx, container, ".inspect.json", ctx.redactor.text(json.dumps(container.attrs, indent=2))
        )
        return str(log), str(inspect)

    def _verified(self, ctx: ActionContext, container: Container, *, since: float, deadline: float) -> bool:
        """The container runs, has not restarted, passes its own healthcheck and the node's
        check, and has been running `_SETTLE` seconds since `since` (a `time.monotonic()` of
        its start), before `deadline`; False as soon as it stopped. A service that takes
        longer than `_SETTLE` to pass its check is verified at its first pass."""
        while True:
            state = container_state(container)
            if not state.get("Running") or state.get("Restarting") or container.attrs.get("RestartCount"):
                return False
            health = (state.get("Health") or {}).get("Status")
            good = bool(state.get("Running")) and health in (None, "healthy")
            if good and ctx.recheck is not None:
                good = ctx.recheck().is_healthy
            now = time.monotonic()
            if good and now - since >= _SETTLE:
                return True
            # Passing but too young: look again when it has run long enough to have crashed.
            pause = max(since + _SETTLE - now, _POLL) if good else _POLL
            if now + pause > deadline:
                return False
            time.sleep(pause)

    def _undo(
        self,
        client: DockerClient,
        name: str,
        kept_name: str,
        was_running: bool,
        why: str,
        artifacts: tuple[str, ...],
        *,
        target: str = "",
    ) -> ActionResult:
        """Put the previous container back under its name (running if it ran)."""
        tried = f" to {target}" if target else ""
        try:
            with docker_errors():
                for leftover in client.containers.list(all=True, filters={"name": name}):
                    if leftover.name == name:
                        leftover.remove(force=True)
                kept = client.containers.get(kept_name)
                kept.rename(name)
                if was_running:
                    kept.start()
        except DockerError as exc:
            return ActionResult(
                ActionStatus.FAILED,
                f"the rollback{tried} failed ({why}) and could not be undone ({exc}); the previous "
                f"container is kept as {kept_name}: restore it with `docker rm -f {name}; "
                f"docker rename {kept_name} {name}; docker start {name}`",
                artifacts,
            )
        return ActionResult(
            ActionStatus.FAILED,
            f"the rollback{tried} failed ({why}); undone: {name} is the previous container again",
            artifacts,
        )


def _image(container: Container) -> str:
    """The image a container runs, as reports name it: reference and short ID."""
    attrs = container.attrs
    reference = str((attrs.get("Config") or {}).get("Image") or "")
    image_id = str(attrs.get("Image") or "")
    return f"{reference} ({image_id[:19]})" if reference and reference != image_id else image_id[:19]


def _why_not(container: Container) -> str:
    """Why a recreated container did not count as started, from its last inspect."""
    state = container.attrs.get("State") or {}
    restarts = container.attrs.get("RestartCount") or 0
    again = f", restarted {restarts} time(s)" if restarts else ""
    if not state.get("Running"):
        return f"the new container exited with code {state.get('ExitCode')}{again}"
    if restarts:
        # Running again after a restart: its exit code is the current run's (0), not the crash's.
        return f"the new container keeps exiting: restarted {restarts} time(s)"
    health = (state.get("Health") or {}).get("Status")
    if health not in (None, "healthy"):
        return f"the new container is {health}"
    return "the node's check did not pass on the new container"
