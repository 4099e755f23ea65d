"""A worker: alive while its process holds its session lock in PostgreSQL; runs a task at
most once however often the broker delivers it (engine.fleet.claims), against a real store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.core.planning import plan_run
from engine.fleet.worker import Worker, live_workers, liveness_lock
from engine.output.logs import QuietLogger
from engine.unattended.locking import LockOwner
from engine.unattended.state import open_store
from engine.unattended.state.base import WorkerRecord
from engine.unattended.state.postgres import PostgresStateStore
from inventory import load_inventory
from tests.servers.state_postgres import StatePostgres

HOLDER = """
import sys, time
from engine.unattended.state import open_store
store = open_store(sys.argv[1])
lock = store.session_lock(sys.argv[2], "test holder")
print("held" if lock else "refused", flush=True)
time.sleep(600)
"""


def test_a_worker_is_alive_while_its_process_holds_its_lock_and_dead_once_killed(
    state_postgres: StatePostgres,
) -> None:
    url = state_postgres.new_database()
    store = open_store(url)
    assert isinstance(store, PostgresStateStore)
    try:
        for name in ("w1", "w2"):
            store.register_worker(WorkerRecord(name, f"remediate.{name}", "host", 1, datetime.now(UTC), "abc"))
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url, liveness_lock("w1")], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert live_workers(store) == {"w1"}
        assert store.session_lock(liveness_lock("w1"), "another") is None  # one holder at a time
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10
        while live_workers(store) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_workers(store) == set()
        taken = store.session_lock(liveness_lock("w1"), "the next one")
        assert taken is not None
        taken.release()
    finally:
        store.close()


PLAYBOOK = """\
name: site
hosts: all
checks:
  marker:
    command: {cmd: "test -e {{ dir }}/ok"}
    verify: {within: 200ms, interval: 100ms}
    remediate:
      - command: {cmd: "echo acted >> {{ dir }}/acted"}
"""


@pytest.fixture
def store(state_postgres: StatePostgres) -> Iterator[PostgresStateStore]:
    """A fresh database of the test PostgreSQL server, as a fleet's store."""
    opened = open_store(state_postgres.new_database())
    assert isinstance(opened, PostgresStateStore)
    yield opened
    opened.close()


WorkerOf = Callable[[str, list[str]], Worker]


@pytest.fixture
def worker_of(tmp_path: Path, store: PostgresStateStore) -> Iterator[WorkerOf]:
    """Builds the worker `w2` of a playbook over local hosts (each with `dir` = tmp_path) on
    the test's store; closes what it built at the end."""
    built: list[Worker] = []

    def build(playbook: str, hosts: list[str]) -> Worker:
        (tmp_path / "site.yml").write_text(playbook)
        lines = "".join(f"{h} ansible_connection=local dir={tmp_path}\n" for h in hosts)
        (tmp_path / "hosts.ini").write_text(f"[all]\n{lines}")
        plan = plan_run(tmp_path / "site.yml", load_inventory([str(tmp_path / "hosts.ini")]))
        built.append(Worker("w2", plan, store, QuietLogger(), incident_dir=tmp_path / "incidents"))
        return built[-1]

    yield build
    for worker in built:
        worker.close()


def delivery(worker: Worker, tick: int = 1, digest: str | None = None) -> dict[str, object]:
    return {"playbook": "site", "tick": tick, "group": "h1", "hosts": ["h1"], "digest": digest or worker.digest}


def acted(tmp_path: Path) -> int:
    path = tmp_path / "acted"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_task_runs_once_however_often_it_is_delivered(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    worker = worker_of(PLAYBOOK, ["h1"])
    store.record_tick("site", 1, datetime.now(UTC), "s", [("h1", ["h1"], "remediate")])
    assert worker.handle(delivery(worker)) == "done"
    assert worker.handle(delivery(worker)) == "dropped"
    assert acted(tmp_path) == 1


def test_a_task_taken_over_from_a_dead_worker_does_not_act_again_on_what_it_acted_on(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    worker = worker_of(PLAYBOOK, ["h1"])
    now = datetime.now(UTC)
    store.record_tick("site", 1, now, "s", [("h1", ["h1"], "remediate")])
    # w1 claimed it, recorded its action and died before finishing (no lock held: dead).
    store.claim_task("site", 1, "h1", "w1", "r-dead", now)
    store.begin_attempt("r-dead", "h1", "marker", 1, "echo", "command", now)
    (tmp_path / "acted").write_text("acted\n")
    assert worker.handle(delivery(worker)) == "done"
    assert acted(tmp_path) == 1  # not again in this tick
    task = store.fleet_task("site", 1, "h1")
    assert task is not None and task.worker == "w2"
    last = store.latest_results([("h1", "marker")])[("h1", "marker")]
    assert last.outcome == "backoff" and "w1, which died" in last.reason
    # The next tick acts: the node is still unhealthy.
    store.record_tick("site", 2, now, "s", [("h1", ["h1"], "remediate")])
    assert worker.handle(delivery(worker, tick=2)) == "done"
    assert acted(tmp_path) == 2


def test_a_task_of_another_playbook_is_refused_and_the_store_says_why(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    worker = worker_of(PLAYBOOK, ["h1"])
    store.record_tick("site", 1, datetime.now(UTC), "s", [("h1", ["h1"], "remediate")])
    assert worker.handle(delivery(worker, digest="0123456789abcdef")) == "refused"
    task = store.fleet_task("site", 1, "h1")
    assert task is not None and task.status == "refused" and "0123456789abcdef" in task.reason
    assert acted(tmp_path) == 0


def test_a_stale_task_is_not_run_once_a_later_tick_of_its_group_ran(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    worker = worker_of(PLAYBOOK, ["h1"])
    (tmp_path / "ok").touch()
    now = datetime.now(UTC)
    for tick in (1, 2):
        store.record_tick("site", tick, now, "s", [("h1", ["h1"], "remediate")])
    assert worker.handle(delivery(worker, tick=2)) == "done"
    assert worker.handle(delivery(worker, tick=1)) == "superseded"


BATCH_PLAYBOOK = """\
name: site
hosts: all
checks:
  marker:
    command: {cmd: "test -e {{ dir }}/{{ inventory_hostname }}.ok"}
    verify: {within: 200ms, interval: 100ms}
    remediate:
      - command: {cmd: "echo {{ inventory_hostname }} >> {{ dir }}/acted"}
"""


def batch(worker: Worker, groups: list[str], tick: int = 1) -> dict[str, object]:
    return {
        "playbook": "site",
        "tick": tick,
        "groups": [{"group": g, "hosts": [g]} for g in groups],
        "digest": worker.digest,
    }


def test_a_batch_runs_its_groups_in_one_run_each_recorded_with_its_own_outcome(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    worker = worker_of(BATCH_PLAYBOOK, ["h1", "h2", "h3"])
    (tmp_path / "h1.ok").touch()
    store.record_tick("site", 1, datetime.now(UTC), "s", [(h, [h], "remediate") for h in ("h1", "h2", "h3")])
    assert worker.handle(batch(worker, ["h1", "h2", "h3"])) == "done"
    tasks = [store.fleet_task("site", 1, h) for h in ("h1", "h2", "h3")]
    assert {t.run_id for t in tasks if t} == {tasks[0].run_id if tasks[0] else ""}  # one run
    assert [t.reason for t in tasks if t] == ["1 healthy", "1 failed", "1 failed"]
    assert sorted((tmp_path / "acted").read_text().split()) == ["h2", "h3"]
    assert worker.handle(batch(worker, ["h1", "h2", "h3"])) == "dropped"  # redelivered: done
    assert sorted((tmp_path / "acted").read_text().split()) == ["h2", "h3"]


def test_a_batch_decides_in_full_for_a_group_that_is_not_plainly_queued(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    worker = worker_of(BATCH_PLAYBOOK, ["h1", "h2"])
    for host in ("h1", "h2"):
        (tmp_path / f"{host}.ok").touch()
    now = datetime.now(UTC)
    for tick in (1, 2):
        store.record_tick("site", tick, now, "s", [(h, [h], "remediate") for h in ("h1", "h2")])
    store.claim_task("site", 2, "h1", "w9", "r9", now)  # h1's tick 2 started elsewhere
    assert worker.handle(batch(worker, ["h1", "h2"])) == "1 done, 1 superseded"
    stale, current = store.fleet_task("site", 1, "h1"), store.fleet_task("site", 1, "h2")
    assert stale is not None and stale.status == "superseded"
    assert current is not None and current.status == "done"


def test_a_batch_group_whose_host_another_run_holds_is_locked_and_the_others_run(
    tmp_path: Path, state_postgres: StatePostgres, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    other = open_store(state_postgres.url(store.url.rsplit("/", 1)[1]))
    worker = worker_of(BATCH_PLAYBOOK, ["h1", "h2", "h3"])
    try:
        store.record_tick("site", 1, datetime.now(UTC), "s", [(h, [h], "remediate") for h in ("h1", "h2", "h3")])
        with other.lock(["h2"], LockOwner("manual-run")):
            assert worker.handle(batch(worker, ["h1", "h2", "h3"])) == "2 done, 1 locked"
        locked = store.fleet_task("site", 1, "h2")
        assert locked is not None and locked.status == "locked" and "manual-run" in locked.reason
        assert sorted((tmp_path / "acted").read_text().split()) == ["h1", "h3"]
    finally:
        other.close()


def test_a_delivery_meeting_a_batch_this_worker_claimed_but_has_not_started_is_dropped(
    tmp_path: Path, store: PostgresStateStore, worker_of: WorkerOf
) -> None:
    # A batch claims its current groups, then decides the others in full before its run
    # starts; a delivery of a claimed group in between must see a live run, not an orphan.
    worker = worker_of(BATCH_PLAYBOOK, ["h1", "h2"])
    alive = store.session_lock(liveness_lock(worker.name), "test")
    assert alive is not None
    store.register_worker(WorkerRecord(worker.name, worker.queue, "host", 1, datetime.now(UTC), worker.digest))
    meanwhile: list[str] = []
    found = store.fleet_task

    def delivered_meanwhile(playbook: str, tick: int, group: str) -> object:
        if group == "h1" and not meanwhile:
            meanwhile.append("")
            single = {"playbook": "site", "tick": 1, "group": "h2", "hosts": ["h2"], "digest": worker.digest}
            meanwhile[0] = worker.handle(single)
        return found(playbook, tick, group)

    try:
        now = datetime.now(UTC)
        for tick in (1, 2):
            store.record_tick("site", tick, now, "s", [(h, [h], "remediate") for h in ("h1", "h2")])
        store.claim_task("site", 2, "h1", "w9", "r9", now)  # h1's tick 1 is decided in full
        store.fleet_task = delivered_meanwhile  # type: ignore[method-assign]
        assert worker.handle(batch(worker, ["h1", "h2"])) == "1 done, 1 superseded"
        assert meanwhile == ["dropped"]
        assert (tmp_path / "acted").read_text().split() == ["h2"]  # acted on once
    finally:
        alive.release()
