"""What `remediate status` and the status page say of a fleet: the workers with the hosts each
served last, and how far the last tick got, read from a real store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.fleet.summary import fleet_summary
from engine.unattended.state import open_store
from engine.unattended.state.base import WorkerRecord
from tests.servers.state_postgres import StatePostgres

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_store_no_fleet_used_has_no_fleet_summary(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    try:
        assert fleet_summary(store) is None
    finally:
        store.close()


def test_the_summary_names_each_worker_with_what_it_served_and_the_last_ticks_progress(
    state_postgres: StatePostgres,
) -> None:
    store = open_store(state_postgres.new_database())
    try:
        for name in ("w1", "w2"):
            store.register_worker(WorkerRecord(name, f"remediate.{name}", "box", 1, NOW, "abc"))
        groups = [("db1", ["db1"], "remediate.w1"), ("web1", ["web1", "web2"], "remediate.w1")]
        store.record_tick("site", 7, NOW, "scheduler-1", groups)
        assert store.claim_task("site", 7, "db1", "w1", "r1", NOW)
        store.finish_task("site", 7, "db1", "done", "", NOW, exit_code=0)
        store.finish_task("site", 7, "web1", "refused", "the playbook differs", NOW, worker="w1")

        fleet = fleet_summary(store)

        assert fleet is not None
        served = {w.name: (w.live, w.tick, w.hosts) for w in fleet.workers}
        # Neither holds its liveness lock: both are gone as far as the store can tell.
        assert served == {"w1": (False, 7, ("db1", "web1", "web2")), "w2": (False, None, ())}
        tick = fleet.last_tick
        assert tick is not None
        assert (tick.tick, tick.tasks, tick.hosts, tick.progress) == (7, 2, 3, {"done": 1, "refused": 1})
        assert [(t.group, t.status, t.reason) for t in tick.troubles] == [
            ("web1", "refused", "the playbook differs")
        ]
        assert fleet.to_dict()["last_tick"]["progress"] == {"done": 1, "refused": 1}
    finally:
        store.close()
