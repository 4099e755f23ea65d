"""The run lock across real processes: overlapping runs, a crash, several controllers."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from engine import exit_codes
from engine.errors import LockHeld
from engine.unattended.locking import LockOwner
from engine.unattended.state import open_store
from engine.unattended.state.postgres import PostgresStateStore
from tests.servers.state_postgres import StatePostgres
from tests.support.cli import remediate, start
from tests.support.playbooks import one_node, write_playbook


def blocking_playbook(directory: Path, limit: str = "") -> Path:
    """A node whose action says it started, then waits for the test to release it."""
    started, release, acted = directory / "started", directory / "release", directory / "acted"
    action = (
        f"echo $PPID >> {started}; i=0; while [ ! -e {release} ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; "
        f"echo acted >> {acted}"
    )
    return write_playbook(
        directory, one_node(f"test -e {directory}/ok", action, name="locked", node=limit, rung="timeout: 60s")
    )


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.02)


def test_of_two_runs_started_at_once_exactly_one_acts_and_the_other_exits_3(
    tmp_path: Path, state_location: str
) -> None:
    playbook = blocking_playbook(tmp_path)
    runs = [
        start("run", playbook, "--log-format", "json", state=state_location, cwd=tmp_path) for _ in range(2)
    ]
    # The winner waits in its action until released, so the loser must meet the lock held.
    while all(run.poll() is None for run in runs):
        time.sleep(0.02)
    [loser] = [run for run in runs if run.poll() is not None]
    [winner] = [run for run in runs if run is not loser]
    (tmp_path / "release").touch()
    winner.communicate(timeout=60)
    _, loser_err = loser.communicate()
    assert loser.returncode == exit_codes.LOCKED
    assert (tmp_path / "acted").read_text().split() == ["acted"]
    assert "another run holds the lock" in loser_err
    assert f"pid {winner.pid}" in loser_err


def test_a_run_killed_mid_action_leaves_its_attempt_for_the_next_run_to_count(
    tmp_path: Path, state_location: str
) -> None:
    playbook = blocking_playbook(tmp_path, limit="limit: {max: 1, within: 1h}")
    victim = start("run", playbook, state=state_location, cwd=tmp_path)
    wait_for(tmp_path / "started")
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate()
    # Its action is still waiting (an orphan); let it go so it cannot be mistaken for a new one.
    (tmp_path / "release").touch()
    after = remediate("run", playbook, state=state_location, cwd=tmp_path)
    assert after.returncode == exit_codes.PROBLEMS, after.stderr
    assert "suppressed" in after.stdout
    history = remediate("history", "--node", "api", state=state_location, cwd=tmp_path).stdout
    assert "running" in history and "suppressed" in history


def test_a_lock_is_released_when_its_holder_is_killed(tmp_path: Path, state_location: str) -> None:
    playbook = blocking_playbook(tmp_path)
    victim = start("run", playbook, state=state_location, cwd=tmp_path)
    wait_for(tmp_path / "started")
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate()
    (tmp_path / "ok").touch()
    assert remediate("run", playbook, state=state_location, cwd=tmp_path).returncode == exit_codes.OK


def test_a_second_controller_cannot_lock_a_host_the_first_holds(state_location: str) -> None:
    first, second = open_store(state_location), open_store(state_location)
    held = first.lock(["web1", "web2"], LockOwner("run-one"))
    with pytest.raises(LockHeld) as raised:
        second.lock(["web2", "web3"], LockOwner("run-two"))
    assert raised.value.host == "web2"
    assert "run run-one" in raised.value.holder
    second.lock(["web3"], LockOwner("run-two")).release()  # other hosts are free
    held.release()
    second.lock(["web1", "web2"], LockOwner("run-two")).release()
    first.close()
    second.close()


def test_a_failed_lock_attempt_releases_the_hosts_it_had_taken(state_location: str) -> None:
    first, second, third = (open_store(state_location) for _ in range(3))
    held = first.lock(["b"], LockOwner("one"))
    with pytest.raises(LockHeld):
        second.lock(["a", "b"], LockOwner("two"))  # took a, then met b held
    third.lock(["a"], LockOwner("three")).release()
    held.release()
    for store in (first, second, third):
        store.close()


def test_a_run_meeting_a_lock_waits_briefly_for_the_holder_to_name_itself(tmp_path: Path) -> None:
    # The holder writes its name just after taking the lock: a run meeting the lock in
    # between names the holder all the same, not "an unknown run".
    import json
    import threading

    from engine.unattended.locking import _read_owner

    lock_file = tmp_path / "host.lock"
    lock_file.touch()
    late = threading.Timer(
        0.2, lambda: lock_file.write_text(json.dumps({"run_id": "r1", "pid": 42, "controller": "ctl"}))
    )
    fd = os.open(lock_file, os.O_RDONLY)
    late.start()
    try:
        assert _read_owner(fd, wait=5) == "run r1 (pid 42 on ctl)"
    finally:
        late.join()
        os.close(fd)
    fd = os.open(tmp_path / "empty.lock", os.O_RDWR | os.O_CREAT)
    try:
        assert _read_owner(fd, wait=0) == "an unknown run"
    finally:
        os.close(fd)


def test_a_held_lock_file_names_its_holder_and_is_emptied_on_release(tmp_path: Path) -> None:
    from engine.unattended.locking import LockOwner, file_lock

    held = file_lock(tmp_path, ["web1"], LockOwner("r1", 42, "ctl"))
    with held, pytest.raises(LockHeld, match=r"run r1 \(pid 42 on ctl\)"):
        file_lock(tmp_path, ["web1"], LockOwner("r2"))
    [lock_file] = tmp_path.glob("*.lock")
    assert lock_file.read_bytes() == b""  # nobody meeting it later reads a finished run's name
    file_lock(tmp_path, ["web1"], LockOwner("r2")).release()


def _lock_backends(store: PostgresStateStore) -> set[int]:
    rows = store._rows("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
    return {int(pid) for (pid,) in rows}


def test_postgres_runs_one_after_another_reuse_one_lock_session(state_postgres: StatePostgres) -> None:
    # A worker runs one lock per host group and tick: a new session each time cost a
    # PostgreSQL backend and several round trips.
    store = open_store(state_postgres.new_database())
    assert isinstance(store, PostgresStateStore)
    try:
        first = store.lock(["web1"], LockOwner("run-one"))
        backends = _lock_backends(store)
        first.release()
        assert _lock_backends(store) == set()  # released: the session holds nothing
        second = store.lock(["web2"], LockOwner("run-two"))
        assert _lock_backends(store) == backends
        second.release()
    finally:
        store.close()


def test_postgres_a_reused_lock_session_names_its_new_holder(state_postgres: StatePostgres) -> None:
    url = state_postgres.new_database()
    store, other = open_store(url), open_store(url)
    try:
        store.lock(["web1"], LockOwner("run-one")).release()
        held = store.lock(["web1"], LockOwner("run-two"))
        with pytest.raises(LockHeld) as raised:
            other.lock(["web1"], LockOwner("run-three"))
        assert "run run-two" in raised.value.holder
        held.release()
    finally:
        store.close()
        other.close()


def test_postgres_an_idle_lock_session_ended_by_the_server_is_replaced(state_postgres: StatePostgres) -> None:
    store = open_store(state_postgres.new_database())
    assert isinstance(store, PostgresStateStore)
    try:
        held = store.lock(["web1"], LockOwner("run-one"))
        (backend,) = _lock_backends(store)
        held.release()
        store._rows("SELECT pg_terminate_backend(%s)", (backend,))
        again = store.lock(["web1"], LockOwner("run-two"))
        assert _lock_backends(store) not in (set(), {backend})
        again.release()
    finally:
        store.close()


def test_a_lock_file_that_is_a_symbolic_link_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    from engine.errors import StateStoreError
    from engine.unattended.locking import _safe_name, file_lock

    target = tmp_path / "precious"
    target.write_text("keep")
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / f"{_safe_name('web1')}.lock").symlink_to(target)
    with pytest.raises(StateStoreError, match=r"web1-.*\.lock: cannot open this host lock file: a symbolic link"):
        file_lock(locks, ["a", "web1"], LockOwner("r1"))
    assert target.read_text() == "keep"
    file_lock(locks, ["a"], LockOwner("r2")).release()  # the host taken before it was let go
