"""Services bound to a remote host's loopback, reached through its SSH connection.

The services run on this machine's 127.0.0.1; the sshd of the simulated host opens the
forwarded connections (its debug log names each one), so a pass proves that the bytes went
through the SSH connection, not straight to the service.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.transports.ssh import SSHTransport, ssh_transport
from tests.servers.sshd import SSHFleet, SSHServer, free_port

# A relay thread that dies with an exception (the connection closing under it) fails the test.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def _wait(predicate: object, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A redis-server bound to 127.0.0.1 only."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run scripts/install-system-deps.sh")
    port = free_port("127.0.0.1")
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(
        lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
        "redis-server did not start",
    )
    yield port
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def postgres_port() -> Iterator[int]:
    """A PostgreSQL server bound to 127.0.0.1 only (trust authentication)."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        pytest.fail("PostgreSQL is missing: run scripts/install-system-deps.sh")
    bindir = Path(initdb[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="remediate-ssh-pg-"))
    owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if owner:
        shutil.chown(root, "postgres")
    port = free_port("127.0.0.1")
    subprocess.run(
        [
            *owner,
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}"
    subprocess.run(
        [
            *owner,
            str(bindir / "pg_ctl"),
            "-D",
            str(root / "data"),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    yield port
    subprocess.run(
        [*owner, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
        capture_output=True,
    )
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def host(ssh_fleet: SSHFleet) -> SSHServer:
    return ssh_fleet.start(log_level="DEBUG1")[0]


@pytest.fixture
def transport(ssh_fleet: SSHFleet, host: SSHServer) -> Iterator[SSHTransport]:
    ssh = ssh_transport("db1", ssh_fleet.hostvars(host, ssh_fleet.known_hosts([host])))
    yield ssh
    ssh.close()


def test_redis_on_the_host_loopback_answers_through_a_local_endpoint(
    transport: SSHTransport, host: SSHServer, redis_port: int
) -> None:
    import redis

    before = host.forwarded_to(redis_port)
    address, port = transport.local_endpoint("127.0.0.1", redis_port)
    assert (address, port) != ("127.0.0.1", redis_port)
    client = redis.Redis(host=address, port=port, socket_timeout=5)
    assert client.ping() is True
    client.set("through", "ssh")
    assert client.get("through") == b"ssh"
    client.close()
    assert host.forwarded_to(redis_port) == before + 1


def test_postgres_on_the_host_loopback_answers_through_a_local_endpoint(
    transport: SSHTransport, host: SSHServer, postgres_port: int
) -> None:
    import psycopg

    before = host.forwarded_to(postgres_port)
    address, port = transport.local_endpoint("127.0.0.1", postgres_port)
    with psycopg.connect(
        host=address, port=port, user="postgres", dbname="postgres", connect_timeout=5
    ) as connection:
        assert connection.execute("SELECT 6 * 7").fetchone() == (42,)
    assert host.forwarded_to(postgres_port) == before + 1


def test_each_client_connection_gets_its_own_channel_on_one_listener(
    transport: SSHTransport, host: SSHServer, redis_port: int
) -> None:
    import redis

    before = host.forwarded_to(redis_port)
    first = transport.local_endpoint("127.0.0.1", redis_port)
    assert transport.local_endpoint("127.0.0.1", redis_port) == first
    clients = [redis.Redis(host=first[0], port=first[1], socket_timeout=5) for _ in range(3)]
    assert all(c.ping() for c in clients)
    for client in clients:
        client.close()
    assert host.forwarded_to(redis_port) == before + 3
    assert host.accepted_logins() >= 1 and transport.connections_opened == 1


def test_connect_tcp_speaks_to_a_service_on_the_host(transport: SSHTransport, redis_port: int) -> None:
    with transport.connect_tcp("127.0.0.1", redis_port, timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"


def test_connect_tcp_to_a_closed_port_on_the_host_is_refused(transport: SSHTransport) -> None:
    closed = free_port("127.0.0.1")
    with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1:{closed}"):
        transport.connect_tcp("127.0.0.1", closed, timeout=5)


def test_closed_transport_stops_forwarding(ssh_fleet: SSHFleet, host: SSHServer, redis_port: int) -> None:
    transport = ssh_transport("db1", ssh_fleet.hostvars(host, ssh_fleet.known_hosts([host])))
    endpoint = transport.local_endpoint("127.0.0.1", redis_port)
    transport.close()
    with pytest.raises(OSError):
        socket.create_connection(endpoint, timeout=2).close()


@pytest.mark.docker
def test_docker_engine_of_the_host_is_reached_over_the_same_connection(
    ssh_fleet: SSHFleet, host: SSHServer
) -> None:
    import docker

    # The Docker socket belongs to root; log in as root for this one.
    hostvars = ssh_fleet.hostvars(host, ssh_fleet.known_hosts([host]), ansible_user="root")
    transport = ssh_transport("docker1", hostvars)
    try:
        logins_before = host.accepted_logins()
        base_url = transport.docker_base_url()
        assert base_url.startswith("unix://")
        assert os.stat(Path(base_url.removeprefix("unix://")).parent).st_mode & 0o077 == 0
        client = docker.DockerClient(base_url=base_url, timeout=20)
        assert client.ping() is True
        assert client.version()["ApiVersion"]
        client.close()
        assert host.accepted_logins() == logins_before + 1  # one login, however many calls
        assert transport.connections_opened == 1
    finally:
        transport.close()


def test_relay_of_a_command_is_not_stalled_by_what_it_writes_to_stderr(
    transport: SSHTransport,
) -> None:
    # docker_base_url relays `docker system dial-stdio` like this; a chatty stderr must not
    # leave the relay waiting for stdout while the client's request sits unsent.
    import threading

    from engine.transports.ssh import _relay

    channel = transport._channel("session")
    channel.exec_command("echo noise >&2; sleep 0.3; head -c 5")
    ours, theirs = socket.socketpair()
    threading.Thread(target=_relay, args=(theirs, channel), daemon=True).start()
    time.sleep(0.2)  # the stderr line is there before any request
    ours.settimeout(5)
    ours.sendall(b"hello")
    assert ours.makefile("rb").read(5) == b"hello"
    ours.close()
