"""A real PostgreSQL server for the state store tests: initdb + pg_ctl on a free loopback
port, run as the unprivileged `postgres` user (the tests run as root, and PostgreSQL refuses
to run as root). One server per session; each test gets an empty database of its own."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import free_port, wait_for_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--", *command]


class StatePostgres:
    def __init__(self, port: int) -> None:
        self.port = port
        self._numbers = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database; returns its URL."""
        import psycopg

        name = f"state_{os.getpid()}_{next(self._numbers)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_state_postgres() -> Iterator[StatePostgres]:
    """A PostgreSQL server for the length of the block (the fixture's, and the benchmarks');
    RuntimeError when it cannot be run here."""
    binaries = _binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise RuntimeError("setpriv is needed to run PostgreSQL as an unprivileged user")
    root = Path(tempfile.mkdtemp(prefix="state-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    subprocess.run(
        _as_postgres(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        wait_for_port(port)
        yield StatePostgres(port)
    finally:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def state_postgres() -> Iterator[StatePostgres]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_state_postgres())
        except RuntimeError as exc:
            pytest.skip(str(exc))
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's state lives: a fresh SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "state.db")
    server: StatePostgres = request.getfixturevalue("state_postgres")
    return server.new_database()
