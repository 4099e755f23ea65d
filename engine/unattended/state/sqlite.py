"""The embedded default state store: one SQLite file in WAL mode, created on first use."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.errors import StateStoreError
from engine.unattended.locking import HostLock, LockOwner, file_lock
from engine.unattended.state.base import SqlStateStore


class SqliteStateStore(SqlStateStore):
    """State in a SQLite file. WAL lets a reader (`remediate status`) look while a run writes;
    every write is its own transaction, so a killed run leaves what it recorded, consistent."""

    dialect = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"}

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.location = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level=None): each statement commits, nothing waits on a
            # forgotten transaction; the store serialises threads itself.
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
        except (OSError, sqlite3.Error) as exc:
            raise StateStoreError(f"cannot open the state store {self.path}: {exc}") from exc
        self.migrate()

    def _connection(self) -> sqlite3.Connection:
        return self._db

    def change_marker(self) -> object | None:
        # data_version moves when another connection commits; total_changes counts this
        # connection's own writes.
        with self._mutex:
            (version,) = self._db.execute("PRAGMA data_version").fetchone()
            return (int(version), self._db.total_changes)

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock: two first runs do not both create the schema.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        # A savepoint: a transaction of its own, or nested in one already open.
        self._db.execute("SAVEPOINT atomic")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO atomic")
            self._db.execute("RELEASE atomic")
            raise
        self._db.execute("RELEASE atomic")

    @property
    def lock_directory(self) -> Path:
        return self.path.parent / (self.path.name + ".locks")

    def lock(self, hosts: Sequence[str], owner: LockOwner) -> HostLock:
        return file_lock(self.lock_directory, hosts, owner)
