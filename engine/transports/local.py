"""Commands and connections on the controller itself."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

from engine.clients.sizes import READ_CHUNK, HeadTail
from engine.errors import TransportError
from engine.transports.base import Command, CommandResult
from engine.transports.pool import register_transport

DRAIN_GRACE = 1.0
"""Seconds output is still read after a timed-out command's process group was killed."""


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
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"cannot start {argv[0]!r}: {exc.strerror}") from exc
        RUNNING.add(process)
        try:
            stdout, stderr, timed_out = _collect(process, stdin, started + timeout)
        finally:
            RUNNING.discard(process)
        return CommandResult(
            exit_code=process.returncode if not timed_out else -signal.SIGKILL,
            stdout=stdout.text(),
            stderr=stderr.text(),
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


def _collect(
    process: subprocess.Popen[bytes], stdin: str | None, deadline: float
) -> tuple[HeadTail, HeadTail, bool]:
    """Feed `stdin`, read both streams as they come into bounded buffers (communicate() would
    hold all of it), and wait for the exit; at `deadline` kill the process group. Whatever
    still holds the pipes after that (a daemonised grandchild) is read for DRAIN_GRACE at
    most: the command ends within its timeout plus that grace."""
    assert process.stdout is not None and process.stderr is not None
    out, err = HeadTail(), HeadTail()
    sinks = {process.stdout.fileno(): out, process.stderr.fileno(): err}
    pending = (stdin or "").encode()
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in sinks:
            selector.register(fd, selectors.EVENT_READ)
        if process.stdin is not None:
            if pending:
                os.set_blocking(process.stdin.fileno(), False)
                selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
            else:
                process.stdin.close()
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if timed_out:
                    break
                timed_out = True
                _kill_group(process)
                deadline = time.monotonic() + DRAIN_GRACE
                continue
            for key, _ in selector.select(remaining):
                if key.fd in sinks:
                    data = os.read(key.fd, READ_CHUNK)
                    if data:
                        sinks[key.fd].write(data)
                    else:
                        selector.unregister(key.fd)
                    continue
                try:
                    pending = pending[os.write(key.fd, pending[:READ_CHUNK]) :]
                except BrokenPipeError:  # the command does not read its input: fine
                    pending = b""
                if not pending:
                    selector.unregister(key.fd)
                    _close_quietly(process.stdin)
    if not timed_out:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # closed its output but kept running
            timed_out = True
            _kill_group(process)
    process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        _close_quietly(stream)
    return out, err, timed_out


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):  # a stdin the command closed early: EPIPE on flush
            stream.close()


def _kill_group(process: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
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
        self._live: set[subprocess.Popen[bytes]] = set()
        self._stopping = False

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._live.add(process)
            stopping = self._stopping
        if stopping:  # started after the stop: it ends at once too
            _kill_group(process, signal.SIGTERM)

    def discard(self, process: subprocess.Popen[bytes]) -> None:
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


@register_transport("local")
def local_transport(host: str, hostvars: Mapping[str, Any]) -> LocalTransport:
    """The transport factory for the controller itself."""
    return LocalTransport(host)
