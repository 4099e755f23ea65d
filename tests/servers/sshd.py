"""Real OpenSSH servers on loopback addresses, one per simulated host.

Each "host" is an sshd process on its own address in 127.0.0.0/8 (127.0.0.11, .12, ...;
Linux routes the whole block to the loopback interface), with its own generated host key
and config file, key-only authentication and ``LogLevel VERBOSE`` so that tests can count
the connections a host accepted. Clients get a generated key pair and a known_hosts file
that lists the hosts the test asked for.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
TEST_USER = "remediate-test"
"""The unprivileged account tests log in as (created by the `ssh_account` fixture): its
login shell is /bin/sh, so that a session costs what sshd costs, not what root's shell
startup files cost; it may sudo with its password."""


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _children(pid: int) -> list[int]:
    """The direct child processes of a process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The command name may hold spaces and parentheses: split after the last ')'.
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def free_port(address: str) -> int:
    """A TCP port nobody listens on at this address right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def wait_for_port(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.02)


@dataclass
class SSHServer:
    """One sshd process: a host of the simulated fleet."""

    address: str
    port: int
    workdir: Path
    authorized_keys: Path
    extra_config: str = ""
    log_level: str = "VERBOSE"
    process: subprocess.Popen[bytes] | None = None
    host_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.host_key = self.workdir / "ssh_host_ed25519_key"
        if not self.host_key.exists():
            _keygen(self.host_key)

    @property
    def log(self) -> Path:
        return self.workdir / "sshd.log"

    @property
    def config(self) -> Path:
        return self.workdir / "sshd_config"

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.config.write_text(
            f"ListenAddress {self.address}:{self.port}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.workdir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "UsePAM no\n"
            "StrictModes no\n"
            f"LogLevel {self.log_level}\n"
            "AllowTcpForwarding yes\n"
            "MaxStartups 200\n"
            "UseDNS no\n"
            f"{self.extra_config}"
        )
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.address, self.port)
        except OSError:
            raise RuntimeError(
                f"sshd on {self.address}:{self.port} did not start: {self.log.read_text()[-2000:]}"
            ) from None

    def stop(self) -> None:
        """Take the host down: the listener and every connection it serves (sshd's
        per-connection processes start their own sessions, so they are found by parent)."""
        if self.process is not None:
            for pid in [*_children(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def known_hosts_line(self) -> str:
        """This host's key as a known_hosts line (``[address]:port keytype key``)."""
        key = (self.workdir / "ssh_host_ed25519_key.pub").read_text().split()
        return f"[{self.address}]:{self.port} {key[0]} {key[1]}\n"

    def forwarded_to(self, port: int) -> int:
        """How many forwarded (direct-tcpip) connections to 127.0.0.1:port this server
        opened (needs ``log_level="DEBUG1"``)."""
        text = self.log.read_text(errors="replace")
        return text.count(f"target 127.0.0.1 port {port}")

    def accepted_logins(self) -> int:
        """How many connections this server authenticated so far."""
        return self.log.read_text(errors="replace").count("Accepted publickey for")


@dataclass
class SSHFleet:
    """Starts sshd hosts on demand; each knows the client's public key."""

    root: Path
    account: tuple[str, str]
    client_key: Path
    other_key: Path
    authorized_keys: Path
    servers: list[SSHServer] = field(default_factory=list)
    _started: int = 0

    def start(self, count: int = 1, extra_config: str = "", log_level: str = "VERBOSE") -> list[SSHServer]:
        """Start ``count`` new hosts on fresh addresses (127.0.0.11 and up); ``log_level``
        DEBUG1 makes sshd log every forwarded connection."""
        new: list[SSHServer] = []
        for _ in range(count):
            address = f"127.0.{self._started // 200}.{11 + self._started % 200}"
            self._started += 1
            workdir = self.root / address
            workdir.mkdir()
            new.append(
                SSHServer(address, free_port(address), workdir, self.authorized_keys, extra_config, log_level)
            )
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda s: s.start(), new))
        self.servers.extend(new)
        return new

    def known_hosts(self, servers: list[SSHServer], name: str = "known_hosts") -> Path:
        """A known_hosts file listing these hosts."""
        path = self.root / name
        path.write_text("".join(s.known_hosts_line() for s in servers))
        return path

    def hostvars(self, server: SSHServer, known_hosts: Path, **extra: object) -> dict[str, object]:
        """Inventory variables that reach this host as the test account with the client
        key."""
        return {
            "ansible_host": server.address,
            "ansible_port": server.port,
            "ansible_user": self.account[0],
            "ansible_ssh_private_key_file": str(self.client_key),
            "remediate_known_hosts": str(known_hosts),
            # The tests must not depend on the keys or ssh config of whoever runs them.
            "remediate_ssh_agent": False,
            "remediate_ssh_look_for_keys": False,
            "remediate_ssh_config": os.devnull,
            **extra,
        }

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def create_account() -> tuple[str, str]:
    """Create (or reset) the unprivileged test account, allowed to sudo with its password:
    (name, password). Needs root."""
    if shutil.which("sudo") is None:
        raise RuntimeError("sudo is missing: run scripts/install-system-deps.sh")
    password = "sudo-" + os.urandom(8).hex()
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", TEST_USER], check=True, capture_output=True
        )
    subprocess.run(["chpasswd"], input=f"{TEST_USER}:{password}", text=True, check=True, capture_output=True)
    sudoers = Path(f"/etc/sudoers.d/{TEST_USER}")
    sudoers.write_text(f"{TEST_USER} ALL=(ALL:ALL) ALL\n")
    sudoers.chmod(0o440)
    return TEST_USER, password


def remove_sudo_rule() -> None:
    Path(f"/etc/sudoers.d/{TEST_USER}").unlink(missing_ok=True)


def create_fleet(account: tuple[str, str]) -> SSHFleet:
    """Client keys in a fresh directory; hosts are started with `SSHFleet.start`."""
    if not os.path.exists(SSHD):
        raise RuntimeError("sshd is missing: run scripts/install-system-deps.sh")
    root = Path(tempfile.mkdtemp(prefix="remediate-sshd-"))
    root.chmod(0o755)  # the test account reads authorized_keys from here
    client_key, other_key = root / "client_ed25519", root / "other_ed25519"
    _keygen(client_key)
    _keygen(other_key)
    authorized = root / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o644)
    return SSHFleet(root, account, client_key, other_key, authorized)


@pytest.fixture(scope="session")
def ssh_account() -> Iterator[tuple[str, str]]:
    """The unprivileged test account, which may sudo with its password: (name, password)."""
    try:
        account = create_account()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield account
    finally:
        remove_sudo_rule()


@pytest.fixture(scope="session")
def ssh_fleet(ssh_account: tuple[str, str]) -> Iterator[SSHFleet]:
    """Session-wide: the client keys and every sshd started through it (stopped at the end)."""
    try:
        fleet = create_fleet(ssh_account)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield fleet
    finally:
        fleet.stop_all()
        shutil.rmtree(fleet.root, ignore_errors=True)


@pytest.fixture(scope="session")
def ssh_host(ssh_fleet: SSHFleet) -> SSHServer:
    """One shared host for tests that only read from it."""
    return ssh_fleet.start()[0]
