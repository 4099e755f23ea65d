"""Commands and connections on the controller itself."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping

from engine.transports.base import Command, CommandResult, TransportError


class LocalTransport:
    """Runs commands as subprocesses of the engine; a timed-out command's whole process group
    is killed, so a hung shell pipeline does not outlive its check."""

    def __init__(self, host: str = "localhost") -> None:
        self.host = host

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
        if sudo and os.geteuid() != 0:
            argv = ["sudo", "-n", "--", *argv]
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **env} if env else None,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"cannot start {argv[0]!r}: {exc.strerror}") from exc
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            timed_out = True
        return CommandResult(
            exit_code=process.returncode if not timed_out else -signal.SIGKILL,
            stdout=stdout,
            stderr=stderr,
            duration=time.monotonic() - started,
            timed_out=timed_out,
        )

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        return socket.create_connection((host, port), timeout=timeout)

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    def docker_base_url(self) -> str | None:
        return None

    def close(self) -> None:
        return None


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
