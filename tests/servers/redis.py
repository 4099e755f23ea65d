"""A real redis-server on a free loopback port, with a password.

One server per session; tests may stop it: the `redis_db` fixture starts it again (empty)
before each test that uses it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers.net import free_port, wait_until

PASSWORD_ENV = "REMEDIATE_TEST_REDIS_PASSWORD"


@dataclass
class RedisServer:
    """A redis-server process; `url` has no password, which is in `password_file` and in the
    environment variable `PASSWORD_ENV`."""

    workdir: Path
    port: int
    password: str
    password_file: Path
    extra_args: list[str] = field(default_factory=list)
    ca_file: str | None = None
    """Set when the server listens with TLS only."""
    password_env: str = PASSWORD_ENV
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                *(["--port", "0", "--tls-port"] if self.ca_file else ["--port"]),
                str(self.port),
                "--requirepass",
                self.password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.client().ping(), 10, "redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        # A copy started by a playbook under test (start_command) runs daemonized.
        pidfile = self.workdir / "redis.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            pidfile.unlink()
            wait_until(lambda: not self._answers(), 5, "daemonized redis-server did not die")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def start_command(self) -> str:
        """A shell command that starts this server daemonized, as a playbook step would;
        the password stays in a config file, out of the command line and the logs."""
        config = self.workdir / "daemon.conf"
        config.write_text(
            f'bind 127.0.0.1\nport {self.port}\nrequirepass {self.password}\nsave ""\n'
            f"appendonly no\ndir {self.workdir}\ndaemonize yes\n"
            f"pidfile {self.workdir / 'redis.pid'}\nloglevel warning\n"
        )
        return f"{shutil.which('redis-server') or 'redis-server'} {config}"

    @property
    def running(self) -> bool:
        if self.process is None:
            return False
        return self.process.poll() is None

    def client(self):  # type: ignore[no-untyped-def]
        """A redis-py client for test setup and assertions."""
        import redis

        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": self.ca_file} if self.ca_file else {}
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            decode_responses=True,
            socket_timeout=5,
            **tls,
        )


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (scripts/install-system-deps.sh installs it)")
        pytest.skip("redis-server is not installed (scripts/install-system-deps.sh installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="remediate-stack-redis-"))
    password = secrets.token_hex(12)
    password_file = workdir / "password"
    password_file.write_text(password + "\n")
    server = RedisServer(workdir, free_port(), password, password_file)
    server.start()
    os.environ[PASSWORD_ENV] = password
    try:
        yield server
    finally:
        server.stop()
        os.environ.pop(PASSWORD_ENV, None)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_db(redis_server: RedisServer) -> RedisServer:
    """The session's server, running and empty."""
    if not redis_server.running:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    client.config_set("maxmemory", 0)
    client.close()
    return redis_server


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""

    def openssl(*argv: str) -> None:
        subprocess.run(["openssl", *argv], check=True, capture_output=True, cwd=directory)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
        "-out",
        "server.crt",
    )
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


@pytest.fixture(scope="session")
def redis_tls() -> Iterator[tuple[RedisServer, str]]:
    """A redis-server that speaks only TLS, and the CA file that verifies it."""
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        pytest.skip("needs redis-server and openssl")
    workdir = Path(tempfile.mkdtemp(prefix="remediate-stack-redis-tls-"))
    ca, cert, key = _certificates(workdir)
    password = secrets.token_hex(12)
    password_file = workdir / "password"
    password_file.write_text(password + "\n")
    server = RedisServer(
        workdir,
        free_port(),
        password,
        password_file,
        extra_args=[
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(ca),
            "--tls-auth-clients",
            "no",
        ],
        ca_file=str(ca),
        password_env="REMEDIATE_TEST_REDIS_TLS_PASSWORD",
    )
    server.start()
    os.environ[server.password_env] = password
    try:
        yield server, str(ca)
    finally:
        server.stop()
        os.environ.pop(server.password_env, None)
        shutil.rmtree(workdir, ignore_errors=True)
