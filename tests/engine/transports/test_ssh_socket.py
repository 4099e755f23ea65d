"""The SSH connection's own TCP socket: fewer system calls per read, the same answers and
timeouts as the socket paramiko would otherwise be given."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.transports.ssh.connection import _LeanSocket


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


@contextmanager
def _pair(listener: socket.socket, timeout: float = 5.0) -> Iterator[tuple[_LeanSocket, socket.socket]]:
    """Our socket connected to a plain one, both closed at the end."""
    plain = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    lean = _LeanSocket(plain.family, plain.type, plain.proto, plain.detach())
    try:
        lean.settimeout(timeout)
        yield lean, peer
    finally:
        lean.close()
        peer.close()


def _read(lean: _LeanSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += lean.recv(size - len(data))
    return data


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=1, max_size=200_000), sizes=st.lists(st.integers(1, 70_000), min_size=1))
def test_reads_of_any_sizes_return_what_was_sent_in_order(
    listener: socket.socket, payload: bytes, sizes: list[int]
) -> None:
    with _pair(listener) as (lean, peer):
        peer.sendall(payload)
        received = b""
        index = 0
        while len(received) < len(payload):
            wanted = min(sizes[index % len(sizes)], len(payload) - len(received))
            chunk = lean.recv(wanted)
            assert 0 < len(chunk) <= wanted
            received += chunk
            index += 1
        assert received == payload


def test_a_packet_read_in_two_pieces_costs_one_read_from_the_kernel(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paramiko reads a packet's first cipher block, then the rest: two system calls, each a
    # hand-over of the GIL when hundreds of threads are in flight.
    kernel_reads = 0
    receive = socket.socket.recv

    def counted(sock: socket.socket, size: int, flags: int = 0) -> bytes:
        nonlocal kernel_reads
        kernel_reads += 1
        return receive(sock, size, flags)

    with _pair(listener) as (lean, peer):
        peer.sendall(b"H" * 16 + b"B" * 100)
        time.sleep(0.1)
        monkeypatch.setattr(socket.socket, "recv", counted)
        assert _read(lean, 16) == b"H" * 16
        assert _read(lean, 100) == b"B" * 100
        assert kernel_reads == 1


def test_a_read_with_nothing_to_read_times_out_as_paramiko_expects(listener: socket.socket) -> None:
    with _pair(listener, timeout=0.3) as (lean, peer):
        assert lean.gettimeout() == 0.3
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            lean.recv(16)
        assert 0.2 < time.monotonic() - started < 3
        peer.sendall(b"late")
        assert lean.recv(16) == b"late"  # a timeout loses nothing and ends nothing


def test_a_read_after_the_peer_closed_returns_end_of_file(listener: socket.socket) -> None:
    with _pair(listener) as (lean, peer):
        peer.sendall(b"last words")
        peer.close()
        assert _read(lean, 10) == b"last words"
        assert lean.recv(16) == b""


def test_a_send_to_a_peer_that_reads_nothing_times_out(listener: socket.socket) -> None:
    with _pair(listener, timeout=0.3) as (lean, _peer), pytest.raises(socket.timeout):
        for _ in range(10_000):  # until the kernel's buffers on both sides are full
            lean.sendall(b"x" * 65536)


def test_a_non_blocking_socket_still_says_it_would_block(listener: socket.socket) -> None:
    with _pair(listener) as (lean, _peer):
        lean.settimeout(0)
        with pytest.raises(BlockingIOError):
            lean.recv(16)
