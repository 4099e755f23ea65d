"""A fake transport standing in for a host reached over a real transport (local, SSH, docker
exec), for unit tests of checks and actions: it answers commands from a table and records
every command it was asked to run.

It is for the paths a real host makes hard to reach on demand (the connection dropping, a
command hanging, an exit code with a given stderr). Integration tests keep using real
servers and real transports; this fake never replaces them.
"""

from __future__ import annotations

import re
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.errors import TransportError
from engine.transports.base import Command, CommandResult

Answer = CommandResult | BaseException
"""What a command gets: a result, or an exception the transport raises instead
(`TransportError` for an unreachable host, `TimeoutError`, ...)."""


def exited(exit_code: int = 0, stdout: str = "", stderr: str = "", duration: float = 0.01) -> CommandResult:
    """A command that finished with that exit code and output."""
    return CommandResult(exit_code, stdout, stderr, duration)


def timed_out(after: float, stdout: str = "", stderr: str = "") -> CommandResult:
    """A command killed at its timeout, as the real transports report it (exit -9)."""
    return CommandResult(-9, stdout, stderr, after, timed_out=True)


@dataclass(frozen=True)
class Call:
    """One command the fake was asked to run, as the caller passed it."""

    command: str
    """The command line (an argument vector is joined with shell quoting)."""
    timeout: float
    env: Mapping[str, str] | None
    stdin: str | None
    sudo: bool


class UnexpectedCommand(AssertionError):
    """A command no rule answers: the test did not expect the code under test to run it."""


@dataclass
class FakeTransport:
    """Implements `engine.transports.base.Transport` from a table of answers.

    ``answers`` maps a command prefix (a ``str``) or a regular expression (a compiled
    ``re.Pattern``, searched) to an `Answer`; the first rule, in insertion order, that
    matches the command line answers it. A command that no rule matches raises
    `UnexpectedCommand`.
    """

    answers: dict[str | re.Pattern[str], Answer] = field(default_factory=dict)
    host: str = "fake-host"
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    @property
    def commands(self) -> list[str]:
        """The command lines run so far, in order."""
        return [call.command for call in self.calls]

    def run(
        self,
        command: Command,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        sudo: bool = False,
    ) -> CommandResult:
        """Record the command, then return or raise what the first matching rule says."""
        line = command if isinstance(command, str) else shlex.join(command)
        self.calls.append(Call(line, timeout, env, stdin, sudo))
        for rule, answer in self.answers.items():
            matched = line.startswith(rule) if isinstance(rule, str) else rule.search(line)
            if matched:
                if isinstance(answer, BaseException):
                    raise answer
                return answer
        raise UnexpectedCommand(f"{self.host}: no answer for command {line!r}")

    def connect_tcp(self, host: str, port: int, *, timeout: float) -> socket.socket:
        """Refused: the fake runs commands only; TCP checks test against real servers."""
        raise TransportError(f"{self.host}: the fake transport opens no connections ({host}:{port})")

    def local_endpoint(self, host: str, port: int) -> tuple[str, int]:
        """The address unchanged, as a local transport returns it."""
        return host, port

    def docker_base_url(self) -> str | None:
        """None: the controller's own Docker environment, as a local transport says."""
        return None

    def close(self) -> None:
        """Mark the transport closed (idempotent)."""
        self.closed = True
