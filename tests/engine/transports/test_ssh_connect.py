"""Reaching a host: keys, host keys, unreachable hosts, jump hosts, the ssh config."""

from __future__ import annotations

import gc
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import paramiko
import pytest

from engine.errors import TransportError
from engine.transports.ssh import ssh_transport
from tests.servers.sshd import SSHFleet, SSHServer, free_port


def run_on(hostvars: dict[str, object], name: str = "target") -> str:
    transport = ssh_transport(name, hostvars)
    try:
        return transport.run("echo reached", timeout=10).stdout
    finally:
        transport.close()


def test_wrong_key_is_refused_as_a_transport_error(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    hostvars = ssh_fleet.hostvars(
        ssh_host, ssh_fleet.known_hosts([ssh_host]), ansible_ssh_private_key_file=str(ssh_fleet.other_key)
    )
    with pytest.raises(TransportError, match=r"authentication as remediate-test .* failed"):
        run_on(hostvars)


def test_unknown_host_key_is_refused_with_how_to_accept_it(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    empty = ssh_fleet.root / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(TransportError) as caught:
        run_on(ssh_fleet.hostvars(ssh_host, empty))
    message = str(caught.value)
    assert "is not known" in message and "SHA256:" in message
    assert f"ssh-keyscan -p {ssh_host.port} {ssh_host.address} >> ~/.ssh/known_hosts" in message
    assert empty.read_text() == ""  # nothing was added silently


def test_changed_host_key_is_refused_as_a_possible_attack(ssh_fleet: SSHFleet) -> None:
    victim, impostor = ssh_fleet.start(2)
    # The known key of the victim's address is the impostor's key.
    line = impostor.known_hosts_line().replace(
        f"[{impostor.address}]:{impostor.port}", f"[{victim.address}]:{victim.port}"
    )
    known = ssh_fleet.root / "changed_known_hosts"
    known.write_text(line)
    with pytest.raises(TransportError) as caught:
        run_on(ssh_fleet.hostvars(victim, known))
    assert "has CHANGED" in str(caught.value)
    assert f"ssh-keygen -R '[{victim.address}]:{victim.port}'" in str(caught.value)
    assert victim.accepted_logins() == 0


def test_hashed_known_hosts_entries_are_honoured(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    import subprocess

    known = ssh_fleet.known_hosts([ssh_host], name="hashed_known_hosts")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    assert ssh_host.address not in known.read_text()
    assert run_on(ssh_fleet.hostvars(ssh_host, known)) == "reached\n"


def test_closed_port_is_unreachable_and_fails_fast_for_the_rest_of_the_run(
    ssh_fleet: SSHFleet,
) -> None:
    address = "127.0.0.250"
    hostvars = {
        "ansible_host": address,
        "ansible_port": free_port(address),
        "remediate_ssh_config": "/dev/null",
        "remediate_ssh_agent": False,
    }
    transport = ssh_transport("down", hostvars)
    with pytest.raises(TransportError, match=r"down: cannot connect to 127\.0\.0\.250:\d+"):
        transport.run("true", timeout=5)
    with pytest.raises(TransportError, match="cannot connect"):
        transport.local_endpoint("127.0.0.1", 5432)
    transport.close()


class SilentServer(NamedTuple):
    """A hung host: its address and the connections it accepted and holds open."""

    address: str
    port: int
    held: list[socket.socket]

    def hung_up_by_client(self) -> bytes:
        """What the one client sent before closing its end itself; fails if it never does."""
        (conn,) = self.held
        conn.settimeout(30)  # a guard against a client that never gives up, not a speed bound
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
        return received


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A TCP server that accepts connections and never says a word (a hung host)."""
    listener = socket.socket()
    listener.bind(("127.0.0.251", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    address, port = listener.getsockname()
    yield SilentServer(address, port, held)
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_host_that_never_answers_is_given_up_by_the_client_at_the_connect_timeout(
    silent_server: SilentServer,
) -> None:
    # How soon it gives up is a figure of bench/ssh_latency.py (a wall-clock bound here failed
    # on a busy machine); here, that the attempt ends by the client's own connect timeout: the
    # server holds the connection open and never answers, the client hangs up.
    transport = ssh_transport(
        "hung",
        {
            "ansible_host": silent_server.address,
            "ansible_port": silent_server.port,
            "remediate_ssh_connect_timeout": 1,
            "remediate_ssh_config": "/dev/null",
            "remediate_ssh_agent": False,
        },
    )
    where = re.escape(f"@{silent_server.address}:{silent_server.port}")
    with pytest.raises(TransportError, match=rf"^hung: SSH to \S+{where} failed: "):
        transport.run("true", timeout=30)
    assert silent_server.hung_up_by_client().startswith(b"SSH-2.0-")  # said hello, then gave up
    transport.close()


def test_proxy_jump_reaches_the_host_through_the_jump_host(ssh_fleet: SSHFleet) -> None:
    jump, target = ssh_fleet.start(2)
    known = ssh_fleet.known_hosts([jump, target], name="jump_known_hosts")
    user = ssh_fleet.account[0]
    hostvars = ssh_fleet.hostvars(
        target,
        known,
        ansible_ssh_common_args=f"-o ProxyJump={user}@{jump.address}:{jump.port} -o Foo=bar",
    )
    assert run_on(hostvars) == "reached\n"
    assert (jump.accepted_logins(), target.accepted_logins()) == (1, 1)
    jump.stop()
    try:
        with pytest.raises(TransportError, match=f"cannot connect to {jump.address}"):
            run_on(hostvars)
    finally:
        jump.start()


def test_ssh_config_gives_address_port_user_key_and_proxy_jump(ssh_fleet: SSHFleet, tmp_path: Path) -> None:
    jump, target = ssh_fleet.start(2)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host bastion\n  HostName {jump.address}\n  Port {jump.port}\n"
        f"  User {ssh_fleet.account[0]}\n  IdentityFile {ssh_fleet.client_key}\n"
        f"Host app-*\n  HostName {target.address}\n  Port {target.port}\n"
        f"  User {ssh_fleet.account[0]}\n  IdentityFile {ssh_fleet.client_key}\n"
        "  ProxyJump bastion\n"
    )
    known = ssh_fleet.known_hosts([jump, target], name="config_known_hosts")
    hostvars = {
        "remediate_ssh_config": str(config),
        "remediate_known_hosts": str(known),
        "remediate_ssh_agent": False,
        "remediate_ssh_look_for_keys": False,
    }
    assert run_on(hostvars, name="app-1") == "reached\n"
    assert (jump.accepted_logins(), target.accepted_logins()) == (1, 1)


def test_inventory_variables_win_over_the_ssh_config(
    ssh_fleet: SSHFleet, ssh_host: SSHServer, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host {ssh_host.address}\n  Port 1\n  User nobody\n")
    hostvars = ssh_fleet.hostvars(
        ssh_host, ssh_fleet.known_hosts([ssh_host]), remediate_ssh_config=str(config)
    )
    assert run_on(hostvars) == "reached\n"


def test_one_unreachable_host_does_not_hold_up_the_others(ssh_fleet: SSHFleet) -> None:
    from concurrent.futures import ThreadPoolExecutor

    up = ssh_fleet.start(3)
    known = ssh_fleet.known_hosts(up, name="mixed_known_hosts")
    fleet = {f"up{i}": ssh_fleet.hostvars(s, known) for i, s in enumerate(up)}
    fleet["down"] = {
        "ansible_host": "127.0.0.250",
        "ansible_port": free_port("127.0.0.250"),
        "remediate_ssh_config": "/dev/null",
        "remediate_ssh_agent": False,
    }

    def probe(name: str) -> str:
        try:
            return run_on(fleet[name], name).strip()
        except TransportError:
            return "error"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = dict(zip(fleet, pool.map(probe, fleet), strict=True))
    assert outcomes == {"up0": "reached", "up1": "reached", "up2": "reached", "down": "error"}


@pytest.fixture
def ssh_agent(ssh_fleet: SSHFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A running ssh-agent holding the client key, announced in SSH_AUTH_SOCK."""
    import subprocess

    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not Path(sock).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    env = {"SSH_AUTH_SOCK": sock, "PATH": "/usr/bin:/bin"}
    subprocess.run(["ssh-add", str(ssh_fleet.client_key)], env=env, check=True, capture_output=True)
    monkeypatch.setenv("SSH_AUTH_SOCK", sock)
    yield sock
    agent.terminate()
    agent.wait()


def test_key_from_the_ssh_agent_logs_in(ssh_fleet: SSHFleet, ssh_host: SSHServer, ssh_agent: str) -> None:
    hostvars = ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host]), remediate_ssh_agent=True)
    del hostvars["ansible_ssh_private_key_file"]
    assert run_on(hostvars) == "reached\n"


def test_agent_is_not_asked_when_disabled(ssh_fleet: SSHFleet, ssh_host: SSHServer, ssh_agent: str) -> None:
    hostvars = ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host]))
    del hostvars["ansible_ssh_private_key_file"]
    with pytest.raises(TransportError, match="authentication"):
        run_on(hostvars)


def test_dropped_connection_is_reopened_on_next_use(ssh_fleet: SSHFleet) -> None:
    (server,) = ssh_fleet.start()
    transport = ssh_transport("flaky", ssh_fleet.hostvars(server, ssh_fleet.known_hosts([server])))
    try:
        assert transport.run("echo one", timeout=5).stdout == "one\n"
        server.stop()  # the host goes down with the connection, and comes back
        server.start()
        assert transport.run("echo two", timeout=5).stdout == "two\n"
        assert transport.connections_opened == 2
    finally:
        transport.close()


def test_match_exec_lines_of_the_ssh_config_are_evaluated(
    ssh_fleet: SSHFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paramiko runs the exec command through invoke, which forwards our stdin to it.
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115
    (target,) = ssh_fleet.start(1)
    config = tmp_path / "ssh_config"
    config.write_text(
        f'Match host app-exec exec "test -d {tmp_path}"\n  HostName {target.address}\n  Port {target.port}\n'
        f"  User {ssh_fleet.account[0]}\n  IdentityFile {ssh_fleet.client_key}\n"
    )
    hostvars = {
        "remediate_ssh_config": str(config),
        "remediate_known_hosts": str(ssh_fleet.known_hosts([target], name="exec_known_hosts")),
        "remediate_ssh_agent": False,
        "remediate_ssh_look_for_keys": False,
    }
    assert run_on(hostvars, name="app-exec") == "reached\n"


def key_of(server: SSHServer) -> str:
    """``keytype base64`` of a server's host key, from its known_hosts line."""
    return server.known_hosts_line().split(None, 1)[1].strip()


def test_cert_authority_and_revoked_lines_of_other_keys_do_not_fail_the_host(ssh_fleet: SSHFleet) -> None:
    host, other = ssh_fleet.start(2)
    known = ssh_fleet.root / "marker_known_hosts"
    known.write_text(
        f"@cert-authority *.example.com {key_of(other)}\n"
        f"@revoked * {key_of(other)}\n"
        "@cert-authority * ssh-ed25519 not-base64!\n"
        + host.known_hosts_line()
    )
    assert run_on(ssh_fleet.hostvars(host, known)) == "reached\n"


def test_a_revoked_key_is_refused_even_when_a_line_lists_it(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    known = ssh_fleet.root / "revoked_known_hosts"
    known.write_text(ssh_host.known_hosts_line().rstrip("\n") + f"\n@revoked * {key_of(ssh_host)}\n")
    logins = ssh_host.accepted_logins()
    with pytest.raises(TransportError, match=rf"is REVOKED \({known}:2\); refusing to connect"):
        run_on(ssh_fleet.hostvars(ssh_host, known))
    assert ssh_host.accepted_logins() == logins


def test_wildcard_host_patterns_are_honoured_as_openssh_does(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    first, _ = ssh_host.address.rsplit(".", 1)
    known = ssh_fleet.root / "wildcard_known_hosts"
    known.write_text(f"[{first}.*]:{ssh_host.port} {key_of(ssh_host)}\n")
    assert run_on(ssh_fleet.hostvars(ssh_host, known)) == "reached\n"


def test_a_negated_pattern_excludes_the_host_from_a_wildcard_line(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    first, _ = ssh_host.address.rsplit(".", 1)
    known = ssh_fleet.root / "negated_known_hosts"
    known.write_text(
        f"[{first}.*]:{ssh_host.port},![{ssh_host.address}]:{ssh_host.port} {key_of(ssh_host)}\n"
    )
    with pytest.raises(TransportError, match="is not known"):
        run_on(ssh_fleet.hostvars(ssh_host, known))


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"}, "StrictHostKeyChecking=no in ansible_ssh_common_args"),
        ({"ansible_host_key_checking": False}, "ansible_host_key_checking: false"),
    ],
)
def test_turning_host_key_checking_off_is_ignored_and_the_refusal_says_so(
    ssh_fleet: SSHFleet, ssh_host: SSHServer, setting: dict[str, object], named: str
) -> None:
    empty = ssh_fleet.root / "no_known_hosts"
    empty.write_text("")
    with pytest.raises(TransportError) as caught:
        run_on({**ssh_fleet.hostvars(ssh_host, empty), **setting})
    assert "is not known" in str(caught.value)
    assert f"{named} was ignored: remediate always verifies host keys" in str(caught.value)


def test_an_idle_open_connection_wakes_its_reader_at_most_every_idle_wake_seconds(
    ssh_fleet: SSHFleet, ssh_host: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A daemon or worker keeps hundreds of connections open between ticks: paramiko's
    # reader thread polling every 0.1 s cost ~0.5 ms of CPU per connection and second.
    from engine.transports.ssh import connection

    transport = ssh_transport("target", ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host])))
    try:
        assert transport.run("true", timeout=10).exit_code == 0
        wakes = 0
        receive = connection._LeanSocket.recv

        def counted(sock: socket.socket, size: int, flags: int = 0) -> bytes:
            nonlocal wakes
            wakes += 1
            return receive(sock, size, flags)  # type: ignore[arg-type]

        monkeypatch.setattr(connection._LeanSocket, "recv", counted)
        time.sleep(2 * connection.IDLE_WAKE + 0.5)
        assert wakes <= 5  # paramiko's own 0.1 s poll: ~45
    finally:
        transport.close()


def test_closing_a_connection_ends_its_reader_thread_at_once(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    transport = ssh_transport("target", ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host])))
    assert transport.run("true", timeout=10).exit_code == 0
    reader = transport._clients[-1].get_transport()
    assert reader is not None and reader.is_alive()
    started = time.monotonic()
    transport.close()
    reader.join(5)
    assert not reader.is_alive()
    assert time.monotonic() - started < 0.5  # not IDLE_WAKE seconds later


def test_a_closed_connection_is_freed_without_waiting_for_a_garbage_collection(
    ssh_fleet: SSHFleet, ssh_host: SSHServer
) -> None:
    # At hundreds of hosts full collections are rare: cyclic garbage of closed connections
    # stayed resident and raised a fleet run's peak memory.
    transport = ssh_transport("target", ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host])))
    assert transport.run("true", timeout=10).exit_code == 0
    client = transport._clients[-1]
    paramiko_transport = client.get_transport()
    assert paramiko_transport is not None
    freed = [weakref.ref(paramiko_transport), weakref.ref(paramiko_transport.packetizer), weakref.ref(client)]
    del client, paramiko_transport
    gc.disable()
    try:
        transport.close()
        assert [ref() is None for ref in freed] == [True, True, True]
    finally:
        gc.enable()


def test_connecting_starts_no_thread_to_time_the_key_exchange(ssh_fleet: SSHFleet, ssh_host: SSHServer) -> None:
    # paramiko times the exchange with a threading.Timer per connection: one more thread per
    # host while a fleet connects.
    started: list[str] = []
    start = threading.Thread.start

    def recorded(thread: threading.Thread) -> None:
        started.append(type(thread).__name__)
        start(thread)

    transport = ssh_transport("target", ssh_fleet.hostvars(ssh_host, ssh_fleet.known_hosts([ssh_host])))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(threading.Thread, "start", recorded)
            assert transport.run("true", timeout=10).exit_code == 0
    finally:
        transport.close()
    assert "Timer" not in started and started  # the reader thread was started


def test_the_key_exchange_times_out_after_its_timeout_unless_complete_and_only_the_first_is_timed() -> None:
    from engine.transports.ssh.connection import _LeanPacketizer

    with socket.socket() as sock:
        late, done = _LeanPacketizer(sock), _LeanPacketizer(sock)
        for packetizer in (late, done):
            assert not packetizer.handshake_timed_out()  # not started
            packetizer.start_handshake(0.05)
        done.complete_handshake()
        time.sleep(0.1)
        assert late.handshake_timed_out() and not done.handshake_timed_out()
        done.start_handshake(0.0)  # a later exchange (a rekey) is not timed, as in paramiko
        time.sleep(0.01)
        assert not done.handshake_timed_out()


def test_a_hosts_known_keys_keep_the_first_type_first_and_the_last_key_of_a_type() -> None:
    from engine.transports.ssh.host_keys import _HostKeys

    first, second, newer = (paramiko.ECDSAKey.generate() for _ in range(3))
    known = _HostKeys()
    known.add("[h]:22", "ssh-ed25519", first)
    known.add("[h]:22", "ecdsa-sha2-nistp256", second)
    known.add("[h]:22", "ssh-ed25519", newer)
    found = known.get("[h]:22")
    assert found is not None and found.keys() == ["ssh-ed25519", "ecdsa-sha2-nistp256"]
    assert found.get("ssh-ed25519") is newer
    assert known.get("[other]:22") is None
