"""The state store, against real SQLite files and a real PostgreSQL server (every test runs
on both): what it records, what it remembers, and its schema."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StateStoreError
from engine.secrets.redact import Redactor
from engine.unattended.locking import LockOwner
from engine.unattended.state import NodeState, StateStore, base, open_store
from engine.unattended.state.base import RUNNING, SCHEMA_VERSION, VERSIONS_KEPT, VersionRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(state_location: str) -> Iterator[StateStore]:
    opened = open_store(state_location)
    yield opened
    opened.close()


def test_a_new_store_is_created_with_the_current_schema(state_location: str) -> None:
    store = open_store(state_location)
    assert store.schema_version == SCHEMA_VERSION
    store.close()


def test_opening_an_existing_store_keeps_its_records(state_location: str) -> None:
    first = open_store(state_location)
    first.begin_run("r1", "demo", ["h"], "run", T0, LockOwner("r1"))
    first.close()
    again = open_store(state_location)
    assert [r.run_id for r in again.runs()] == ["r1"]
    again.close()


def test_an_attempt_is_visible_as_running_before_it_completes(store: StateStore) -> None:
    attempt_id = store.begin_attempt("r1", "h", "api", 1, "restart", "command", T0)
    [attempt] = store.attempts("h", "api")
    assert (attempt.outcome, attempt.finished_at) == (RUNNING, None)
    store.finish_attempt(attempt_id, T0 + timedelta(seconds=2), "changed", 2000.0, "restarted")
    [attempt] = store.attempts("h", "api")
    assert (attempt.outcome, attempt.reason, attempt.duration_ms) == ("changed", "restarted", 2000.0)
    assert attempt.finished_at == T0 + timedelta(seconds=2)


def test_attempts_are_selected_by_node_and_start_time(store: StateStore) -> None:
    store.begin_attempt("r1", "h", "api", 1, "s", "command", T0)
    store.begin_attempt("r2", "h", "api", 1, "s", "command", T0 + timedelta(minutes=10))
    store.begin_attempt("r2", "h", "db", 1, "s", "command", T0 + timedelta(minutes=10))
    store.begin_attempt("r2", "other", "api", 1, "s", "command", T0 + timedelta(minutes=10))
    recent = store.attempts("h", "api", since=T0 + timedelta(minutes=5))
    assert [a.run_id for a in recent] == ["r2"]
    assert len(store.attempts("h", "api")) == 2


def test_node_state_round_trips_and_starts_empty(store: StateStore) -> None:
    assert store.node_state("h", "api") == NodeState("h", "api")
    state = NodeState("h", "api", "healthy", T0, T0, T0 - timedelta(hours=1), 2, T0 - timedelta(minutes=3))
    store.save_node_state(state)
    assert store.node_state("h", "api") == state
    state.failures = 0
    store.save_node_state(state)
    assert store.node_state("h", "api").failures == 0


def test_pauses_expire_and_a_host_pause_comes_before_an_all_hosts_pause(store: StateStore) -> None:
    store.set_pause("*", "api", None, "investigating", T0, "alice")
    store.set_pause("h", "api", T0 + timedelta(hours=2), "deploy", T0, "bob")
    assert store.pause_for("h", "api", T0 + timedelta(hours=1)).reason == "deploy"  # type: ignore[union-attr]
    assert store.pause_for("h", "api", T0 + timedelta(hours=3)).reason == "investigating"  # type: ignore[union-attr]
    assert store.pause_for("h", "db", T0) is None
    assert store.clear_pause("*", "api")
    assert store.pause_for("h", "api", T0 + timedelta(hours=3)) is None
    assert not store.clear_pause("*", "api")


def test_an_escalation_opens_once_until_it_is_closed(store: StateStore) -> None:
    first = store.open_escalation("h:api", "h", "api", "P1", "limit reached", T0)
    assert first is not None
    assert (
        store.open_escalation("h:api", "h", "api", "P1", "limit reached", T0 + timedelta(minutes=1)) is None
    )
    closed = store.close_escalation("h:api", T0 + timedelta(minutes=5))
    assert closed is not None and closed.id == first.id
    assert store.close_escalation("h:api", T0 + timedelta(minutes=6)) is None
    assert store.open_escalation("h:api", "h", "api", "P1", "again", T0 + timedelta(minutes=7)) is not None
    assert len(store.escalations()) == 2
    assert len(store.escalations(open_only=True)) == 1


def test_an_escalation_sent_again_keeps_its_id_and_takes_the_new_reason(store: StateStore) -> None:
    opened = store.open_escalation("h:api", "h", "api", "P1", "still down after its whole ladder", T0)
    assert opened is not None
    store.mark_notified(opened.id, T0)
    store.renotify_escalation(opened.id, "P0", "limit reached")
    [again] = store.escalations(open_only=True)
    assert (again.id, again.severity, again.reason, again.notified_at) == (
        opened.id,
        "P0",
        "limit reached",
        None,
    )


def test_history_interleaves_actions_and_outcomes_in_time_order(store: StateStore) -> None:
    attempt_id = store.begin_attempt("r1", "h", "api", 1, "restart", "command", T0)
    store.finish_attempt(attempt_id, T0 + timedelta(seconds=1), "changed", 1000.0, "")
    store.record_outcome(
        "r1", "h", "api", "remediated", "fixed", {"status": 500}, "P1", T0 + timedelta(seconds=2)
    )
    store.record_outcome("r1", "h", "db", "healthy", "", {}, "P2", T0 + timedelta(seconds=2))
    entries = store.history(node="api")
    assert [(e.kind, e.outcome) for e in entries] == [("action", "changed"), ("node", "remediated")]
    assert [e.node for e in store.history(since=T0 + timedelta(seconds=1))] == ["api", "db"]


def test_last_good_and_last_outcomes_per_node(store: StateStore) -> None:
    store.record_outcome("r1", "h", "api", "healthy", "", {}, "P2", T0)
    store.record_outcome("r2", "h", "api", "failed", "down", {}, "P2", T0 + timedelta(minutes=1))
    assert store.last_good(["healthy", "remediated"]) == {("h", "api"): T0}
    assert store.last_outcomes()[("h", "api")] == ("failed", T0 + timedelta(minutes=1))


def test_latest_results_give_each_asked_node_its_newest_outcome(store: StateStore) -> None:
    store.record_outcome("r1", "h", "api", "failed", "down", {}, "P1", T0)
    store.record_outcome("r2", "h", "api", "healthy", "back", {}, "P1", T0 + timedelta(minutes=1))
    store.record_outcome("r1", "h", "db", "healthy", "", {}, "P2", T0)
    store.record_outcome("r1", "h", "web", "failed", "", {}, "P2", T0)
    found = store.latest_results([("h", "api"), ("h", "db"), ("h", "never")])
    assert {key: (r.outcome, r.reason, r.run_id) for key, r in found.items()} == {
        ("h", "api"): ("healthy", "back", "r2"),
        ("h", "db"): ("healthy", "", "r1"),
    }


def test_an_outcome_recorded_late_with_an_earlier_time_is_not_the_latest(store: StateStore) -> None:
    store.record_outcome("r2", "h", "api", "healthy", "now", {}, "P1", T0 + timedelta(minutes=1))
    store.record_outcome("r1", "h", "api", "failed", "a minute ago", {}, "P1", T0)
    assert store.latest_results([("h", "api")])[("h", "api")].reason == "now"


def test_an_older_store_gains_each_nodes_latest_outcome_from_its_history(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = open_store(str(path))
    old.record_outcome("r1", "h", "api", "failed", "down", {}, "P1", T0)
    old.record_outcome("r2", "h", "api", "remediated", "restarted", {}, "P1", T0 + timedelta(minutes=1))
    old.close()
    with sqlite3.connect(path) as raw:  # back to schema 6, as a store written before 7
        raw.executescript(
            "DROP TABLE node_latest; DROP INDEX runs_started; DROP INDEX attempts_started; "
            "DROP INDEX transitions_at; UPDATE remediate_schema SET version = 6;"
        )
    migrated = open_store(str(path))
    assert migrated.latest_results([("h", "api")])[("h", "api")].outcome == "remediated"
    migrated.close()


def test_the_change_marker_moves_with_a_write_by_this_connection_or_another(
    store: StateStore, state_location: str
) -> None:
    first = store.change_marker()
    assert first is not None and store.change_marker() == first  # reading changes nothing
    store.record_outcome("r1", "h", "api", "healthy", "", {}, "P2", T0)
    second = store.change_marker()
    assert second != first
    other = open_store(state_location)
    other.set_pause("h", "api", None, "by hand", T0, "alice")
    other.close()
    assert store.change_marker() != second


@pytest.mark.parametrize(
    ("reader", "index"),
    [
        (lambda s: s.latest_runs(20), "runs_started"),
        (lambda s: s.attempts_since(T0), "attempts_started"),
        (lambda s: s.transitions_since(T0), "transitions_at"),
    ],
    ids=["runs", "attempts", "transitions"],
)
def test_what_the_status_page_reads_by_time_is_found_through_an_index(
    tmp_path: Path, reader: Any, index: str
) -> None:
    store = open_store(str(tmp_path / "state.db"))
    plans: list[str] = []

    def explain(statement: str) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            plans.extend(str(row) for row in raw.execute("EXPLAIN QUERY PLAN " + statement))

    raw = sqlite3.connect(tmp_path / "state.db")
    store._connection().set_trace_callback(explain)
    reader(store)
    store._connection().set_trace_callback(None)
    store.close()
    assert any(index in plan for plan in plans), plans


def test_a_store_newer_than_the_engine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_store(str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE remediate_schema SET version = 99")
    with pytest.raises(StateStoreError, match="schema version 99"):
        open_store(str(path))


def test_an_unreachable_postgres_store_is_an_error_naming_it_without_password() -> None:
    with pytest.raises(StateStoreError, match=r"postgresql://u:\*\*\*@127.0.0.1:9/x") as raised:
        open_store("postgresql://u:secret@127.0.0.1:9/x")
    assert "secret" not in str(raised.value)


def test_an_older_store_is_migrated_and_keeps_its_records(
    state_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = open_store(state_location)
    old.begin_run("r1", "demo", ["h"], "run", T0, LockOwner("r1"))
    old.close()
    # A later engine adds a column: its migration runs once, on the next open.
    newer = [*base.MIGRATIONS, ["ALTER TABLE runs ADD COLUMN note TEXT"]]
    monkeypatch.setattr(base, "MIGRATIONS", newer)
    monkeypatch.setattr(base, "SCHEMA_VERSION", len(newer))
    migrated = open_store(state_location)
    assert migrated.schema_version == len(newer)
    assert [r.run_id for r in migrated.runs()] == ["r1"]
    migrated._execute("UPDATE runs SET note = 'kept' WHERE run_id = 'r1'")
    migrated.close()
    open_store(state_location).close()  # opening again migrates nothing twice


def test_secrets_are_masked_before_they_are_written(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `history` and `status` run in another process, which never saw the run's secrets.
    redactor = Redactor()
    redactor.add_secret("Rg5 s3cret*")
    monkeypatch.setattr(base, "REDACTOR", redactor)
    attempt_id = store.begin_attempt("r1", "h", "api", 1, "rotate Rg5 s3cret*", "command", T0)
    store.finish_attempt(attempt_id, T0, "failed", 1.0, "login as Rg5 s3cret* refused")
    store.record_outcome(
        "r1",
        "h",
        "api",
        "failed",
        "cannot connect to redis://:Pw0rd9@cache:6379/0?token=Tq77",
        {"db_password": "Dbp4ss", "output": "denied for Rg5 s3cret*"},
        "P1",
        T0,
    )
    store.open_escalation("h:api", "h", "api", "P1", "still failing: Rg5 s3cret*", T0)
    store.set_pause("h", "api", None, "rotating Rg5 s3cret*", T0, "ops")
    stored = repr(
        [
            store.history(),
            store.escalations(),
            store.pauses(T0),
            store._rows("SELECT evidence FROM node_results"),
        ]
    )
    for secret in ("Rg5 s3cret*", "Pw0rd9", "Tq77", "Dbp4ss"):
        assert secret not in stored
    assert "redis://:***@cache:6379/0?token=***" in stored


def healthy_version(image_id: str, at: datetime, service: str = "backend", **fields: str) -> VersionRecord:
    values = {
        "host": "h",
        "project": "shop",
        "service": service,
        "container": f"shop-{service}-1",
        "image_id": image_id,
        "image": f"shop/{service}:latest",
        "repo_digest": "",
        "config_hash": "c0ffee",
        "alembic_revision": "",
        "node": service,
        **fields,
    }
    return VersionRecord(**values, first_seen_at=at, seen_at=at)  # type: ignore[arg-type]


def test_a_healthy_version_is_recorded_with_what_the_container_ran(store: StateStore) -> None:
    version = healthy_version("sha256:aa", T0, repo_digest="shop/backend@sha256:dd", alembic_revision="0042")
    store.record_version(version)
    assert store.versions(service="backend") == [version]


def test_the_same_version_seen_healthy_again_is_one_record_seen_later(store: StateStore) -> None:
    store.record_version(healthy_version("sha256:aa", T0))
    store.record_version(healthy_version("sha256:aa", T0 + timedelta(hours=1)))
    [version] = store.versions(service="backend")
    assert (version.first_seen_at, version.seen_at) == (T0, T0 + timedelta(hours=1))


def test_a_new_migration_under_the_same_image_is_a_new_version(store: StateStore) -> None:
    store.record_version(healthy_version("sha256:aa", T0, alembic_revision="0041"))
    store.record_version(healthy_version("sha256:aa", T0 + timedelta(hours=1), alembic_revision="0042"))
    assert [v.alembic_revision for v in store.versions(service="backend")] == ["0042", "0041"]


def test_only_the_newest_generations_of_a_service_are_kept(store: StateStore) -> None:
    for number in range(VERSIONS_KEPT + 3):
        store.record_version(healthy_version(f"sha256:{number}", T0 + timedelta(hours=number)))
    store.record_version(healthy_version("sha256:other", T0, service="frontend"))
    kept = [v.image_id for v in store.versions(service="backend")]
    assert kept == [f"sha256:{n}" for n in reversed(range(3, VERSIONS_KEPT + 3))]
    assert [v.image_id for v in store.versions(service="frontend")] == ["sha256:other"]


def test_versions_are_kept_per_host(store: StateStore) -> None:
    store.record_version(healthy_version("sha256:aa", T0))
    store.record_version(healthy_version("sha256:bb", T0, host="other"))
    assert [v.image_id for v in store.versions(host="other")] == ["sha256:bb"]


def test_a_run_records_what_started_it_and_the_newest_runs_come_first(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.begin_run("r1", "p", ["h"], "run", start, LockOwner("r1"))
    store.begin_run("r2", "p", ["h"], "run", start + timedelta(seconds=1), LockOwner("r2"), trigger="alert")
    assert [(r.run_id, r.trigger) for r in store.latest_runs(5)] == [("r2", "alert"), ("r1", "timer")]
    assert [r.run_id for r in store.latest_runs(1)] == ["r2"]
    store.close()


def test_an_approval_is_stored_masked_and_answered_once(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.errors import ApprovalError
    from engine.secrets.redact import MASK

    redactor = Redactor()
    redactor.add_secret("hunter2-secret-value")
    monkeypatch.setattr(base, "REDACTOR", redactor)
    asked = store.request_approval(
        "a1", "h", "api", "restart", "down: hunter2-secret-value", ["restart: x"],
        {"token": "hunter2-secret-value"}, T0, T0 + timedelta(hours=1), "r1",
    )  # fmt: skip
    assert asked.status == "pending" and asked.reason == f"down: {MASK}" and MASK in str(asked.evidence)
    assert store.open_approval_for("h", "api") == asked
    approved = store.answer_approval("a1", True, "alice", T0 + timedelta(minutes=5))
    assert (approved.status, approved.answered_by) == ("approved", "alice")
    assert store.answer_approval("a1", True, "bob", T0 + timedelta(minutes=6)).answered_by == "alice"
    assert store.use_approval("a1", "r2", T0 + timedelta(minutes=7))
    assert not store.use_approval("a1", "r3", T0 + timedelta(minutes=8))  # acts once
    with pytest.raises(ApprovalError, match="already used"):
        store.answer_approval("a1", False, "bob", T0 + timedelta(minutes=9))
    assert store.open_approval_for("h", "api") is None


def test_an_approval_answered_after_its_expiry_is_denied_as_expired(store: StateStore) -> None:
    from engine.errors import ApprovalError

    store.request_approval("a2", "h", "api", "restart", "down", [], {}, T0, T0 + timedelta(hours=1), "r1")
    with pytest.raises(ApprovalError, match="expired"):
        store.answer_approval("a2", True, "alice", T0 + timedelta(hours=2))
    found = store.approval("a2")
    assert found is not None and found.status == "expired"


def test_state_changes_since_a_moment_are_read_for_every_node_at_once_oldest_first(
    store: StateStore,
) -> None:
    now = datetime.now(UTC)
    store.add_transition("h1", "db", now - timedelta(minutes=30), "failed")
    store.add_transition("h1", "db", now - timedelta(minutes=5), "healthy")
    store.add_transition("h1", "db", now - timedelta(minutes=9), "failed")
    store.add_transition("h2", "api", now - timedelta(minutes=1), "failed")
    found = store.transitions_since(now - timedelta(minutes=10))
    assert {key: [state for _, state in changes] for key, changes in found.items()} == {
        ("h1", "db"): ["failed", "healthy"],
        ("h2", "api"): ["failed"],
    }
    assert found[("h1", "db")] == store.transitions("h1", "db", now - timedelta(minutes=10))


# --- the fleet's ticks, tasks and workers --------------------------------------------------


def test_a_tick_is_recorded_once_with_its_tasks_queued(store: StateStore) -> None:
    tasks = [("a", ["a", "b"], "remediate.w1"), ("c", ["c"], "remediate")]
    assert store.record_tick("site", 42, T0, "scheduler-1", tasks)
    assert not store.record_tick("site", 42, T0, "scheduler-2", [("z", ["z"], "remediate")])
    assert [(t.tick, t.scheduler) for t in store.ticks("site")] == [(42, "scheduler-1")]
    found = store.fleet_task("site", 42, "a")
    assert found is not None and found.status == "queued" and found.hosts == ["a", "b"]
    assert store.fleet_task("site", 42, "z") is None


def test_a_queued_task_is_claimed_by_one_worker_only(store: StateStore) -> None:
    store.record_tick("site", 1, T0, "s", [("a", ["a"], "remediate")])
    assert store.claim_task("site", 1, "a", "w1", "r1", T0)
    assert not store.claim_task("site", 1, "a", "w2", "r2", T0)
    store.record_tick("site", 2, T0, "s", [("a", ["a"], "remediate")])
    assert store.later_tick_started("site", "a", 0)
    assert not store.later_tick_started("site", "a", 1)  # tick 2 is queued, not started


def test_current_queued_tasks_are_claimed_together_in_one_statement_once(store: StateStore) -> None:
    store.record_tick("site", 1, T0, "s", [("a", ["a"], "remediate"), ("b", ["b"], "remediate")])
    assert store.claim_fresh_tasks("site", 1, ["a", "b", "nope"], "w1", "r1", T0) == {"a", "b"}
    assert store.claim_fresh_tasks("site", 1, ["a", "b"], "w2", "r2", T0) == set()
    found = store.fleet_task("site", 1, "b")
    assert found is not None and (found.status, found.worker, found.run_id) == ("running", "w1", "r1")


def test_a_task_is_not_claimed_in_one_statement_once_a_later_tick_of_its_group_started(
    store: StateStore,
) -> None:
    for tick in (1, 2):
        store.record_tick("site", tick, T0, "s", [("a", ["a"], "remediate"), ("b", ["b"], "remediate")])
    store.claim_task("site", 2, "a", "w1", "r2", T0)
    # a's tick 1 is stale (decided in full); b's later tick is only queued: its tick 1 is current
    assert store.claim_fresh_tasks("site", 1, ["a", "b"], "w1", "r1", T0) == {"b"}
    found = store.fleet_task("site", 1, "a")
    assert found is not None and found.status == "queued"


def test_pruning_the_fleet_deletes_older_ticks_with_their_tasks_and_keeps_the_rest(store: StateStore) -> None:
    old, new = T0 - timedelta(days=8), T0
    store.record_tick("site", 1, old, "s", [("a", ["a"], "remediate"), ("b", ["b"], "remediate")])
    store.record_tick("site", 2, new, "s", [("a", ["a"], "remediate")])
    assert store.prune_fleet(T0 - timedelta(days=7)) == 1
    assert [t.tick for t in store.ticks("site")] == [2]
    assert store.fleet_task("site", 1, "a") is None and store.fleet_task("site", 1, "b") is None
    assert store.fleet_task("site", 2, "a") is not None
    assert store.prune_fleet(T0 - timedelta(days=7)) == 0


def test_a_task_is_taken_over_once_from_the_run_that_claimed_it(store: StateStore) -> None:
    store.record_tick("site", 1, T0, "s", [("a", ["a"], "remediate")])
    store.claim_task("site", 1, "a", "w1", "r1", T0)
    assert store.take_over_task("site", 1, "a", "r1", "w2", "r2", T0)
    assert not store.take_over_task("site", 1, "a", "r1", "w3", "r3", T0)
    store.finish_task("site", 1, "a", "done", "1 healthy", T0, 0)
    found = store.fleet_task("site", 1, "a")
    assert found is not None and (found.worker, found.status, found.exit_code) == ("w2", "done", 0)
    assert store.served_last() == {"w2": (1, ["a"])}


def test_the_nodes_a_run_acted_on_are_known_by_its_id(store: StateStore) -> None:
    store.begin_attempt("r1", "a", "db", 1, "restart", "command", T0)
    store.begin_attempt("r2", "a", "web", 1, "restart", "command", T0)
    assert store.acted_in_run("r1") == {("a", "db")}


def test_a_finished_runs_tasks_are_recorded_done_together_each_with_its_own_counts(store: StateStore) -> None:
    store.record_tick("site", 1, T0, "s", [(g, [g], "remediate") for g in ("a", "b", "c")])
    ends = [base.TaskEnd("a", "done", "1 healthy", 0), base.TaskEnd("b", "done", "1 failed", 2)]
    store.finish_tasks("site", 1, ends, T0 + timedelta(seconds=3))
    found = {g: store.fleet_task("site", 1, g) for g in ("a", "b", "c")}
    assert [(t.status, t.reason, t.exit_code) for t in found.values() if t] == [
        ("done", "1 healthy", 0),
        ("done", "1 failed", 2),
        ("queued", "", None),
    ]


# --- what a run reads at its start -------------------------------------------------------


def test_the_memory_of_a_runs_hosts_is_read_at_once_and_only_theirs(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "IN_CHUNK", 2)  # several statements' worth of hosts
    hosts = [f"h{i}" for i in range(5)]
    for host in [*hosts, "other"]:
        store.save_node_state(NodeState(host, "api", "healthy", T0, T0, None, 1, T0))
    found = store.node_states(hosts[1:])
    assert [(s.host, s.node, s.failures) for s in found] == [(h, "api", 1) for h in hosts[1:]]
    assert store.node_states([]) == []


def test_the_nodes_with_an_open_approval_are_known_for_a_runs_hosts(store: StateStore) -> None:
    def ask(approval_id: str, host: str, node: str) -> None:
        store.request_approval(
            approval_id, host, node, "restart", "down", [], {}, T0, T0 + timedelta(hours=1), "r1"
        )

    ask("a1", "web1", "api")
    ask("a2", "web2", "api")
    ask("a3", "db1", "postgres")
    store.answer_approval("a2", False, "ops", T0)  # denied: closed
    assert store.open_approval_keys(["web1", "web2", "web3"]) == {("web1", "api")}
