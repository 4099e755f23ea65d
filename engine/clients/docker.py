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
KEPT_MARK = ".remediate-kept"
"""Suffix of a container a rollback stopped and renamed, kept until its replacement is
verified (then removed, or renamed back): lookups by compose labels skip it."""
ROLLBACK_LABEL = "remediate.rollback.replaces"
"""On a container a rollback created: the name of the container it replaces (kept)."""
_IMAGE_DEFAULTS = (
    "Cmd", "Entrypoint", "WorkingDir", "User", "Healthcheck", "StopSignal", "ExposedPorts", "Volumes",
    "Shell", "OnBuild",
)  # fmt: skip


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
    # A container a rollback keeps aside still carries the service's labels; it is not the service's.
    found = [c for c in found if not is_kept(c)]
    if not found:
        raise ContainerNotFound(f"no container of {ref.label()} exists")
    if len(found) > 1:
        names = ", ".join(sorted(c.name or c.short_id for c in found))
        raise DockerError(f"{len(found)} containers match {ref.label()} ({names}); name one with `container`")
    return found[0]


def is_kept(container: Container) -> bool:
    """Whether a rollback renamed the container aside (`KEPT_MARK`)."""
    return (container.name or "").endswith(KEPT_MARK)


def find_kept(client: DockerClient, ref: ContainerRef) -> list[Container]:
    """The containers of `ref` a rollback renamed aside and has not yet removed or restored
    (a run killed mid-rollback leaves one)."""
    with docker_errors():
        if ref.container is not None:
            kept = ref.container + KEPT_MARK
            found = [c for c in client.containers.list(all=True, filters={"name": kept}) if c.name == kept]
        else:
            labels = [f"{SERVICE_LABEL}={ref.service}"]
            if ref.project:
                labels.append(f"{PROJECT_LABEL}={ref.project}")
            found = client.containers.list(all=True, filters={"label": labels})
    return [c for c in found if is_kept(c)]


def recreate_config(
    attrs: Mapping[str, Any], image_id: str, image_config: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """How to create a container like the inspected one (`attrs`) from another image: the
    body of `POST /containers/create`, and the further networks to connect it to, each with
    its endpoint settings (Docker engines before API 1.44 take one network at creation).

    The container's own configuration is kept (environment, mounts, published ports,
    labels, compose's among them, restart policy, limits, networks with their aliases); what
    it only had from the image it runs now (`image_config`, that image's `Config`: its
    command, entrypoint, healthcheck, environment and labels) is left out so that the other
    image brings its own. A value the container sets equal to its image's cannot be told
    from an inherited one and is left to the new image too. Without `image_config` (the
    image is gone) everything is kept."""
    config = dict(attrs.get("Config") or {})
    if image_config is not None:
        for key in _IMAGE_DEFAULTS:
            if key in config and config[key] == image_config.get(key):
                del config[key]
        inherited_env = set(image_config.get("Env") or [])
        config["Env"] = [e for e in config.get("Env") or [] if e not in inherited_env]
        inherited_labels = image_config.get("Labels") or {}
        config["Labels"] = {
            k: v for k, v in (config.get("Labels") or {}).items() if inherited_labels.get(k) != v
        }
    container_id = str(attrs.get("Id") or "")
    if container_id and container_id.startswith(str(config.get("Hostname") or "-")):
        del config["Hostname"]  # Docker's default, the old container's short ID
    config["Image"] = image_id
    host_config = dict(attrs.get("HostConfig") or {})
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = {name: _endpoint(settings or {}, container_id) for name, settings in networks.items()}
    mode = str(host_config.get("NetworkMode") or "default")
    primary = "bridge" if mode == "default" else mode
    body: dict[str, Any] = {**config, "HostConfig": host_config}
    if primary in endpoints:
        body["NetworkingConfig"] = {"EndpointsConfig": {primary: endpoints.pop(primary)}}
    return body, endpoints


def _endpoint(settings: Mapping[str, Any], container_id: str) -> dict[str, Any]:
    """The settings of a network endpoint worth carrying over: aliases (without the short ID
    Docker adds itself), static addresses, links, driver options."""
    endpoint: dict[str, Any] = {}
    aliases = [a for a in settings.get("Aliases") or [] if not (len(a) >= 12 and container_id.startswith(a))]
    if aliases:
        endpoint["Aliases"] = aliases
    for key in ("IPAMConfig", "Links", "DriverOpts"):
        if settings.get(key):
            endpoint[key] = settings[key]
    return endpoint


def connect_network(
    client: DockerClient, container_id: str, network: str, endpoint: Mapping[str, Any]
) -> None:
    """Connect a container to a further network with the endpoint settings `recreate_config` kept."""
    ipam = endpoint.get("IPAMConfig") or {}
    with docker_errors():
        client.api.connect_container_to_network(
            container_id,
            network,
            ipv4_address=ipam.get("IPv4Address") or None,
            ipv6_address=ipam.get("IPv6Address") or None,
            aliases=endpoint.get("Aliases"),
            links=[tuple(link.split(":", 1)) for link in endpoint.get("Links") or []] or None,
            driver_opt=endpoint.get("DriverOpts"),
        )


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
