"""Latency of one small command over a kept SSH connection, with and without TCP_NODELAY.

Moved here from the tests: a speed comparison belongs to benchmarks, run by hand (the test
suite keeps the functional assertion that the socket has TCP_NODELAY set). Starts one real
sshd on a loopback address (the test fixtures' sshd), as root::

    .venv/bin/python bench/ssh_latency.py [--runs 15]

Prints the median time of `true` on the engine's connection as configured, then on the same
connection with Nagle's algorithm back on, where each command waits for a delayed ACK (about
40 ms on Linux). Compared on one machine at one time, so that a busy machine slows both alike.
Then the time the engine takes to give up on a host that accepts the connection and never
answers, with a connect timeout of 1 s (the test suite asserts that the client gives up by
itself, without a wall-clock bound).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.errors import TransportError
from engine.transports.ssh import SSHTransport, ssh_transport
from tests.servers.sshd import create_account, create_fleet


def median_command_time(transport: SSHTransport, runs: int) -> float:
    durations = []
    for _ in range(runs):
        started = time.monotonic()
        transport.run("true", timeout=5)
        durations.append(time.monotonic() - started)
    return statistics.median(durations)


def give_up_time(connect_timeout: float) -> float:
    """Seconds from the first command to the error on a host that never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address, port = listener.getsockname()
    transport = ssh_transport(
        "hung",
        {
            "ansible_host": address,
            "ansible_port": port,
            "remediate_ssh_connect_timeout": connect_timeout,
            "remediate_ssh_config": "/dev/null",
            "remediate_ssh_agent": False,
        },
    )
    started = time.monotonic()
    with contextlib.suppress(TransportError):  # the error is the expected end; its time is the figure
        transport.run("true", timeout=60)
    given_up = time.monotonic() - started
    transport.close()
    listener.close()
    return given_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="commands per median")
    args = parser.parse_args()
    fleet = create_fleet(create_account())
    try:
        (server,) = fleet.start(1)
        transport = ssh_transport("web1", fleet.hostvars(server, fleet.known_hosts([server])))
        try:
            transport.run("true", timeout=5)  # connect first: only commands are timed
            ours = median_command_time(transport, args.runs)
            sock = transport._transport().sock
            assert isinstance(sock, socket.socket)  # a direct connection, not a ProxyJump channel
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            with_nagle = median_command_time(transport, args.runs)
        finally:
            transport.close()
    finally:
        fleet.stop_all()
        shutil.rmtree(fleet.root, ignore_errors=True)
    print(f"median of {args.runs} `true` commands: {ours * 1000:.1f} ms with TCP_NODELAY")
    print(f"                              {with_nagle * 1000:.1f} ms with Nagle's algorithm")
    print(f"saved per command: {(with_nagle - ours) * 1000:.1f} ms (target: at least 20 ms)")
    given_up = give_up_time(1)
    print(f"a host that never answers, connect timeout 1 s: given up after {given_up:.2f} s (target: < 5 s)")


if __name__ == "__main__":
    main()
