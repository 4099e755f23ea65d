"""`ansible_connection: docker`: commands and connections inside a real container."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.core.runner import Runner, RunSettings
from engine.errors import TransportError
from engine.transports.docker_exec import DockerExecTransport
from inventory import Inventory
from tests.servers.docker import ContainerFactory
from tests.support.playbooks import plan

pytestmark = pytest.mark.docker


@pytest.fixture
def container(make_container: ContainerFactory) -> Any:
    # An HTTP server on the container's own loopback; the container has no network at all.
    return make_container(
        "touch /tmp/inside; mkdir /www; echo hello > /www/index.html; httpd -f -p 127.0.0.1:8080 -h /www"
    )


def transport(container: Any) -> DockerExecTransport:
    return DockerExecTransport("app", {"ansible_host": container.name})


def test_commands_run_inside_the_container(container: Any) -> None:
    result = transport(container).run("test -e /tmp/inside && echo yes", timeout=10)
    assert (result.exit_code, result.stdout) == (0, "yes\n")
    assert transport(container).run(["cat", "/www/index.html"], timeout=10).stdout == "hello\n"


def test_a_hung_command_is_killed_inside_the_container_at_its_timeout(container: Any) -> None:
    marker = f"sleep 3{uuid.uuid4().int % 1000}"
    result = transport(container).run(marker, timeout=1)
    assert result.timed_out
    processes = container.top()["Processes"]
    assert not any(marker in " ".join(process) for process in processes)


def test_a_missing_container_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="No such container"):
        DockerExecTransport("gone", {}).run("true", timeout=5)


def test_a_service_on_the_container_loopback_is_reached_through_a_local_endpoint(container: Any) -> None:
    host, port = transport(container).local_endpoint("127.0.0.1", 8080)
    assert host == "127.0.0.1"
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.") and answer.endswith(b"hello\n")


def test_connect_tcp_to_a_closed_port_in_the_container_is_refused(container: Any) -> None:
    with pytest.raises(ConnectionRefusedError):
        transport(container).connect_tcp("127.0.0.1", 9, timeout=5)


def test_checks_run_in_a_container_host_named_by_the_inventory(tmp_path: Path, container: Any) -> None:
    inventory = Inventory()
    inventory.add_host("app", "ungrouped", {"ansible_connection": "docker", "ansible_host": container.name})
    run_plan = plan(
        tmp_path,
        """
        name: in-container
        checks:
          file: {command: {cmd: "test -e /tmp/inside"}}
          port: {tcp: {port: 8080}}
          page: {http: {url: "http://127.0.0.1:8080/index.html", body_regex: hello, via_host: true}}
          closed: {tcp: {port: 9}}
    """,
        inventory,
    )
    report = Runner(run_plan, RunSettings()).run()
    outcomes = {n.node: str(n.outcome) for n in report.nodes}
    assert outcomes == {"file": "healthy", "port": "healthy", "page": "healthy", "closed": "failed"}
