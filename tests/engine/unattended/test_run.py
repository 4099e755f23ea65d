"""Runs with memory, in process, against a real state store (SQLite and PostgreSQL) with an
injected clock: what is recorded, what is held back, what escalates, and only once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.clients.docker import PROJECT_LABEL, SERVICE_LABEL
from engine.core.node import Mode
from engine.core.results import Outcome
from engine.unattended.state import StateStore, open_store
from engine.unattended.state.base import RUNNING, Approval
from tests.servers.docker import LABELS, ContainerFactory, ImageFactory, unique_project
from tests.support import playbooks
from tests.support.clock import FakeClock
from tests.support.unattended import Switch, messages, notify_log, run_every_minute, run_once

if TYPE_CHECKING:
    from docker import DockerClient


@pytest.fixture
def store(state_location: str) -> Iterator[StateStore]:
    opened = open_store(state_location)
    yield opened
    opened.close()


def one_node(switch: Switch, action: str, extra: str = "", notify: str = "") -> str:
    return playbooks.one_node(switch.check(), action, name="unattended", header=notify, node=extra)


def test_every_action_is_recorded_with_its_node_outcome_duration_and_reason(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    report = run_once(tmp_path, one_node(switch, switch.fixing_action()), store, clock)
    assert report.node("localhost", "api").outcome is Outcome.REMEDIATED
    [attempt] = store.attempts("localhost", "api")
    assert (attempt.run_id, attempt.step, attempt.action, attempt.attempt) == (
        report.run_id,
        "restart api",
        "command",
        1,
    )
    assert attempt.outcome == "changed" and attempt.duration_ms is not None and attempt.duration_ms > 0
    assert attempt.started_at == clock.now()  # times come from the injected clock
    [outcome] = [e for e in store.history() if e.kind == "node"]
    assert (outcome.outcome, outcome.run_id) == ("remediated", report.run_id)
    [run] = store.runs()
    assert (run.run_id, run.exit_code, run.counts) == (report.run_id, 0, {"remediated": 1})


def test_an_unfixable_node_is_acted_on_no_more_often_than_its_limit_across_runs(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    text = one_node(
        switch,
        switch.unfixable_action(),
        "limit: {max: 3, within: 1h}\n            run_backoff: {initial: 0s}",
    )
    outcomes = run_every_minute(tmp_path, text, store, clock, 12)
    assert switch.actions_run == 3
    assert outcomes == [Outcome.FAILED] * 3 + [Outcome.SUPPRESSED] * 9


def test_a_node_still_down_after_its_whole_ladder_escalates_at_once_with_its_severity(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    command, log = notify_log(tmp_path)
    text = one_node(
        switch,
        switch.unfixable_action(),
        "severity: P0\n            retries: 1\n            backoff: {initial: 0s}",
        notify=f'notify: [{{command: {{cmd: "{command}"}}}}]',
    )
    report = run_once(tmp_path, text, store, clock)
    assert report.node("localhost", "api").outcome is Outcome.FAILED
    [escalation] = messages(log)
    assert (escalation["event"], escalation["node"], escalation["severity"]) == ("escalation", "api", "P0")
    assert escalation["reason"].startswith(
        "still down after its whole ladder (2 rungs tried in 2 attempts): "
    )
    assert [t["step"] for t in escalation["tried"]] == ["restart api", "restart api"]
    [opened] = store.escalations(open_only=True)
    assert (opened.scope, opened.severity) == ("localhost:api", "P0")


def test_a_node_that_only_reports_or_was_not_acted_on_does_not_escalate(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    command, log = notify_log(tmp_path)
    report_only = f"""
        name: unattended
        notify: [{{command: {{cmd: "{command}"}}}}]
        checks:
          api:
            command: {{cmd: "{switch.check()}"}}
    """
    assert run_once(tmp_path, report_only, store, clock).exit_code == 1
    assert messages(log) == [] and store.escalations() == []


def test_an_unfixable_node_escalates_when_its_ladder_is_spent_and_once_more_when_its_limit_is_reached(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    command, log = notify_log(tmp_path)
    text = one_node(
        switch,
        switch.unfixable_action(),
        "limit: {max: 2, within: 1h}\n            run_backoff: {initial: 0s}\n            severity: P1",
        notify=f'notify: [{{command: {{cmd: "{command}"}}}}]',
    )
    run_every_minute(tmp_path, text, store, clock, 8)
    spent, held = messages(log)  # not once per run: once for the ladder, once for the limit
    assert (spent["event"], spent["host"], spent["node"], spent["severity"]) == (
        "escalation",
        "localhost",
        "api",
        "P1",
    )
    assert spent["reason"].startswith("still down after its whole ladder (1 rung tried in 1 attempt)")
    assert [t["step"] for t in spent["tried"]] == ["restart api"]
    assert held["event"] == "escalation"
    assert "limit reached: 2 remediation attempts within 1h" in held["reason"]
    assert [t["step"] for t in held["tried"]] == ["restart api", "restart api"]
    assert held["evidence"]["exit_code"] == 1
    [escalation] = store.escalations(open_only=True)  # one per node while open
    assert escalation.reason.startswith("limit reached")


def test_a_node_held_back_with_no_spent_ladder_escalates_once_for_the_hold(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    command, log = notify_log(tmp_path)
    text = one_node(
        switch,
        switch.unfixable_action(),
        "limit: {max: 1, within: 1h}",
        notify=f'notify: [{{command: {{cmd: "{command}"}}}}]',
    )
    run_once(tmp_path, text, store, clock)
    store.close_escalation("localhost:api", clock.now())  # an operator dealt with the spent ladder
    run_every_minute(tmp_path, text, store, clock, 3)
    assert [m["reason"].split(":")[0] for m in messages(log)] == [
        "still down after its whole ladder (1 rung tried in 1 attempt)",
        "limit reached",
    ]


def test_a_node_that_recovers_by_itself_closes_its_escalation_with_one_recovery_message(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    command, log = notify_log(tmp_path)
    text = one_node(
        switch,
        switch.unfixable_action(),
        "limit: {max: 1, within: 1h}\n            run_backoff: {initial: 0s}",
        notify=f'notify: [{{command: {{cmd: "{command}"}}}}]',
    )
    run_every_minute(tmp_path, text, store, clock, 3)
    switch.heal()
    assert run_every_minute(tmp_path, text, store, clock, 3) == [Outcome.HEALTHY] * 3
    assert [m["event"] for m in messages(log)] == ["escalation", "escalation", "recovery"]
    assert store.escalations(open_only=True) == []


def test_an_escalation_whose_delivery_failed_is_sent_again_by_the_next_run(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    _, log = notify_log(tmp_path)
    gate = tmp_path / "notify-works"
    command = f"[ -e {gate} ] && (cat; echo) >> {log}"
    text = one_node(
        switch,
        switch.unfixable_action(),
        "limit: {max: 1, within: 1h}\n            run_backoff: {initial: 0s}",
        notify=f'notify: [{{command: {{cmd: "{command}"}}}}]',
    )
    run_once(tmp_path, text, store, clock)
    clock.sleep(60)
    run_once(tmp_path, text, store, clock)  # escalates; the receiver fails
    assert messages(log) == []
    gate.touch()
    for _ in range(3):
        clock.sleep(60)
        run_once(tmp_path, text, store, clock)
    assert [m["event"] for m in messages(log)] == ["escalation"]


def test_a_paused_node_is_checked_and_reported_but_not_touched(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    store.set_pause("*", "api", None, "migrating", clock.now(), "alice")
    report = run_once(tmp_path, one_node(switch, switch.fixing_action()), store, clock)
    result = report.node("localhost", "api")
    assert (result.outcome, result.reason) == (Outcome.PAUSED, "paused by alice: migrating")
    assert switch.actions_run == 0
    assert report.exit_code == 1


def test_a_pause_for_a_while_ends_by_itself(tmp_path: Path, store: StateStore, clock: FakeClock) -> None:
    switch = Switch(tmp_path)
    store.set_pause("*", "api", clock.now() + timedelta(hours=2), "deploy", clock.now(), "bob")
    clock.sleep(2 * 3600 + 1)
    assert (
        run_once(tmp_path, one_node(switch, switch.fixing_action()), store, clock)
        .node("localhost", "api")
        .outcome
        is Outcome.REMEDIATED
    )


def blast_playbook(switches: list[Switch], share: str, max_actions: str = "") -> str:
    nodes = "\n".join(
        f"""          {s.name}:
            command: {{cmd: "{s.check()}"}}
            verify: {{within: 0s}}
            remediate: [{{command: {{cmd: "{s.fixing_action()}"}}}}]"""
        for s in switches
    )
    limits = f"max_unhealthy_share: {share}" + (
        f", max_actions_per_run: {max_actions}" if max_actions else ""
    )
    return f"name: blast\nrun_limits: {{{limits}}}\nchecks:\n{nodes}\n"


def test_when_too_many_nodes_are_unhealthy_at_once_none_is_touched_and_the_run_escalates(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switches = [Switch(tmp_path, name) for name in ("a", "b", "c", "d")]
    switches[0].heal()
    report = run_once(tmp_path, blast_playbook(switches, "0.5"), store, clock)
    assert [n.outcome for n in report.nodes] == [Outcome.HEALTHY] + [Outcome.SUPPRESSED] * 3
    assert "blast radius: 3 of 4 nodes unhealthy at once" in report.node("localhost", "b").reason
    assert sum(s.actions_run for s in switches) == 0
    [escalation] = store.escalations(open_only=True)
    assert escalation.scope == "run:blast:localhost"


def test_a_few_unhealthy_nodes_are_within_the_blast_radius_and_remediated(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switches = [Switch(tmp_path, name) for name in ("a", "b", "c", "d")]
    switches[0].heal()
    switches[1].heal()
    report = run_once(tmp_path, blast_playbook(switches, "0.5"), store, clock)
    assert [n.outcome for n in report.nodes] == [Outcome.HEALTHY] * 2 + [Outcome.REMEDIATED] * 2


def test_max_actions_per_run_bounds_what_one_run_does(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switches = [Switch(tmp_path, name) for name in ("a", "b", "c")]
    text = blast_playbook(switches, "1.0", max_actions="1")
    report = run_once(tmp_path, text, store, clock)
    assert sorted(str(n.outcome) for n in report.nodes) == ["remediated", "suppressed", "suppressed"]
    assert sum(s.actions_run for s in switches) == 1
    clock.sleep(60)
    run_once(tmp_path, text, store, clock)
    assert sum(s.actions_run for s in switches) == 2


def test_a_dry_run_shows_a_suppression_and_records_nothing(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    text = one_node(
        switch,
        switch.unfixable_action(),
        "limit: {max: 1, within: 1h}\n            run_backoff: {initial: 0s}",
    )
    run_once(tmp_path, text, store, clock)
    recorded = len(store.history())
    report = run_once(tmp_path, text, store, clock, mode=Mode.DRY_RUN)
    assert report.node("localhost", "api").outcome is Outcome.SUPPRESSED
    assert len(store.history()) == recorded
    assert len(store.runs()) == 1


def test_a_node_inside_its_start_period_is_left_alone_by_the_next_run(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    text = one_node(
        switch, switch.unfixable_action(), "start_period: 5m\n            run_backoff: {initial: 0s}"
    )
    run_once(tmp_path, text, store, clock)
    clock.sleep(60)
    assert run_once(tmp_path, text, store, clock).node("localhost", "api").outcome is Outcome.STARTING
    clock.sleep(300)
    assert run_once(tmp_path, text, store, clock).node("localhost", "api").outcome is Outcome.FAILED
    assert switch.actions_run == 2


def test_an_operators_reset_during_a_run_is_what_the_run_counts_on_from(
    tmp_path: Path, store: StateStore, clock: FakeClock, state_location: str
) -> None:
    # The run reads its nodes' memory once at its start; the node's check here resets it from
    # another process, as `remediate reset` would meanwhile.
    switch = Switch(tmp_path)
    script = tmp_path / "reset.py"
    script.write_text(
        "import sys\nfrom datetime import UTC, datetime\nfrom engine.unattended import limits\n"
        "from engine.unattended.state import open_store\n"
        "store = open_store(sys.argv[1])\n"
        "store.save_node_state(limits.reset(store.node_state('localhost', 'api'), datetime.now(UTC)))\n"
    )
    text = one_node(switch, switch.unfixable_action(), "run_backoff: {initial: 0s}")
    run_once(tmp_path, text, store, clock)
    assert store.node_state("localhost", "api").failures == 1
    clock.sleep(60)
    resetting = text.replace(switch.check(), f"{sys.executable} {script} {state_location}; {switch.check()}")
    assert run_once(tmp_path, resetting, store, clock).node("localhost", "api").outcome is Outcome.FAILED
    assert store.node_state("localhost", "api").failures == 1  # 0 after the reset, and this failure


def test_an_attempt_left_running_by_a_crash_counts_against_the_limit(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    store.begin_attempt("crashed", "localhost", "api", 1, "restart api", "command", clock.now())
    clock.sleep(60)
    text = one_node(switch, switch.unfixable_action(), "limit: {max: 1, within: 1h}")
    assert run_once(tmp_path, text, store, clock).node("localhost", "api").outcome is Outcome.SUPPRESSED
    assert [a.outcome for a in store.attempts("localhost", "api")] == [RUNNING]


def test_a_paused_dependent_is_not_restarted_after_its_upstream_recovers(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    db, web = Switch(tmp_path, "db"), Switch(tmp_path, "web")
    web.heal()
    store.set_pause("*", "web", None, "hands off", clock.now(), "alice")
    text = f"""
        name: stale
        checks:
          db:
            command: {{cmd: "{db.check()}"}}
            verify: {{within: 0s}}
            remediate: [{{command: {{cmd: "{db.fixing_action()}"}}}}]
          web:
            depends_on: [db]
            on_upstream_recovery: restart
            command: {{cmd: "{web.check()}"}}
            remediate: [{{command: {{cmd: "{web.fixing_action()}"}}}}]
    """
    report = run_once(tmp_path, text, store, clock)
    assert report.node("localhost", "db").outcome is Outcome.REMEDIATED
    result = report.node("localhost", "web")
    assert result.outcome is Outcome.HEALTHY and "paused by alice" in result.reason
    assert web.actions_run == 0


def test_a_flapping_node_is_suppressed_and_escalated_instead_of_fixed_again(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    text = one_node(
        switch,
        switch.fixing_action(),
        "limit: null\n            run_backoff: {initial: 0s}\n            flapping: {changes: 3, within: 1h}",
    )
    outcomes = []
    for _ in range(3):  # it is fixed every time, and breaks again before the next run
        outcomes.append(run_once(tmp_path, text, store, clock).node("localhost", "api").outcome)
        switch.break_()
        clock.sleep(60)
    assert outcomes == [Outcome.REMEDIATED, Outcome.REMEDIATED, Outcome.SUPPRESSED]
    assert switch.actions_run == 2
    [escalation] = store.escalations(open_only=True)
    assert escalation.reason == "flapping: 4 state changes within 1h (more than 3)"


@pytest.mark.docker
def test_a_container_seen_healthy_is_recorded_as_a_version_to_roll_back_to(
    tmp_path: Path, store: StateStore, clock: FakeClock, make_container: ContainerFactory
) -> None:
    project = unique_project()
    container = make_container(compose=(project, "backend"))
    playbook = f"""
        name: versions
        checks:
          backend_up:
            docker_container: {{project: {project}, service: backend}}
    """
    assert (
        run_once(tmp_path, playbook, store, clock).node("localhost", "backend_up").outcome is Outcome.HEALTHY
    )
    [version] = store.versions(service="backend")
    assert (version.host, version.project, version.node) == ("localhost", project, "backend_up")
    assert (version.container, version.image_id) == (container.name, container.attrs["Image"])


@pytest.mark.docker
def test_a_container_that_is_not_healthy_records_no_version(
    tmp_path: Path, store: StateStore, clock: FakeClock, make_container: ContainerFactory
) -> None:
    project = unique_project()
    make_container(compose=(project, "backend"), start=False)
    playbook = f"""
        name: versions
        checks:
          backend_up:
            docker_container: {{project: {project}, service: backend}}
    """
    assert (
        run_once(tmp_path, playbook, store, clock).node("localhost", "backend_up").outcome is Outcome.FAILED
    )
    assert store.versions() == []


@pytest.mark.docker
def test_a_rollback_step_goes_back_to_the_version_an_earlier_run_recorded_healthy(
    tmp_path: Path,
    store: StateStore,
    clock: FakeClock,
    docker_client: DockerClient,
    make_image: ImageFactory,
) -> None:
    project = unique_project()
    good, bad = make_image("exec sleep 3600", "1"), make_image("exit 3", "2")
    labels = {**LABELS, PROJECT_LABEL: project, SERVICE_LABEL: "backend"}
    name = f"{project}-backend-1"
    docker_client.containers.run(good, name=name, labels=labels, detach=True, network_mode="none")
    playbook = f"""
        name: rollback
        checks:
          backend_up:
            docker_container: {{project: {project}, service: backend}}
            remediate:
              - docker_rollback: {{project: {project}, service: backend, verify_timeout: 20s}}
    """
    try:
        assert (
            run_once(tmp_path, playbook, store, clock).node("localhost", "backend_up").outcome
            is Outcome.HEALTHY
        )
        docker_client.containers.get(name).remove(force=True)  # a bad deploy replaces it
        docker_client.containers.run(bad, name=name, labels=labels, detach=True, network_mode="none")

        node = run_once(tmp_path, playbook, store, clock).node("localhost", "backend_up")

        assert node.outcome is Outcome.REMEDIATED, node.reason
        assert docker_client.containers.get(name).attrs["Image"] == docker_client.images.get(good).id
    finally:
        for leftover in docker_client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={project}"}
        ):
            leftover.remove(force=True)


# --- approvals ---------------------------------------------------------------------------


def approval_playbook(switch: Switch, notify: str = "", first_rung: str = "") -> str:
    """`api` whose restart needs an operator's approval (after an optional first rung that
    does not), and `web` depending on it."""
    return f"""
        name: unattended
        approvals: {{expires: 2h, page: "https://ops.example/remediate/"}}
        {notify}
        checks:
          api:
            command: {{cmd: "{switch.check()}"}}
            verify: {{within: 0s}}
            run_backoff: {{initial: 0s}}
            remediate:
              {first_rung}
              - name: restart api
                approval: required
                command: {{cmd: "{switch.fixing_action()}"}}
          web:
            depends_on: [api]
            command: {{cmd: "true"}}
    """


def first_request(tmp_path: Path, store: StateStore, clock: FakeClock) -> tuple[Switch, str, Approval]:
    """A broken node behind an approval step, run once: (its switch, the playbook, the pending
    approval that run asked for)."""
    switch = Switch(tmp_path)
    text = approval_playbook(switch)
    run_once(tmp_path, text, store, clock)
    [pending] = store.approvals()
    return switch, text, pending


def test_a_step_needing_approval_ends_its_node_awaiting_approval_and_blocks_dependents(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    report = run_once(tmp_path, approval_playbook(switch), store, clock)
    api, web = report.node("localhost", "api"), report.node("localhost", "web")
    [pending] = store.approvals(open_only=True)
    assert api.outcome is Outcome.AWAITING_APPROVAL
    assert f"remediate approve {pending.id}" in api.reason
    assert web.outcome is Outcome.BLOCKED and web.blocked_by == ["api"]
    assert switch.actions_run == 0
    assert report.exit_code == 1
    assert (pending.status, pending.step, pending.host, pending.node) == (
        "pending",
        "restart api",
        "localhost",
        "api",
    )
    assert pending.plan == [
        f"restart api: command: {switch.fixing_action()} [waits for an operator's approval]"
    ]
    assert pending.evidence["exit_code"] == 1
    assert pending.expires_at == clock.now() + timedelta(hours=2)


def test_a_second_run_before_an_answer_asks_nothing_new(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    outcomes = run_every_minute(tmp_path, approval_playbook(switch), store, clock, 3)
    assert outcomes == [Outcome.AWAITING_APPROVAL] * 3
    assert len(store.approvals()) == 1 and switch.actions_run == 0


def test_the_approval_request_is_sent_with_its_id_and_page_link(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    command, log = notify_log(tmp_path)
    notify = f'notify: [{{command: {{cmd: "{command}"}}}}]'
    run_every_minute(tmp_path, approval_playbook(switch, notify), store, clock, 2)
    [message] = messages(log)  # asked once, not once per run
    [pending] = store.approvals()
    assert message["event"] == "approval"
    assert message["approval"]["id"] == pending.id
    assert (
        message["approval"]["url"]
        == f"https://ops.example/remediate/nodes/localhost/api#approval-{pending.id}"
    )
    assert message["approval"]["approve"] == f"remediate approve {pending.id}"


def test_after_approval_the_next_run_acts_once_and_who_approved_is_in_the_history(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch, text, pending = first_request(tmp_path, store, clock)
    store.answer_approval(pending.id, True, "alice", clock.now())
    store.answer_approval(pending.id, True, "alice", clock.now())  # approving twice acts once
    clock.sleep(60)
    assert run_once(tmp_path, text, store, clock).node("localhost", "api").outcome is Outcome.REMEDIATED
    switch.break_()
    clock.sleep(60)
    again = run_once(tmp_path, text, store, clock).node("localhost", "api")
    assert again.outcome is Outcome.AWAITING_APPROVAL  # a new request: the old approval was used
    assert switch.actions_run == 1
    used = store.approval(pending.id)
    assert used is not None and used.status == "used"
    answers = [e for e in store.history(node="api") if e.kind == "approval" and e.outcome == "approved"]
    assert [a.reason for a in answers] == ["approved by alice"]


def test_an_approved_node_that_is_healthy_again_is_not_touched(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch, text, pending = first_request(tmp_path, store, clock)
    store.answer_approval(pending.id, True, "alice", clock.now())
    switch.heal()
    clock.sleep(60)
    assert run_once(tmp_path, text, store, clock).node("localhost", "api").outcome is Outcome.HEALTHY
    assert switch.actions_run == 0
    withdrawn = store.approval(pending.id)
    assert withdrawn is not None and withdrawn.status == "withdrawn"


def test_an_expired_approval_is_denied_and_says_so_and_the_next_run_asks_again(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    from engine.errors import ApprovalError

    switch, text, first = first_request(tmp_path, store, clock)
    clock.sleep(3 * 3600)
    with pytest.raises(ApprovalError, match=f"approval {first.id} expired .* unanswered: it is denied"):
        store.answer_approval(first.id, True, "alice", clock.now())
    expired = store.approval(first.id)
    assert expired is not None and expired.status == "expired"
    result = run_once(tmp_path, text, store, clock).node("localhost", "api")
    assert result.outcome is Outcome.AWAITING_APPROVAL
    [second] = store.approvals(open_only=True)
    assert second.id != first.id and switch.actions_run == 0


def test_an_approval_expiring_before_any_answer_is_denied_by_the_next_run(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    _, text, first = first_request(tmp_path, store, clock)
    clock.sleep(3 * 3600)
    result = run_once(tmp_path, text, store, clock).node("localhost", "api")
    assert f"approval {first.id} expired unanswered (denied), asked again" in result.reason
    expired = store.approval(first.id)
    assert expired is not None and expired.status == "expired"


def test_a_denied_step_is_not_run_and_the_node_is_paused_until_the_denial_expires(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch, text, pending = first_request(tmp_path, store, clock)
    store.answer_approval(pending.id, False, "bob", clock.now())
    clock.sleep(60)
    result = run_once(tmp_path, text, store, clock).node("localhost", "api")
    assert result.outcome is Outcome.PAUSED
    assert f"denied by bob (approval {pending.id})" in result.reason
    assert switch.actions_run == 0
    clock.sleep(3 * 3600)
    assert (
        run_once(tmp_path, text, store, clock).node("localhost", "api").outcome is Outcome.AWAITING_APPROVAL
    )


def test_the_ladder_climbs_the_rungs_without_approval_before_asking(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    first = f'- name: try gently\n                command: {{cmd: "{switch.unfixable_action()}"}}'
    report = run_once(tmp_path, approval_playbook(switch, first_rung=first), store, clock)
    api = report.node("localhost", "api")
    assert api.outcome is Outcome.AWAITING_APPROVAL
    assert [(s.step, s.status) for s in api.steps] == [
        ("try gently", "changed"),
        ("restart api", "awaiting_approval"),
    ]
    assert switch.actions_run == 1


def test_a_dry_run_shows_which_steps_would_wait_for_approval_and_asks_nothing(
    tmp_path: Path, store: StateStore, clock: FakeClock
) -> None:
    switch = Switch(tmp_path)
    report = run_once(tmp_path, approval_playbook(switch), store, clock, mode=Mode.DRY_RUN)
    api = report.node("localhost", "api")
    assert api.outcome is Outcome.WOULD_REMEDIATE
    assert api.plan == [f"restart api: command: {switch.fixing_action()} [waits for an operator's approval]"]
    assert store.approvals() == []
