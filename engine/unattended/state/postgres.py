"""A PostgreSQL state store, for several controllers sharing one history and one lock.
psycopg is imported only when this store is used."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from engine.errors import StateStoreError
from engine.secrets.redact import MASK, REDACTOR
from engine.unattended.locking import HostLock, LockOwner, advisory_key, advisory_lock
from engine.unattended.state.base import RECORD_RESULT_SQL, UPDATE_LATEST_SQL, SqlStateStore

_MIGRATION_KEY = advisory_key("remediate-schema-migration")
IDLE_LOCK_SESSIONS = 16
"""Lock sessions a store keeps open once released, for the next run's lock: opening one
costs a PostgreSQL backend (a process) and several round trips, per run; a worker or daemon
runs one per host group and tick."""


def _without_password(message: str, url: str) -> str:
    """`message` masked, and without the URL's password however the driver quoted it. The
    password is not registered with the process-wide redactor: a store opened and closed
    (a test, a daemon reload) would leave it masking that text for good."""
    from urllib.parse import unquote, urlsplit

    message = REDACTOR.text(message)
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        for form in {password, unquote(password or "")}:
            if form:
                message = message.replace(form, MASK)
    return message


class PostgresStateStore(SqlStateStore):
    """State in a PostgreSQL database given by a connection URL (postgresql://...)."""

    placeholder = "%s"
    dialect = {"id": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION"}

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.location = REDACTOR.text(url)
        self._lock_local = threading.Lock()
        self._idle_sessions: list[Any] = []
        self._closed = False
        try:
            self._db = self._connect("remediate")
        except Exception as exc:  # psycopg.Error, or a malformed URL
            raise StateStoreError(
                _without_password(f"cannot connect to the state store {self.location}: {exc}", url)
            ) from None
        self.migrate()

    def _connect(self, application_name: str) -> Any:
        import psycopg

        return psycopg.connect(
            self.url, autocommit=True, application_name=application_name, connect_timeout=10
        )

    def _connection(self) -> Any:
        return self._db

    def change_marker(self) -> object | None:
        # Every commit, of any session, writes the write-ahead log: its position moves with
        # any change (and with some that are not: then a reader only gathers again). A
        # standby replays it instead.
        # Both functions are open to every role by default; a server that revokes them only
        # loses the reuse (None), not the page.
        import psycopg

        try:
            rows = self._rows(
                "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                "ELSE pg_current_wal_lsn() END)::text"
            )
        except psycopg.errors.InsufficientPrivilege:
            return None
        return rows[0][0]

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        self._db.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_KEY,))
        try:
            yield
        finally:
            self._db.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_KEY,))

    def _atomic(self) -> Any:
        # psycopg opens a transaction, or a savepoint inside one already open.
        return self._db.transaction()

    def _write_outcome(self, result: Sequence[Any], latest: Sequence[Any]) -> None:
        # One statement (a data-modifying WITH runs once, read or not), atomic on its own:
        # one round trip per node instead of four (BEGIN, two inserts, COMMIT).
        self._execute(f"WITH recorded AS ({RECORD_RESULT_SQL}) {UPDATE_LATEST_SQL}", (*result, *latest))

    def lock(self, hosts: Sequence[str], owner: LockOwner) -> HostLock:
        return advisory_lock(self._lock_session, hosts, owner, self._lock_session_done)

    def _lock_session(self, application_name: str) -> Any:
        """An idle lock session named anew, or a new one when none is idle or the idle one
        is gone (the server restarted, or ended it)."""
        import psycopg

        while True:
            with self._lock_local:
                if not self._idle_sessions:
                    break
                connection = self._idle_sessions.pop()
            try:
                connection.execute("SELECT set_config('application_name', %s, false)", (application_name,))
                return connection
            except psycopg.Error:
                connection.close()
        return self._connect(application_name)

    def _lock_session_done(self, connection: Any) -> None:
        """Keep a released lock session (it holds no lock now) for the next lock."""
        with self._lock_local:
            if not self._closed and not connection.closed and len(self._idle_sessions) < IDLE_LOCK_SESSIONS:
                self._idle_sessions.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock_local:
            self._closed = True
            idle, self._idle_sessions = self._idle_sessions, []
        for connection in idle:
            connection.close()
        super().close()

    def session_lock(self, name: str, owner: str) -> HostLock | None:
        """The lock `name`, held by a session of its own until released or until this
        process dies (PostgreSQL ends the session's locks with its connection, even after
        kill -9); None when another session holds it. The fleet's leadership and a worker's
        liveness are such locks."""
        connection = self._connect(f"remediate {owner}"[:63])
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(name),)).fetchone()
        if not row[0]:
            connection.close()
            return None

        def release() -> None:
            try:
                connection.execute("SELECT pg_advisory_unlock_all()")
            finally:
                connection.close()

        return HostLock([release])

    def held_locks(self, names: Iterable[str]) -> set[str]:
        """Which of the locks `names` (as `session_lock` takes them) some session holds now."""
        wanted = {advisory_key(name) & 0xFFFFFFFFFFFFFFFF: name for name in names}
        rows = self._rows(
            "SELECT classid::bigint, objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        )
        found = {(int(high) << 32) | int(low) for high, low in rows}
        return {name for key, name in wanted.items() if key in found}
