"""The seam between checks/actions and the host they run on."""

from __future__ import annotations

import selectors
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class CommandResult:
    """What a command run through a transport did."""

    exit_code: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


Command = str | Sequence[str]
"""A shell command line (run with ``sh -c``) or an argument vector (run as is)."""


def readable(sources: Iterable[Any], timeout: float | None) -> list[Any]:
    """Those of `sources` (sockets, SSH channels: anything with a ``fileno()``) that can be
    read now, waiting up to `timeout` seconds for one (None: as long as it takes). Through a
    selector (epoll), not ``select()``: a fleet's process holds more than the 1024
    descriptors ``select()`` can watch."""
    with selectors.DefaultSelector() as selector:
        for source in sources:
            selector.register(source, selectors.EVENT_READ)
        return [key.fileobj for key, _ in selector.select(timeout)]


@runtime_checkable
class Transport(Protocol):
    """Runs commands and opens connections on one host."""

    host: str

    def run(
        self,
        command: Command,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        sudo: bool = False,
    ) -> CommandResult:
        """Run a command; a command still running at `timeout` is killed (timed_out=True)."""

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """A TCP connection to host:port as the target host sees it."""

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        """An address on the controller that reaches host:port as the target host sees it.

        Local transports return it unchanged; SSH forwards a port through its connection,
        so that clients that need an address (psycopg, redis) reach services bound to the
        remote host's loopback.
        """

    def docker_base_url(self) -> str | None:
        """A Docker API URL that reaches this host's engine through the transport, or None
        when the controller's own environment (DOCKER_HOST, the local socket) is the host's."""

    def close(self) -> None:
        """Release connections; idempotent."""
