"""engine/clients/docker.py: how a container is found and how one is recreated from another
image (a rollback)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.clients.docker import KEPT_MARK, ContainerRef, find_container, recreate_config
from tests.servers.docker import ContainerFactory, unique_project

if TYPE_CHECKING:
    from docker import DockerClient

OLD_ID = "0123456789abcdef" * 4


def inspected(**config: Any) -> dict[str, Any]:
    """An inspect output of a compose service's container."""
    return {
        "Id": OLD_ID,
        "Config": {"Hostname": OLD_ID[:12], "Image": "app:2", **config},
        "HostConfig": {"NetworkMode": "proj_default", "Memory": 1 << 30, "PortBindings": {"80/tcp": [{}]}},
        "NetworkSettings": {
            "Networks": {
                "proj_default": {"Aliases": ["backend", OLD_ID[:12]], "IPAMConfig": None},
                "proj_other": {"Aliases": ["api"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}},
            }
        },
    }


def test_recreating_keeps_the_containers_own_settings_and_drops_what_its_image_gave() -> None:
    attrs = inspected(
        Cmd=["serve", "--v2"],
        Entrypoint=["/entry"],
        Env=["PATH=/bin", "APP_VERSION=2", "DATABASE_URL=postgres://db"],
        Labels={"com.docker.compose.service": "backend", "app.version": "2"},
    )
    image = {"Cmd": ["serve", "--v2"], "Entrypoint": None, "Env": ["PATH=/bin", "APP_VERSION=2"]}
    image["Labels"] = {"app.version": "2"}

    body, further = recreate_config(attrs, "sha256:old", image)

    assert body["Image"] == "sha256:old"
    assert "Cmd" not in body and body["Entrypoint"] == ["/entry"]  # the image's; the compose override
    assert body["Env"] == ["DATABASE_URL=postgres://db"]
    assert body["Labels"] == {"com.docker.compose.service": "backend"}
    assert "Hostname" not in body  # Docker's default, the old container's short ID
    assert body["HostConfig"]["Memory"] == 1 << 30
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"proj_default": {"Aliases": ["backend"]}}}
    assert further == {"proj_other": {"Aliases": ["api"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}}}


def test_without_the_current_image_every_setting_is_kept() -> None:
    attrs = inspected(Cmd=["serve"], Env=["APP_VERSION=2"], Labels={"a": "b"})
    body, _ = recreate_config(attrs, "sha256:old", None)
    assert (body["Cmd"], body["Env"], body["Labels"]) == (["serve"], ["APP_VERSION=2"], {"a": "b"})


env_entries = st.lists(
    st.tuples(st.from_regex(r"[A-Z_]{1,6}", fullmatch=True), st.text("abc=", max_size=4)).map(
        lambda kv: f"{kv[0]}={kv[1]}"
    ),
    max_size=8,
    unique=True,
)


@given(own=env_entries, inherited=env_entries)
def test_the_environment_keeps_exactly_the_entries_the_image_did_not_give(
    own: list[str], inherited: list[str]
) -> None:
    attrs = inspected(Env=inherited + [e for e in own if e not in inherited])
    body, _ = recreate_config(attrs, "sha256:old", {"Env": inherited})
    assert body["Env"] == [e for e in own if e not in inherited]


@pytest.mark.docker
def test_a_lookup_by_compose_labels_skips_a_container_a_rollback_keeps_aside(
    make_container: ContainerFactory, docker_client: DockerClient
) -> None:
    project = unique_project()
    kept = make_container(compose=(project, "backend"), start=False)
    kept.rename(f"{kept.name}{KEPT_MARK}")
    current = make_container(compose=(project, "backend"))
    found = find_container(docker_client, ContainerRef(project=project, service="backend"))
    assert found.id == current.id
