"""The Docker engine and throwaway containers for docker tests.

No image registry is reachable, so the test image is built locally: `docker import` of a
root filesystem holding the static busybox and its applet links. Every container gets a
unique name and the labels `remediate.test=stack` and `remediate.test.session=<id>`, and is
removed after its test (and, as a safety net, at the end of the session), so tests never
touch another engineer's containers.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

IMAGE = "remediate-stack-test/busybox:2"
SESSION = uuid.uuid4().hex[:8]
LABELS = {"remediate.test": "stack", "remediate.test.session": SESSION}
APPLETS = [
    "sh",
    "sleep",
    "tail",
    "touch",
    "rm",
    "cat",
    "echo",
    "env",
    "true",
    "false",
    "head",
    "ls",
    "mkdir",
    "printf",
    "test",
    "[",
    "kill",
    "dd",
    "grep",
    "seq",
    "yes",
    "date",
    "nc",
    "timeout",
    "httpd",
]
SECOND = 1_000_000_000  # Docker's healthcheck durations are nanoseconds


def _engine() -> tuple[DockerClient | None, str]:
    """A client of an engine that answers, or None and why none does. Only "cannot reach
    the engine" is caught: any other exception (a bug, a refused API version) is an error."""
    import docker
    import docker.errors
    import requests.exceptions

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client, ""
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def missing_engine(why: str) -> None:
    """Skip a docker test for the one expected reason, no engine on this machine; in CI
    (CI=true), where scripts/test.sh starts one, its absence fails the test instead."""
    reason = f"no Docker engine answers and none could be started (needs dockerd and root): {why}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[DockerClient]:
    """A client of a running Docker engine, started with scripts/start-dockerd.sh when none
    answers. Skips only when no engine can be reached, and never in CI (CI=true fails)."""
    client, why = _engine()
    if client is None:
        script = Path(__file__).resolve().parents[2] / "scripts" / "start-dockerd.sh"
        if shutil.which("dockerd") and os.geteuid() == 0:
            subprocess.run(["bash", str(script)], capture_output=True, timeout=60)
            client, why = _engine()
    if client is None:
        missing_engine(why)
        raise AssertionError("unreachable: missing_engine skips or fails")
    try:
        yield client
    finally:
        for leftover in client.containers.list(
            all=True, filters={"label": f"remediate.test.session={SESSION}"}
        ):
            leftover.remove(force=True)
        client.close()


def _rootfs() -> bytes:
    busybox = shutil.which("busybox") or "/bin/busybox"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def test_image(docker_client: DockerClient) -> str:
    """The busybox image, built once per machine (it is tiny and identical every time)."""
    import docker.errors

    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        repository, tag = IMAGE.rsplit(":", 1)
        docker_client.api.import_image_from_data(
            _rootfs(), repository=repository, tag=tag, changes=["ENV PATH=/bin", 'CMD ["sh"]']
        )
    return IMAGE


def healthcheck(command: str, interval: float = 0.2, retries: int = 1) -> dict[str, Any]:
    """A Docker healthcheck running `command` in the container every `interval` seconds."""
    return {
        "test": ["CMD-SHELL", command],
        "interval": int(interval * SECOND),
        "timeout": 2 * SECOND,
        "retries": retries,
        "start_period": 0,
    }


ContainerFactory = Callable[..., "Container"]


@pytest.fixture
def make_container(docker_client: DockerClient, test_image: str) -> Iterator[ContainerFactory]:
    """Creates (and by default starts) a labelled test container; all are removed afterwards.

    Keyword arguments: `command` (shell line, default sleeps), `compose` ((project, service)
    labels), `start`, and anything `containers.create` takes (healthcheck, mem_limit,
    environment...). Containers run under docker-init so that a stop takes no grace period.
    """
    created: list[Container] = []

    def make(
        command: str = "sleep 3600",
        *,
        compose: tuple[str, str] | None = None,
        start: bool = True,
        **options: Any,
    ) -> Container:
        labels = dict(LABELS)
        if compose is not None:
            labels["com.docker.compose.project"], labels["com.docker.compose.service"] = compose
        name = f"rmdt-stack-{SESSION}-{uuid.uuid4().hex[:6]}"
        container = docker_client.containers.create(
            test_image,
            ["sh", "-c", command],
            name=name,
            labels=labels,
            init=True,
            network_mode="none",
            **options,
        )
        created.append(container)
        if start:
            container.start()
        return container

    yield make
    for container in created:
        with contextlib.suppress(Exception):  # already gone (a test removed it)
            container.remove(force=True)


ImageFactory = Callable[..., str]


@pytest.fixture
def make_image(docker_client: DockerClient, test_image: str) -> Iterator[ImageFactory]:
    """Commits an image of the busybox root filesystem with its own command, environment and
    label (a "version" of an app); returns its reference. All are removed afterwards."""
    made: list[str] = []

    def make(command: str, version: str) -> str:
        reference = f"rmdt-rollback-{SESSION}:{uuid.uuid4().hex[:6]}"
        base = docker_client.containers.create(test_image, ["true"], labels=LABELS)
        try:
            repository, tag = reference.rsplit(":", 1)
            base.commit(
                repository,
                tag,
                changes=[
                    f'CMD ["sh", "-c", "{command}"]',
                    f"ENV APP_VERSION={version}",
                    f"LABEL app.version={version}",
                ],
            )
        finally:
            base.remove(force=True)
        made.append(reference)
        return reference

    yield make
    for reference in made:
        with contextlib.suppress(Exception):  # a test deleted it already
            docker_client.images.remove(reference, force=True)


def unique_project() -> str:
    """A compose project name no other test (or engineer) uses."""
    return f"rmdtstack{SESSION}{uuid.uuid4().hex[:6]}"
