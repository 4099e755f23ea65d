"""Commands run on a remote host over SSH (a real sshd on a loopback address)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.clients.sizes import OUTPUT_HEAD, OUTPUT_TAIL
from engine.errors import TransportError
from engine.secrets.redact import REDACTOR
from engine.transports.pool import TransportPool
from engine.transports.ssh import SSHTransport, ssh_transport
from tests.servers.sshd import SSHFleet, SSHServer


@pytest.fixture
def transport(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> Iterator[SSHTransport]:
    known = ssh_fleet.known_hosts([ssh_host])
    ssh = ssh_transport("web1", ssh_fleet.hostvars(ssh_host, known))
    yield ssh
    ssh.close()


def test_command_reports_exit_code_stdout_and_stderr(transport: SSHTransport) -> None:
    result = transport.run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.timed_out and not result.succeeded


def test_command_runs_as_the_inventory_user_on_the_host(transport: SSHTransport, ssh_fleet: SSHFleet) -> None:
    result = transport.run("id -un", timeout=10)
    assert result.stdout.strip() == ssh_fleet.account[0]


def test_argument_vector_reaches_the_host_unchanged(transport: SSHTransport) -> None:
    result = transport.run(["printf", "%s|", "two words", "$HOME", "it's", "*"], timeout=10)
    assert result.stdout == "two words|$HOME|it's|*|"


def test_stdin_and_environment_reach_the_command(transport: SSHTransport) -> None:
    result = transport.run(
        'printf "%s:" "$GREETING"; cat', timeout=10, env={"GREETING": "hello 'world'"}, stdin="from stdin"
    )
    assert result.stdout == "hello 'world':from stdin"


def test_command_without_stdin_reads_end_of_file(transport: SSHTransport) -> None:
    result = transport.run("cat; echo done", timeout=5)
    assert result.stdout == "done\n" and not result.timed_out


@pytest.mark.timeout(60)  # a guard against a hang, not a speed bound
def test_hanging_command_and_its_children_are_killed_at_the_timeout(
    transport: SSHTransport,
) -> None:
    marker = str(time.time_ns() % 10**6)  # makes the sleep arguments unique
    started = time.monotonic()
    result = transport.run(f"sleep 300.{marker} & sleep 301.{marker}; echo never", timeout=1)
    # killed by the timeout (not ended by itself, which would take 300 s): timed_out, SIGKILL
    assert result.timed_out and result.exit_code == -9
    assert time.monotonic() - started >= 1
    leftovers = transport.run(f"pgrep -f 'sleep 30[01].{marker}' || true", timeout=5)
    assert leftovers.stdout == ""


@pytest.mark.timeout(60)
def test_long_output_keeps_a_bounded_head_and_tail_of_each_stream(transport: SSHTransport) -> None:
    size = 20 * 1024 * 1024
    result = transport.run(
        f"head -c {size} /dev/zero | tr '\\0' o; head -c {size} /dev/zero | tr '\\0' e >&2", timeout=50
    )
    for stream, letter in ((result.stdout, "o"), (result.stderr, "e")):
        assert len(stream) <= OUTPUT_HEAD + OUTPUT_TAIL + 64
        assert f"\n[... {size - OUTPUT_HEAD - OUTPUT_TAIL} bytes dropped ...]\n" in stream
        assert stream.endswith(letter * OUTPUT_TAIL)


def test_both_streams_of_a_command_are_read_by_the_calling_thread_alone(
    transport: SSHTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread per command reading stderr was one more thread per host in flight.
    transport.run("true", timeout=10)  # connected: its reader thread runs already
    caller, started = threading.current_thread(), []
    start = threading.Thread.start

    def recorded(thread: threading.Thread) -> None:
        if threading.current_thread() is caller:  # the session's servers start threads too
            started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recorded)
    # Interleaved, each more than a channel window (2 MB), so neither stream may wait.
    result = transport.run(
        "for i in 1 2 3; do head -c 3000000 /dev/zero | tr '\\0' o; head -c 3000000 /dev/zero | tr '\\0' e >&2; done",
        timeout=50,
    )
    assert started == []
    assert result.exit_code == 0 and result.stdout.endswith("o" * 100) and result.stderr.endswith("e" * 100)


def test_a_command_is_read_while_the_process_holds_more_than_1024_descriptors(
    transport: SSHTransport, many_descriptors: None
) -> None:
    # A fleet's process does (a socket per connection): select() cannot watch those.
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        result = transport.run("echo out; echo err >&2", timeout=10)
    finally:
        for descriptor in filler:
            os.close(descriptor)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_factory_does_not_connect(ssh_fleet: SSHFleet) -> None:
    (server,) = ssh_fleet.start()
    transport = ssh_transport("lazy", ssh_fleet.hostvars(server, ssh_fleet.known_hosts([server])))
    assert server.accepted_logins() == 0
    transport.run("true", timeout=5)
    assert server.accepted_logins() == 1
    transport.close()


def test_pool_gives_ssh_transport_for_ssh_paramiko_and_smart(
    ssh_fleet: SSHFleet, ssh_host: SSHServer
) -> None:
    known = ssh_fleet.known_hosts([ssh_host])
    hostvars = {
        name: ssh_fleet.hostvars(ssh_host, known, ansible_connection=name)
        for name in ("ssh", "paramiko", "smart")
    }
    pool = TransportPool(hostvars)
    try:
        assert all(isinstance(pool.get(name), SSHTransport) for name in hostvars)
        assert pool.get("smart").run("echo ok", timeout=5).stdout == "ok\n"
    finally:
        pool.close()


def test_one_connection_carries_every_command_and_forward(ssh_fleet: SSHFleet) -> None:
    (server,) = ssh_fleet.start()
    transport = ssh_transport("busy", ssh_fleet.hostvars(server, ssh_fleet.known_hosts([server])))
    try:
        # Bursts of short commands: an EOF sent on a channel the server had already freed
        # once made OpenSSH drop the connection, and every command on it (about one burst
        # in two).
        for _ in range(5):
            with ThreadPoolExecutor(max_workers=20) as pool:
                results = list(pool.map(lambda i: transport.run(f"echo {i}", timeout=10), range(40)))
            assert [r.stdout for r in results] == [f"{i}\n" for i in range(40)]
        endpoint = transport.local_endpoint(server.address, server.port)
        with socket.create_connection(endpoint, timeout=5) as sock:
            assert sock.makefile("rb").read(4) == b"SSH-"  # the host's own sshd, forwarded
        assert server.accepted_logins() == 1
    finally:
        transport.close()
    assert transport.connections_opened == 1


def test_socket_disables_nagle_so_small_requests_do_not_wait(transport: SSHTransport) -> None:
    transport.run("true", timeout=5)
    paramiko_transport = transport._transport()
    assert paramiko_transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_connections_use_aes_gcm_when_the_server_offers_it(transport: SSHTransport) -> None:
    # paramiko would pick AES-CTR with an HMAC it checks in pure Python, packet by packet.
    transport.run("true", timeout=5)
    ssh = transport._transport()
    assert (ssh.local_cipher, ssh.remote_cipher) == ("aes128-gcm@openssh.com", "aes128-gcm@openssh.com")


def test_sudo_runs_the_command_as_root_with_the_password_from_the_environment(
    ssh_fleet: SSHFleet, ssh_host: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATE_TEST_SUDO", ssh_fleet.account[1])
    hostvars = ssh_fleet.hostvars(
        ssh_host, ssh_fleet.known_hosts([ssh_host]), remediate_become_password_env="REMEDIATE_TEST_SUDO"
    )
    transport = ssh_transport("sudo", hostvars)
    try:
        result = transport.run("id -u; cat", timeout=10, sudo=True, stdin="input")
        assert (result.exit_code, result.stdout) == (0, "0\ninput")
        assert ssh_fleet.account[1] not in result.stdout + result.stderr
        assert transport.run("id -u", timeout=10).stdout == f"{_uid(transport)}\n"
    finally:
        transport.close()
    assert REDACTOR.text(ssh_fleet.account[1]) == "***"


def _uid(transport: SSHTransport) -> str:
    return transport.run("id -u", timeout=5).stdout.strip()


def test_sudo_password_from_a_file(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    secret = ssh_fleet.root / "sudo-password"
    secret.write_text(ssh_fleet.account[1] + "\n")
    hostvars = ssh_fleet.hostvars(
        ssh_host,
        ssh_fleet.known_hosts([ssh_host]),
        ansible_become=True,
        ansible_become_user="root",
        remediate_become_password_file=str(secret),
    )
    transport = ssh_transport("become", hostvars)
    try:
        # ansible_become: every command goes through sudo, without asking for it.
        assert transport.run("id -un", timeout=10).stdout == "root\n"
    finally:
        transport.close()


def test_sudo_with_a_wrong_password_is_a_transport_error_that_does_not_echo_it(
    ssh_fleet: SSHFleet, ssh_host: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATE_TEST_SUDO_WRONG", "not-the-password")
    hostvars = ssh_fleet.hostvars(
        ssh_host, ssh_fleet.known_hosts([ssh_host]), remediate_become_password_env="REMEDIATE_TEST_SUDO_WRONG"
    )
    transport = ssh_transport("sudo", hostvars)
    try:
        with pytest.raises(TransportError, match="refused the password") as caught:
            transport.run("touch /tmp/remediate-sudo-must-not-run", timeout=10, sudo=True)
    finally:
        transport.close()
    assert "not-the-password" not in str(caught.value)
    assert not os.path.exists("/tmp/remediate-sudo-must-not-run")


def test_sudo_without_a_password_says_how_to_give_one(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    transport = ssh_transport("sudo", ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host])))
    try:
        with pytest.raises(TransportError, match="remediate_become_password_env"):
            transport.run("echo ran", timeout=10, sudo=True)
    finally:
        transport.close()
