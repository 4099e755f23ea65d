"""A real PostgreSQL server on a free loopback port, with password (scram) authentication.

One server per test session (initdb takes a second or two); tests may stop, break and
restart it: the `postgres_db` fixture starts it again before each test that uses it.
"""

from __future__ import annotations

import glob
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.net import free_port, wait_until

USER = "coffeestudio"
DBNAME = "coffeestudio"
PASSWORD_ENV = "REMEDIATE_TEST_PG_PASSWORD"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    """The running server and how to log in: user `coffeestudio`, database `coffeestudio`,
    password in the file `password_file` and the environment variable `PASSWORD_ENV`."""

    bindir: Path
    datadir: Path
    port: int
    password: str
    password_file: Path
    superuser_password: str

    host = "127.0.0.1"
    user = USER
    dbname = DBNAME
    password_env = PASSWORD_ENV

    def _as_owner(self, *argv: str) -> list[str]:
        # PostgreSQL refuses to run as root; the Debian package creates the `postgres` user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _start_argv(self) -> list[str]:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.datadir}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        return self._as_owner(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.datadir / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def start(self) -> None:
        subprocess.run(self._start_argv(), check=True, capture_output=True)

    def start_command(self) -> str:
        """The shell command that starts the server, for a playbook step."""
        return shlex.join(self._start_argv())

    def stop(self) -> None:
        subprocess.run(
            self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"),
            check=False,
            capture_output=True,
        )

    @property
    def running(self) -> bool:
        status = subprocess.run(
            self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"),
            capture_output=True,
        )
        return status.returncode == 0

    def superuser_sql(self, statement: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        """Run SQL as the superuser (test setup and assertions, not code under test)."""
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user="postgres",
            password=self.superuser_password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        ) as connection:
            cursor = connection.execute(statement.encode())
            return list(cursor.fetchall()) if cursor.description else []

    def url(self, *, password: bool = False) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{self.dbname}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed (scripts/install-system-deps.sh installs it)")
        pytest.skip("PostgreSQL is not installed (scripts/install-system-deps.sh installs it)")
    root = Path(tempfile.mkdtemp(prefix="remediate-stack-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    superuser_password = secrets.token_hex(12)
    superuser_pwfile = root / "superuser-password"
    superuser_pwfile.write_text(superuser_password + "\n")
    password = secrets.token_hex(12)
    password_file = root / "password"
    password_file.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(datadir, "postgres")
        shutil.chown(superuser_pwfile, "postgres")
    server = PostgresServer(bindir, datadir, free_port(), password, password_file, superuser_password)
    subprocess.run(
        server._as_owner(
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={superuser_pwfile}",
            "--no-sync",
            "--no-instructions",
        ),
        check=True,
        capture_output=True,
    )
    server.start()
    server.superuser_sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{password}'")
    server.superuser_sql(f"CREATE DATABASE {DBNAME} OWNER {USER}")
    os.environ[PASSWORD_ENV] = password
    try:
        yield server
    finally:
        server.stop()
        os.environ.pop(PASSWORD_ENV, None)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> PostgresServer:
    """The session's server, running (a previous test may have stopped it)."""
    if not postgres_server.running:
        postgres_server.start()
    wait_until(lambda: postgres_server.superuser_sql("SELECT 1"), 10, "PostgreSQL did not answer")
    return postgres_server
