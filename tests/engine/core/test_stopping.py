"""A one-shot `remediate run` stopped by a signal, as a real process: it kills the action in
flight (its whole process group), records it interrupted and the run as ended by the signal,
releases its lock and exits 128 + the signal's number."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import exit_codes
from engine.core.stopping import GRACE
from engine.unattended.locking import LockOwner
from engine.unattended.state import open_store
from engine.unattended.state.base import INTERRUPTED
from tests.support.cli import remediate, start
from tests.support.playbooks import write_playbook

ACTION_SECONDS = 4

# The step writes its shell's and its child's pids first, then runs until `done` would appear.
PLAYBOOK = """
name: stop
checks:
  data:
    command: {cmd: "test -e done"}
    remediate:
      - name: slow fix
        command: {cmd: "{{ prelude }} echo $$ > pids; sleep {{ seconds }} & echo $! >> pids; wait; touch done"}
  later:
    depends_on: [data]
    command: {cmd: "true"}
"""


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A member killed an instant ago may still be a zombie until init reaps it.
    stat = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    return bool(stat.strip()) and not stat.strip().startswith("Z")


def started_action(
    tmp_path: Path, prelude: str = "", seconds: float = ACTION_SECONDS
) -> tuple[subprocess.Popen[str], list[int]]:
    """A run whose action is running (both pids written)."""
    playbook = write_playbook(tmp_path, PLAYBOOK)
    prelude_vars = json.dumps({"prelude": prelude, "seconds": seconds})
    run = start("run", playbook, "-e", prelude_vars, state=tmp_path / "s.db", cwd=tmp_path)
    pids = tmp_path / "pids"

    def running() -> bool:
        assert run.poll() is None, run.communicate()
        return pids.exists() and len(pids.read_text().split()) == 2

    eventually(running, "the action never started")
    return run, [int(p) for p in pids.read_text().split()]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_stops_the_action_records_it_and_releases_the_lock(tmp_path: Path, signum: int) -> None:
    began = time.monotonic()
    run, pids = started_action(tmp_path)
    run.send_signal(signum)
    stdout, _ = run.communicate(timeout=10)
    assert run.returncode == exit_codes.stopped_by(signum) == 128 + signum
    name = signal.Signals(signum).name
    assert f"stopped by {name}; exit status {128 + signum}" in stdout
    assert not [pid for pid in pids if alive(pid)], "a process of the action's group is left"
    # Past the moment the action would have finished: it never does.
    time.sleep(max(0.0, began + ACTION_SECONDS + 1 - time.monotonic()))
    assert not (tmp_path / "done").exists()
    store = open_store(str(tmp_path / "s.db"))
    [attempt] = store.attempts("localhost", "data")
    [record] = store.runs()
    assert (attempt.outcome, record.ended_by, record.exit_code) == (INTERRUPTED, name, 128 + signum)
    assert attempt.finished_at is not None and name in attempt.reason
    outcomes = {e.node: e.outcome for e in store.history() if e.kind == "node"}
    assert outcomes == {"data": "failed", "later": "skipped"}  # `later` was not checked
    store.lock(["localhost"], LockOwner("next")).release()  # released: another run may start
    store.close()


@pytest.mark.slow
def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    # Ignored by its children too.
    run, pids = started_action(tmp_path, prelude="trap '' TERM;", seconds=GRACE * 6)
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=GRACE + 10)
    assert run.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - sent >= GRACE - 0.5
    assert not [pid for pid in pids if alive(pid)]


@pytest.mark.slow
def test_a_second_signal_kills_the_action_at_once(tmp_path: Path) -> None:
    run, pids = started_action(tmp_path, prelude="trap '' TERM INT;", seconds=GRACE * 6)
    assert run.stderr is not None
    os.set_blocking(run.stderr.fileno(), False)
    logged = bytearray()

    def says_stopping() -> bool:
        logged.extend(os.read(run.stderr.fileno(), 65536) or b"" if run.poll() is None else b"")
        return b'"stopping"' in logged

    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)
    eventually(says_stopping, "the run did not log that it is stopping", 10)
    run.send_signal(signal.SIGINT)
    run.wait(timeout=GRACE + 10)
    assert run.returncode == 128 + signal.SIGTERM  # the first signal is the run's end
    assert time.monotonic() - sent < GRACE
    assert not [pid for pid in pids if alive(pid)]


def test_a_run_that_was_not_stopped_records_no_signal(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, "name: ok\nchecks:\n  ok: {command: {cmd: 'true'}}\n")
    assert remediate("run", playbook, state=tmp_path / "s.db", cwd=tmp_path).returncode == 0
    store = open_store(str(tmp_path / "s.db"))
    [record] = store.runs()
    assert (record.exit_code, record.ended_by) == (0, None)
    store.close()
