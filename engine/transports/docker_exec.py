"""``ansible_connection: docker``: a container as a host, as Ansible's docker connection does.

Commands run with ``docker exec`` through the docker CLI of the controller (``docker_host``
names another engine). Services on the container's own loopback are reached by relaying a
socket through ``docker exec -i CONTAINER nc HOST PORT``: the container needs ``nc`` and
``timeout`` (busybox or coreutils), and no network path into the container is needed.
"""

from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import TransportError
from engine.transports.base import Command, CommandResult
from engine.transports.local import LocalTransport
from engine.transports.pool import register_transport

KILLED = 137  # `timeout -s KILL` exits 128 + SIGKILL
SLACK = 5.0  # seconds the docker CLI gets beyond the command's own timeout
_ENGINE_ERRORS = (
    "Error: No such container",
    "Error response from daemon",
    "Cannot connect to the Docker daemon",
)


class DockerExecTransport:
    """Runs commands and opens connections inside one container."""

    def __init__(self, host: str, hostvars: Mapping[str, Any]) -> None:
        self.host = host
        self.container = str(hostvars.get("ansible_host") or host)
        self.user = hostvars.get("ansible_user")
        engine = hostvars.get("docker_host")
        self._docker = ["docker", *(["-H", str(engine)] if engine else [])]
        self._engine_url = str(engine) if engine else None
        self._local = LocalTransport(host)
        self._listeners: list[socket.socket] = []

    def _exec(self, argv: Sequence[str], *, interactive: bool = False, user: str | None = None) -> list[str]:
        options = ["-i"] if interactive else []
        if user:
            options += ["-u", user]
        return [*self._docker, "exec", *options, self.container, *argv]

    def run(
        self,
        command: Command,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        sudo: bool = False,
    ) -> CommandResult:
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        if env:
            argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
        # Killing the docker CLI would leave the command running in the container: `timeout`
        # inside kills it there.
        bounded = ["timeout", "-s", "KILL", str(max(1, math.ceil(timeout))), *argv]
        user = "root" if sudo else self.user
        result = self._local.run(
            self._exec(bounded, interactive=stdin is not None, user=user),
            timeout=timeout + SLACK,
            stdin=stdin,
        )
        engine_error = next(
            (line for line in result.stderr.splitlines() if line.startswith(_ENGINE_ERRORS)), None
        )
        if engine_error and result.exit_code != 0:
            raise TransportError(f"container {self.container}: {engine_error}")
        timed_out = result.timed_out or (result.exit_code == KILLED and result.duration >= timeout)
        return CommandResult(result.exit_code, result.stdout, result.stderr, result.duration, timed_out)

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        # A relay cannot tell a refused port from an open one: ask nc to connect first.
        probe = self.run(
            ["nc", "-w", str(max(1, math.ceil(timeout))), host, str(port)], timeout=timeout, stdin=""
        )
        if probe.timed_out:
            raise TimeoutError(f"{host}:{port} in container {self.container} did not answer")
        if probe.exit_code != 0:
            raise ConnectionRefusedError(
                f"{host}:{port} in container {self.container}: {probe.stderr.strip()}"
            )
        ours, theirs = socket.socketpair()
        self._relay(theirs, host, port)
        return ours

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        listener = socket.create_server(("127.0.0.1", 0))
        self._listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return  # closed
                self._relay(connection, host, port)

        threading.Thread(target=accept, daemon=True, name=f"docker-forward-{self.container}").start()
        address: tuple[str, int] = listener.getsockname()
        return address

    def _relay(self, connection: socket.socket, host: str, port: int) -> None:
        """Hand the socket to `docker exec -i ... nc`: the kernel copies the bytes both ways."""
        try:
            subprocess.Popen(
                self._exec(["nc", host, str(port)], interactive=True, user=self.user),
                stdin=connection.fileno(),
                stdout=connection.fileno(),
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"cannot start the docker CLI: {exc.strerror}") from exc
        finally:
            connection.close()  # the child holds its own copy

    def docker_base_url(self) -> str | None:
        return self._engine_url

    def close(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            listener.close()
        self._listeners = []


@register_transport("docker")
def docker_exec_transport(host: str, hostvars: Mapping[str, Any]) -> DockerExecTransport:
    """The transport factory: nothing is contacted until the first command."""
    return DockerExecTransport(host, hostvars)
