"""The operator's commands: pause, resume, reset, status, history, and `run --state`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine import exit_codes
from engine.cli.app import cli
from tests.support.playbooks import approval_playbook, one_node, write_playbook
from tests.support.unattended import Switch


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def remediate(state: Path, *arguments: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in arguments], env={"REMEDIATE_STATE": str(state)})


def playbook(tmp_path: Path, switch: Switch, limit: int = 3) -> Path:
    limits = f"limit: {{max: {limit}, within: 1h}}\n            run_backoff: {{initial: 0s}}"
    return write_playbook(tmp_path, one_node(switch.check(), switch.unfixable_action(), node=limits))


def test_a_paused_node_is_not_touched_until_it_is_resumed(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    book = playbook(tmp_path, switch)
    paused = remediate(state, "pause", "api", "--for", "2h", "--reason", "migrating")
    assert paused.exit_code == 0 and "paused api until" in paused.output
    result = remediate(state, "run", book)
    assert result.exit_code == exit_codes.PROBLEMS and "paused" in result.output
    assert switch.actions_run == 0
    assert remediate(state, "resume", "api").exit_code == 0
    remediate(state, "run", book)
    assert switch.actions_run == 1


def test_resuming_a_node_that_is_not_paused_says_so(state: Path) -> None:
    result = remediate(state, "resume", "api")
    assert result.exit_code == exit_codes.PROBLEMS and "was not paused" in result.output


def test_status_shows_what_is_suppressed_paused_and_escalated(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    book = playbook(tmp_path, switch, limit=1)
    remediate(state, "run", book)
    remediate(state, "run", book)
    remediate(state, "pause", "web1:db", "--reason", "disk swap")
    output = remediate(state, "status").output
    assert "suppressed (not remediated): localhost:api" in output
    assert "escalated: localhost:api [P2]" in output
    assert "paused: web1:db until resumed" in output and "disk swap" in output


def test_reset_clears_a_suppression(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    book = playbook(tmp_path, switch, limit=1)
    remediate(state, "run", book)
    assert "suppressed" in remediate(state, "run", book).output
    assert remediate(state, "reset", "api").output == "reset api on localhost\n"
    remediate(state, "run", book)
    assert switch.actions_run == 2
    status = remediate(state, "status").output
    assert "suppressed (not remediated)" not in status
    # The reset closed the escalation; the new one is for the ladder this run climbed in vain.
    assert "escalated: localhost:api [P2]" in status and "still down after its whole ladder" in status


def test_history_lists_actions_outcomes_and_escalations_for_a_node(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    book = playbook(tmp_path, switch, limit=1)
    remediate(state, "run", book)
    remediate(state, "run", book)
    lines = [
        json.loads(line)
        for line in remediate(state, "history", "--node", "api", "--json").output.splitlines()
    ]
    assert [(line["kind"], line["outcome"]) for line in lines] == [
        ("action", "changed"),
        ("node", "failed"),
        ("escalation", "escalated"),  # its ladder spent in the first run
        ("node", "suppressed"),
    ]
    assert lines[0]["action"] == "command" and lines[0]["host"] == "localhost"


def test_history_since_leaves_out_older_entries(tmp_path: Path, state: Path) -> None:
    remediate(state, "run", playbook(tmp_path, Switch(tmp_path)))
    assert remediate(state, "history", "--since", "0s").output.startswith("nothing recorded since")


def test_run_writes_prometheus_metrics_to_a_textfile(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    metrics = tmp_path / "textfile" / "remediate.prom"
    book = playbook(tmp_path, switch, limit=1)
    remediate(state, "run", book, "--metrics-textfile", metrics)
    remediate(state, "run", book, "--metrics-textfile", metrics)
    text = metrics.read_text()
    assert 'remediate_node_suppressed{host="localhost",node="api"} 1.0' in text
    assert 'remediate_node_status{host="localhost",node="api",outcome="suppressed"} 1.0' in text
    assert 'remediate_actions_total{host="localhost",node="api",outcome="changed"} 1.0' in text
    assert 'remediate_remediations_total{host="localhost",node="api",outcome="failed"} 1.0' in text
    assert 'remediate_remediations_total{host="localhost",node="api",outcome="suppressed"} 1.0' in text
    assert "remediate_escalations_open 1.0" in text
    assert "remediate_run_duration_seconds" in text
    assert list(metrics.parent.iterdir()) == [metrics]  # no temporary file left behind


def test_a_state_store_that_cannot_be_opened_is_an_invalid_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = remediate(blocker / "state.db", "status")
    assert result.exit_code == exit_codes.INVALID
    assert "cannot open the state store" in result.output


def test_a_dry_run_without_a_state_store_creates_none(tmp_path: Path, state: Path) -> None:
    remediate(state, "run", playbook(tmp_path, Switch(tmp_path)), "--dry-run")
    assert not state.exists()


def test_versions_lists_each_services_healthy_versions_newest_first(state: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from engine.unattended.state import open_store
    from engine.unattended.state.base import VersionRecord

    store = open_store(str(state))
    for hour, image_id in enumerate(["sha256:old", "sha256:new"]):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hour)
        record = VersionRecord(
            "h", "shop", "backend", "shop-backend-1", image_id, "shop/backend:1", "", "", "0042", "be", at, at
        )
        store.record_version(record)
    store.close()
    table = remediate(state, "versions").output.splitlines()
    assert [("sha256:new" in line, "shop/backend" in line, "alembic 0042" in line) for line in table] == [
        (True, True, True),
        (False, True, True),
    ]
    lines = [
        json.loads(line)
        for line in remediate(state, "versions", "--service", "backend", "--json").output.splitlines()
    ]
    assert [line["image_id"] for line in lines] == ["sha256:new", "sha256:old"]


def test_versions_says_when_none_is_recorded(state: Path) -> None:
    result = remediate(state, "versions", "--service", "backend")
    assert (result.exit_code, result.output.strip()) == (0, "no healthy version recorded yet of backend")


def approval_book(tmp_path: Path, switch: Switch) -> Path:
    return approval_playbook(tmp_path, switch.check(), switch.fixing_action())


def test_a_step_awaiting_approval_is_listed_approved_by_id_and_run_once(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    book = approval_book(tmp_path, switch)
    waiting = remediate(state, "run", book)
    assert waiting.exit_code == exit_codes.PROBLEMS and "awaiting_approval" in waiting.output
    [listed] = [json.loads(line) for line in remediate(state, "approvals", "--json").stdout.splitlines()]
    assert (listed["node"], listed["step"], listed["status"]) == ("api", "restart api", "pending")
    assert listed["id"] in remediate(state, "approvals").output
    approved = remediate(state, "approve", listed["id"])
    assert approved.exit_code == 0 and f"approved {listed['id']}" in approved.output
    assert remediate(state, "approve", listed["id"]).exit_code == 0  # twice: still one action
    assert remediate(state, "run", book).exit_code == 0
    assert remediate(state, "run", book).exit_code == 0
    assert switch.actions_run == 1
    history = [json.loads(line) for line in remediate(state, "history", "--json").stdout.splitlines()]
    [answer] = [h for h in history if h["kind"] == "approval" and h["outcome"] == "approved"]
    assert answer["reason"].startswith("approved by ")


def test_a_denied_step_is_not_run(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    book = approval_book(tmp_path, switch)
    remediate(state, "run", book)
    [listed] = [json.loads(line) for line in remediate(state, "approvals", "--json").stdout.splitlines()]
    denied = remediate(state, "deny", listed["id"], "--reason", "not during the sale")
    assert denied.exit_code == 0 and f"denied {listed['id']}" in denied.output
    result = remediate(state, "run", book)
    assert result.exit_code == exit_codes.PROBLEMS and "denied by" in result.output
    assert switch.actions_run == 0
    again = remediate(state, "approve", listed["id"])
    assert again.exit_code == exit_codes.INVALID and "already denied" in again.output


def test_approving_an_unknown_id_is_an_invalid_input_without_a_traceback(state: Path) -> None:
    result = remediate(state, "approve", "nosuchid")
    assert result.exit_code == exit_codes.INVALID
    assert "no approval 'nosuchid'" in result.output and "Traceback" not in result.output


def test_a_dry_run_says_which_steps_would_wait_for_approval(tmp_path: Path, state: Path) -> None:
    switch = Switch(tmp_path)
    result = remediate(state, "run", "--dry-run", approval_book(tmp_path, switch))
    assert "waits for an operator's approval" in result.output
