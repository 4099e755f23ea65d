"""Commands and connections on the controller itself."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
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
        RUNNING.add(process)
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            timed_out = True
        finally:
            RUNNING.discard(process)
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


def _kill_group(process: subprocess.Popen[str], signum: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _group_alive(process: subprocess.Popen[str]) -> bool:
    try:
        os.killpg(process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class RunningCommands:
    """The process groups of the commands running now, so that a run stopped by a signal can
    stop them: each command is a session of its own (for the timeout's kill), so the
    terminal's or systemd's signal does not reach it by itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[str]] = set()
        self._stopping = False

    def add(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._live.add(process)
            stopping = self._stopping
        if stopping:  # started after the stop: it ends at once too
            _kill_group(process, signal.SIGTERM)

    def discard(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._live.discard(process)

    def stop(self, grace: float) -> int:
        """TERM every group (and any started from now on), KILL those still there after
        `grace` seconds; returns how many groups were running."""
        with self._lock:
            self._stopping = True
            groups = list(self._live)
        for process in groups:
            _kill_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(_group_alive(p) for p in groups) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kill()
        return len(groups)

    def kill(self) -> None:
        """KILL every group at once (a second signal: no more grace)."""
        with self._lock:
            self._stopping = True
            groups = list(self._live)
        for process in groups:
            _kill_group(process)

    def reset(self) -> None:
        """Commands may run again (a process that goes on after a stopped run: tests)."""
        with self._lock:
            self._stopping = False


RUNNING = RunningCommands()
"""Every local command of this process (docker exec's CLI included)."""
