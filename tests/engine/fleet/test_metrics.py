"""What a fleet's scheduler serves on /metrics, read from a real PostgreSQL store on each
scrape: the nodes' latest outcomes (whichever worker recorded them), the workers and the last
tick's tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.core.planning import RunPlan, plan_run
from engine.fleet.scheduler import Scheduler
from engine.fleet.worker import liveness_lock
from engine.output.logs import QuietLogger
from engine.unattended.state import open_store
from engine.unattended.state.base import WorkerRecord
from engine.unattended.state.postgres import PostgresStateStore
from inventory import load_inventory
from tests.servers.state_postgres import StatePostgres

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def site_plan(tmp_path: Path) -> RunPlan:
    (tmp_path / "site.yml").write_text(
        "name: site\nhosts: all\nchecks:\n  up:\n    severity: P1\n    command: {cmd: 'true'}\n"
    )
    (tmp_path / "hosts.ini").write_text("[all]\nh1 ansible_connection=local\nh2 ansible_connection=local\n")
    return plan_run(tmp_path / "site.yml", load_inventory([str(tmp_path / "hosts.ini")]))


def scraped(scheduler: Scheduler) -> Samples:
    """The samples /metrics serves, as the status page's handler registers the collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(scheduler.latest)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def open_fleet_store(state_postgres: StatePostgres) -> PostgresStateStore:
    store = open_store(state_postgres.new_database())
    assert isinstance(store, PostgresStateStore)
    return store


def test_the_scheduler_serves_each_nodes_latest_outcome_the_workers_and_the_last_tick(
    tmp_path: Path, state_postgres: StatePostgres
) -> None:
    plan = site_plan(tmp_path)
    store = open_fleet_store(state_postgres)
    worker_session = open_fleet_store(state_postgres)
    try:
        store.record_outcome("r1", "h1", "up", "unhealthy", "down", {}, "P1", NOW)
        store.record_outcome("r2", "h1", "up", "healthy", "up", {}, "P1", NOW)  # a later run
        store.record_outcome("r3", "h2", "up", "failed", "still down", {}, "P1", NOW)
        store.record_outcome("r4", "retired", "up", "healthy", "up", {}, "P1", NOW)  # not in the plan
        for name in ("w1", "w2"):
            store.register_worker(WorkerRecord(name, f"remediate.{name}", "box", 1, NOW, "abc"))
        alive = worker_session.session_lock(liveness_lock("w1"), "worker w1")
        assert alive is not None
        store.record_tick(
            "site", 7, NOW, "scheduler-1", [("h1", ["h1"], "remediate.w1"), ("h2", ["h2"], "q")]
        )
        assert store.claim_task("site", 7, "h1", "w1", "r2", NOW)
        store.finish_task("site", 7, "h1", "done", "", NOW, exit_code=0)
        scheduler = Scheduler(lambda: plan, store, "memory://", 60.0, QuietLogger(), plan=plan)

        samples = scraped(scheduler)

        status = {
            labels: value for (name, labels), value in samples.items() if name == "remediate_node_status"
        }
        assert status == {
            (("host", "h1"), ("node", "up"), ("outcome", "healthy")): 1.0,
            (("host", "h2"), ("node", "up"), ("outcome", "failed")): 1.0,
        }
        assert samples[("remediate_node_healthy", (("host", "h2"), ("node", "up")))] == 0.0
        assert samples[("remediate_node_severity", (("host", "h1"), ("node", "up")))] == 1.0
        assert samples[("remediate_fleet_workers", (("state", "live"),))] == 1.0
        assert samples[("remediate_fleet_workers", (("state", "gone"),))] == 1.0
        assert samples[("remediate_fleet_last_tick", ())] == 7.0
        assert samples[("remediate_fleet_last_tick_timestamp_seconds", ())] == NOW.timestamp()
        tasks = {
            dict(labels)["status"]: value
            for (name, labels), value in samples.items()
            if name == "remediate_fleet_last_tick_tasks"
        }
        assert tasks == {
            "queued": 1.0, "running": 0.0, "done": 1.0, "locked": 0.0, "refused": 0.0, "superseded": 0.0, "failed": 0.0
        }  # fmt: skip
        alive.release()
        assert scraped(scheduler)[("remediate_fleet_workers", (("state", "live"),))] == 0.0  # read anew
    finally:
        worker_session.close()
        store.close()


def test_before_any_tick_the_fleet_metrics_have_no_node_and_no_tick(
    tmp_path: Path, state_postgres: StatePostgres
) -> None:
    plan = site_plan(tmp_path)
    store = open_fleet_store(state_postgres)
    try:
        samples = scraped(Scheduler(lambda: plan, store, "memory://", 60.0, QuietLogger(), plan=plan))
        names = {name for name, _ in samples}
        assert "remediate_node_status" not in names and "remediate_fleet_last_tick" not in names
        assert samples[("remediate_fleet_workers", (("state", "live"),))] == 0.0
        assert samples[("remediate_escalations_open", ())] == 0.0
    finally:
        store.close()
