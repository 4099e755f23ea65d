"""What the status page gathers: in a few queries whatever the number of nodes, each node's
rules judged on its own windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.unattended.state import StateStore, open_store
from engine.web.status import REUSE_SECONDS, node_statuses, plan_view
from tests.support.playbooks import plan


def book(nodes: int) -> str:
    lines = ["name: many", "checks:"]
    for i in range(nodes):
        lines.append(f'  n{i}: {{command: {{cmd: "true"}}, flapping: {{changes: 2, within: 30m}}}}')
    return "\n".join(lines) + "\n"


def queries(store: StateStore, work: object) -> int:
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    try:
        assert callable(work)
        work()
    finally:
        store._connection().set_trace_callback(None)
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))


def test_the_number_of_queries_does_not_grow_with_the_number_of_nodes(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    now = datetime.now(UTC)
    (tmp_path / "few").mkdir()
    (tmp_path / "many").mkdir()
    few, many = plan(tmp_path / "few", book(3)), plan(tmp_path / "many", book(60))
    for i in range(60):
        store.add_transition("localhost", f"n{i}", now - timedelta(minutes=1), "failed")
    assert queries(store, lambda: node_statuses(many, store, now)) == queries(
        store, lambda: node_statuses(few, store, now)
    )


def test_each_node_counts_the_state_changes_within_its_own_flapping_window(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "state.db"))
    now = datetime.now(UTC)
    playbook = plan(
        tmp_path,
        """
        name: windows
        checks:
          short: {command: {cmd: "true"}, flapping: {changes: 2, within: 10m}}
          long: {command: {cmd: "true"}, flapping: {changes: 2, within: 1h}}
        """,
    )
    for node in ("short", "long"):
        for minutes in (40, 35, 30):  # three changes, outside the short window, inside the long one
            store.add_transition("localhost", node, now - timedelta(minutes=minutes), "failed")
    holds = {s.node: s.hold for s in node_statuses(playbook, store, now)}
    assert holds["short"] is None
    assert holds["long"] is not None


def test_a_status_is_reused_only_while_its_records_are_unchanged_and_for_at_most_a_second(
    tmp_path: Path,
) -> None:
    store = open_store(str(tmp_path / "state.db"))
    playbook = plan(tmp_path, 'name: one\nchecks:\n  db: {command: {cmd: "true"}}\n')
    view = plan_view(playbook)
    now = datetime.now(UTC)
    store.set_pause("localhost", "db", now + timedelta(milliseconds=500), "disk swap", now, "alice")
    [first] = node_statuses(playbook, store, now, view)
    store.record_outcome("r1", "localhost", "db", "healthy", "", {}, "P2", now)
    [changed] = node_statuses(playbook, store, now + timedelta(milliseconds=100), view)
    [same] = node_statuses(playbook, store, now + timedelta(milliseconds=200), view)
    [later] = node_statuses(playbook, store, now + timedelta(seconds=REUSE_SECONDS + 0.1), view)
    assert (first.outcome, first.hold) == ("unknown", "paused")
    assert (changed.outcome, changed.hold) == ("healthy", "paused")  # a new record: seen at once
    assert same is changed
    assert later.hold is None  # the pause ended: the clock alone, seen within a second
