"""Reaching the Docker engine and finding a container, for the docker check and action types.

A container is named either directly (``container: coffeestudio-backend-1``) or the way
docker compose labels it (``service: backend`` and optionally ``project: coffeestudio``), so
that playbooks keep working when compose renames containers between versions (``_1``/``-1``).
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, model_validator

from engine.clients.sizes import READ_CHUNK, HeadTail
from engine.core.context import ProbeContext
from engine.errors import ContainerNotFound, ContainerNotRunning, DockerError

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"


_NOT_RUNNING = re.compile(r"is (not running|paused|restarting)", re.IGNORECASE)
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"


class ContainerRef(BaseModel):
    """Options naming one container, shared by every docker check and action."""

    container: str | None = Field(
        None, description="container name or id; alternatively give `service` (and `project`)"
    )
    service: str | None = Field(None, description=f"docker compose service name (label `{SERVICE_LABEL}`)")
    project: str | None = Field(
        None,
        description=f"docker compose project name (label `{PROJECT_LABEL}`); without it, any "
        "project's container of `service` matches, and more than one is an error",
    )
    docker_host: str | None = Field(
        None,
        description="Docker engine URL (unix:///var/run/docker.sock, ssh://user@host, "
        "tcp://host:2376); defaults to the host variable `docker_host`, then to DOCKER_HOST "
        "and the local socket",
    )

    @model_validator(mode="after")
    def _names_one_container(self) -> ContainerRef:
        if (self.container is None) == (self.service is None):
            raise ValueError(
                "name the container either by `container` (name or id) or by compose "
                "`service` (with optional `project`), not both and not neither"
            )
        if self.project is not None and self.service is None:
            raise ValueError("`project` needs `service`: it selects a compose service's container")
        return self

    def label(self) -> str:
        """How reports name the container."""
        if self.container is not None:
            return self.container
        return f"{self.project}/{self.service}" if self.project else f"service {self.service}"


@contextmanager
def docker_client(ctx: ProbeContext, docker_host: str | None, timeout: float) -> Iterator[DockerClient]:
    """A Docker SDK client for the host's engine, closed afterwards.

    `timeout` bounds every API call, so that a hung engine turns into an error instead of
    a hung run.
    """
    import docker
    import docker.errors

    # A remote host's engine is reached through its transport (SSH), never the controller's.
    url = docker_host or ctx.hostvars.get("docker_host") or ctx.transport.docker_base_url()
    try:
        if url:
            client = docker.DockerClient(base_url=str(url), timeout=max(1, round(timeout)))
        else:
            client = docker.from_env(timeout=max(1, round(timeout)))
    except docker.errors.DockerException as exc:
        raise DockerError(unreachable_message(str(url or os.environ.get("DOCKER_HOST") or ""), exc)) from exc
    try:
        yield client
    finally:
        client.close()


@contextmanager
def docker_errors() -> Iterator[None]:
    """Turn the SDK's and requests' exceptions into `DockerError` with a readable message."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.NotFound as exc:
        raise ContainerNotFound(str(exc.explanation or exc)) from exc
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        if exc.status_code == 409 and _NOT_RUNNING.search(explanation):
            raise ContainerNotRunning(explanation) from exc
        raise DockerError(f"Docker engine: {explanation}") from exc
    except (requests.exceptions.Timeout, TimeoutError) as exc:
        raise DockerError(f"Docker engine did not answer in time: {exc}") from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise DockerError(f"cannot reach the Docker engine: {exc}") from exc


def unreachable_message(url: str, exc: BaseException) -> str:
    """No Docker engine, in plain words: which socket, whether it exists, and what to check
    (not the SDK's nested urllib3 tuple)."""
    path = url.removeprefix("unix://") if url.startswith("unix://") or not url else ""
    if not url:
        path = DEFAULT_DOCKER_SOCKET
    if path:
        if not os.path.exists(path):
            return f"no Docker engine on this host: {path} does not exist (is dockerd running?)"
        return f"the Docker engine at {path} does not answer (is dockerd running?)"
    return f"cannot reach the Docker engine at {url}: {exc}"


def find_container(client: DockerClient, ref: ContainerRef) -> Container:
    """The one container `ref` names; `ContainerNotFound` when there is none, `DockerError`
    when compose labels match several (scaled services must be named by container)."""
    with docker_errors():
        if ref.container is not None:
            return client.containers.get(ref.container)
        labels = [f"{SERVICE_LABEL}={ref.service}"]
        if ref.project:
            labels.append(f"{PROJECT_LABEL}={ref.project}")
        found = client.containers.list(all=True, filters={"label": labels})
    if not found:
        raise ContainerNotFound(f"no container of {ref.label()} exists")
    if len(found) > 1:
        names = ", ".join(sorted(c.name or c.short_id for c in found))
        raise DockerError(f"{len(found)} containers match {ref.label()} ({names}); name one with `container`")
    return found[0]


def container_state(container: Container) -> dict[str, Any]:
    """The container's `State` from a fresh inspect."""
    with docker_errors():
        container.reload()
    state: dict[str, Any] = container.attrs.get("State", {})
    return state


def container_version(client: DockerClient, container: Container) -> dict[str, str]:
    """What the container runs, from its last inspect: the version record's fields (the state
    store keeps them when a node watching the container ends healthy, for rollbacks)."""
    attrs = container.attrs
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    image_id = str(attrs.get("Image") or "")
    repo_digest = ""
    try:
        with docker_errors():
            digests = client.images.get(image_id).attrs.get("RepoDigests") or []
        repo_digest = str(digests[0]) if digests else ""
    except DockerError:
        pass  # the image may be gone already (`docker rmi -f`); the ID still names it
    return {
        "container": str(attrs.get("Name") or "").lstrip("/") or container.short_id,
        "project": str(labels.get(PROJECT_LABEL) or ""),
        "service": str(labels.get(SERVICE_LABEL) or ""),
        "image_id": image_id,
        "image": str((attrs.get("Config") or {}).get("Image") or ""),
        "repo_digest": repo_digest,
        "config_hash": str(labels.get(CONFIG_HASH_LABEL) or ""),
    }


def memory_usage(client: DockerClient, container: Container) -> tuple[int, int]:
    """Memory used and the limit, in bytes, as `docker stats` computes them: the page cache
    is not counted (it is reclaimable), and without a limit the host's memory is the limit."""
    with docker_errors():
        stats: dict[str, Any] = client.api.stats(container.id, stream=False, one_shot=True)
    memory = stats.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    # The docker CLI subtracts inactive file pages: total_inactive_file on cgroup v1,
    # inactive_file on cgroup v2 (see docker/cli calculateMemUsageUnixNoCache).
    for key in ("total_inactive_file", "inactive_file"):
        if key in details and int(details[key]) < usage:
            usage -= int(details[key])
            break
    return usage, int(memory.get("limit") or 0)


def last_health_log(state: dict[str, Any]) -> str:
    """The output of the newest healthcheck run, trimmed to its last line."""
    log = (state.get("Health") or {}).get("Log") or []
    if not log:
        return ""
    newest = log[-1]
    lines = str(newest.get("Output") or "").strip().splitlines()
    output = lines[-1] if lines else ""
    return f"exit {newest.get('ExitCode')}: {output}" if output else f"exit {newest.get('ExitCode')}"


def exec_in_container(
    client: DockerClient,
    container: Container,
    command: str | list[str],
    deadline: float,
    *,
    user: str | None = None,
    workdir: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> tuple[int | None, str]:
    """Run `command` in the running container: (exit code, output), or (None, "") when it
    outlives `deadline` (a `time.monotonic()` value). A string runs with ``sh -c``. The output
    (stdout and stderr as they came) is kept as a bounded head and tail (engine.clients.sizes).

    The exec's attached socket is read here with the time left before the deadline as its
    timeout, so nothing is left waiting on it (Docker cannot stop an exec: a command past the
    deadline is left to finish in the container)."""
    argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
    exec_id = client.api.exec_create(
        container.id,
        argv,
        user=user or "",
        workdir=workdir,
        environment=dict(environment) if environment else None,
    )["Id"]
    attached = client.api.exec_start(exec_id, socket=True)
    # docker-py hands back the socket wrapped in a SocketIO for plain HTTP connections.
    sock = getattr(attached, "_sock", attached)
    output = HeadTail()
    try:
        finished = _read_frames(sock, output, deadline)
    finally:
        # The HTTP response that owns the stream first (it flushes on close), then the socket
        # itself, so that no descriptor is left behind whatever the wrapper did.
        response = getattr(attached, "_response", None)
        with contextlib.suppress(OSError, ValueError):
            if response is not None:
                response.close()
            attached.close()
        sock.close()
    if not finished:
        return None, ""
    state = client.api.exec_inspect(exec_id)
    while state.get("Running") and time.monotonic() < deadline:  # the stream ends first
        time.sleep(0.01)
        state = client.api.exec_inspect(exec_id)
    code = state.get("ExitCode")
    return (int(code) if code is not None else -1), output.text()


def _read_frames(sock: Any, into: HeadTail, deadline: float) -> bool:
    """Copy the payload of Docker's multiplexed stream (8-byte headers: stream, 3 zero bytes,
    big-endian length) into `into` until the end of the stream (True) or the deadline (False)."""
    header = bytearray()
    left = 0  # payload bytes of the current frame still to come
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            data = sock.recv(READ_CHUNK)
        except TimeoutError:
            return False
        if not data:
            return True
        view = memoryview(data)
        while view:
            if left:
                piece = view[:left]
                into.write(piece)
                left -= len(piece)
                view = view[len(piece) :]
                continue
            take = 8 - len(header)
            header += view[:take]
            view = view[take:]
            if len(header) == 8:
                left = struct.unpack(">BxxxL", header)[1]
                header.clear()
