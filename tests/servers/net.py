"""Loopback helpers for server fixtures: free ports, a server that never answers, waiting."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.services import free_port  # one helper for a free port, re-exported


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `predicate` until it is truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # the server is not up yet: keep polling
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g}s")
        time.sleep(interval)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes the handshake into the
    listen backlog) but never answers a byte: a hung server, for timeout tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections are refused."""
    return free_port()
