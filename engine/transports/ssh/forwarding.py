"""Relaying bytes between local sockets and SSH channels: forwarded TCP connections,
local port forwards and the local socket that reaches a host's Docker engine."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko

from engine.errors import TransportError
from engine.output.logs import get_logger
from engine.transports.base import readable

log = get_logger(name="remediate.ssh")


def _relay(sock: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways until both sides are done; half-closes are passed on."""
    open_sides: set[Any] = {sock, channel}
    try:
        while open_sides:
            ready = readable(open_sides, 5.0)
            if channel.closed and channel not in ready and not channel.recv_ready():
                return
            for side in ready:
                if side is sock:
                    data = sock.recv(65536)
                    if data:
                        channel.sendall(data)
                    else:
                        open_sides.discard(sock)
                        channel.shutdown_write()
                else:
                    # The channel's poll descriptor also fires for stderr (a command such
                    # as `docker system dial-stdio` may write some): drain that, and never
                    # block in recv() when only stderr was ready.
                    while channel.recv_stderr_ready():
                        channel.recv_stderr(65536)
                    if channel.recv_ready():
                        sock.sendall(channel.recv(65536))
                    elif channel.eof_received or channel.closed:
                        open_sides.discard(channel)
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_WR)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # either side went away: the other one is closed below
    finally:
        # Closing a channel sends a message: EOFError when the connection is gone already.
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            channel.close()
        sock.close()


class _Forwarder:
    """A local listening socket whose every connection is relayed to a new channel."""

    def __init__(
        self,
        listener: socket.socket,
        opener: Callable[[], paramiko.Channel],
        name: str,
        cleanup: Path | None = None,
    ) -> None:
        self._listener, self._opener, self._cleanup = listener, opener, cleanup
        self.address: tuple[str, int] | str = listener.getsockname()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"ssh-forward-{name}").start()

    @classmethod
    def tcp(cls, opener: Callable[[], paramiko.Channel], name: str) -> _Forwarder:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        return cls(listener, opener, name)

    @classmethod
    def unix(cls, opener: Callable[[], paramiko.Channel], name: str) -> _Forwarder:
        folder = Path(tempfile.mkdtemp(prefix="remediate-ssh-"))  # mode 0700: ours alone
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(folder / "docker.sock"))
        listener.listen(64)
        return cls(listener, opener, name, cleanup=folder)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            channel = self._opener()
        except (OSError, EOFError, TransportError, paramiko.SSHException) as exc:
            log.debug("ssh forward refused", error=str(exc))
            conn.close()
            return
        if conn.family == socket.AF_INET:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _relay(conn, channel)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
