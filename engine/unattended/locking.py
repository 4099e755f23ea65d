"""The run lock: two runs never act on the same host at once.

Scope: one lock per host of the plan, taken in sorted order without waiting. A run whose
hosts overlap a running one exits at once (exit status 3), naming the holder. With the
SQLite store the locks are files beside the state (`filelock`'s descriptor locks, released by
the kernel when the holder dies, even by kill -9); with PostgreSQL they are session advisory
locks, so that controllers on different machines sharing one database exclude each other too.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.errors import LockHeld, StateStoreError


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or wants) a lock, for the message the other run prints."""

    run_id: str
    pid: int = field(default_factory=os.getpid)
    controller: str = field(default_factory=socket.gethostname)

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.controller})"


class HostLock:
    """Held locks; release once (also as a context manager)."""

    def __init__(self, releases: list[Callable[[], None]]) -> None:
        self._releases = releases

    def release(self) -> None:
        while self._releases:
            self._releases.pop()()

    def __enter__(self) -> HostLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def _safe_name(host: str) -> str:
    """A file name for a host (any characters), readable when it can be."""
    readable = "".join(c if c.isalnum() or c in "._-" else "_" for c in host)[:60]
    return f"{readable}-{hashlib.sha256(host.encode()).hexdigest()[:8]}"


def file_lock(directory: Path, hosts: Sequence[str], owner: LockOwner) -> HostLock:
    """Lock files `directory/<host>.lock`, each saying who holds it while it is held.

    The owner is written into the locked file itself (one file, one descriptor per host:
    at 500 hosts a lock file and an owner file beside it took a third of a second of every
    run's start). The file is opened without truncating it, so a run that meets the lock
    reads the holder's name from it; the holder empties it before it lets go."""
    from filelock import lock_descriptor

    directory.mkdir(parents=True, exist_ok=True)
    releases: list[Callable[[], None]] = []
    held = HostLock(releases)
    record = json.dumps(asdict(owner)).encode()
    for host in sorted(set(hosts)):
        fd = _open_lock_file(directory / f"{_safe_name(host)}.lock", held)
        try:
            if not lock_descriptor(fd, blocking=False):
                raise LockHeld(host, _read_owner(fd))
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
        except BaseException:  # the hosts taken so far are let go as well
            os.close(fd)
            held.release()
            raise
        releases.append(_releasing(fd))
    return held


LOCK_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
"""A lock file is opened as itself, never through a symbolic link: its holder empties and
writes it, and as root that must not reach a file the link points to."""


def _open_lock_file(path: Path, held: HostLock) -> int:
    """The lock file's descriptor; when it cannot be opened, the hosts taken so far are
    let go and the error names the file."""
    try:
        return os.open(path, LOCK_FILE_FLAGS, 0o644)
    except OSError as exc:
        held.release()
        why = "a symbolic link, refused" if path.is_symlink() else exc.strerror or type(exc).__name__
        raise StateStoreError(f"{path}: cannot open this host lock file: {why}") from None


def _releasing(fd: int) -> Callable[[], None]:
    """Release a host's lock, emptying its file first: a later run meeting a lock never
    reads the name of a run that has finished."""
    from filelock import unlock_descriptor

    def release() -> None:
        try:
            os.ftruncate(fd, 0)
            unlock_descriptor(fd)
        finally:
            os.close(fd)

    return release


OWNER_WAIT = 1.0
"""Seconds a run that met a held lock waits for the holder to say who it is: the holder writes
its name just after taking the lock, so two runs started together can meet in between."""

OWNER_BYTES = 4096
"""The most of a lock file read for its holder's name (a few dozen bytes are written)."""


def _read_owner(fd: int, wait: float = OWNER_WAIT) -> str:
    """Who holds the lock file open on `fd`, as its holder wrote it; "an unknown run" when
    nothing readable appears within `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            data: dict[str, Any] = json.loads(os.pread(fd, OWNER_BYTES, 0))
            return LockOwner(data["run_id"], int(data["pid"]), data["controller"]).describe()
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "an unknown run"
            time.sleep(0.02)


def advisory_key(host: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for a host."""
    digest = hashlib.sha256(f"remediate-host:{host}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def advisory_lock(
    connect: Callable[[str], Any],
    hosts: Sequence[str],
    owner: LockOwner,
    give_back: Callable[[Any], None] | None = None,
) -> HostLock:
    """Session advisory locks on a connection of their own while they are held. `connect`
    opens one (or hands out an idle one, holding no lock); on release it is closed, or handed
    to `give_back` for a later lock. The connection's application_name names the owner, so a
    loser can say who holds it."""
    connection = connect(f"remediate {owner.describe()}"[:63])

    def release() -> None:
        # Unlock before closing: a closed session's locks go only when its backend has
        # exited, after close() returns, and the next run could find them still held.
        try:
            connection.execute("SELECT pg_advisory_unlock_all()")
        except BaseException:
            connection.close()
            raise
        if give_back is None:
            connection.close()
        else:
            give_back(connection)

    releases: list[Callable[[], None]] = [release]
    held = HostLock(releases)
    ordered = sorted(set(hosts))
    keys = [advisory_key(host) for host in ordered]
    # The hosts' locks tried in order in one statement (a round trip, not one per host),
    # stopping at the first one held elsewhere (LIMIT 1 ends the scan there): of two runs
    # wanting the same hosts, the one taking the first common host gets them all.
    refused = connection.execute(
        "SELECT n FROM unnest(%s::bigint[]) WITH ORDINALITY AS k(key, n) "
        "WHERE NOT pg_try_advisory_lock(key) LIMIT 1",
        (keys,),
    ).fetchone()
    if refused is not None:
        host, key = ordered[refused[0] - 1], keys[refused[0] - 1]
        holder = _advisory_holder(connection, key)
        held.release()
        raise LockHeld(host, holder)
    return held


def _advisory_holder(connection: Any, key: int) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = connection.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    if row and row[0]:
        return str(row[0]).removeprefix("remediate ")
    return "an unknown controller"
