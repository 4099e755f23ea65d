"""The runbook's troubleshooting scenarios, healed on the lab by the bundled playbook.

Each scenario is played once (see `conftest.Episodes`): the healthy lab is broken the way the
runbook's symptom describes, then `remediate run --dry-run`, `remediate run` and
`remediate run` again. The tests below read that episode, one behaviour each; the table
`EXPECTED` says, per scenario, what the runbook says an operator would find and do.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.lab.scenarios import BACKLOG, SCENARIOS, SHORT_JWT_SECRET
from engine.lab.stack import BROKEN_EXIT, HEAD_REVISION, MIGRATED_REVISION, Lab
from tests.engine.lab.conftest import Episodes
from tests.engine.lab.harness import (
    REMEDIATE,
    QueuePileup,
    played_with,
    remediate,
    schema_guarded_playbook,
    snapshot,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BACKEND_DOWNSTREAM = frozenset(
    {
        "backend_errors", "backend_latency", "frontend", "memory_frontend", "worker",
        "worker_queue", "memory_worker", "beat", "memory_beat", "memory_backend",
    }
)  # fmt: skip
RESTART_AND_WAIT = ("docker restart {p}/{s}", "wait up to 30s")
BACKEND_LADDER = (
    "apply pending migrations: docker exec {p}/backend alembic upgrade head",
    "save the last 200 log lines of {p}/backend",
    "restart backend: docker restart {p}/backend",
    "wait up to 30s",
    "docker compose -p {p} up -d --build backend",
    "wait up to 30s",
    "roll back {p}/backend to its last healthy recorded image",
    "wait up to 30s",
)
ROLLBACK_AND_WAIT = ("roll back {p}/{s} to its last healthy recorded image", "wait up to 30s")
AFTER_BACKEND = frozenset({("worker", "docker_restart"), ("beat", "docker_restart")})
"""Worker and beat hold connections to the backend's broker: they restart after it recovers."""


@dataclass(frozen=True)
class Expect:
    """What the runbook says about a scenario."""

    root: str
    """The node the dry-run must name as the cause (every other problem is blocked by it)."""
    plan: tuple[str, ...]
    """Fragments of the root's planned steps, in order ({p}: project, {s}: service)."""
    blocked: frozenset[str]
    """Nodes the dry-run blocks on the root: not checked, not blamed."""
    waves: tuple[frozenset[tuple[str, str]], ...]
    """(node, action) the healing run takes, wave after wave (any order within a wave)."""
    reports_only: bool = False
    """No remediation: the runs fail (exit 1) and change nothing."""
    also: frozenset[str] = frozenset()
    """Further report-only nodes the same fault breaks (an SLO breach breaks both SLOs)."""


EXPECTED = {
    "postgres-stopped": Expect(
        "postgres",
        RESTART_AND_WAIT,
        BACKEND_DOWNSTREAM | {"backend", "memory_postgres"},
        (
            frozenset({("postgres", "docker_restart")}),
            frozenset({("backend", "docker_restart")}),
            AFTER_BACKEND,
        ),
    ),
    "redis-stopped": Expect(
        "redis",
        RESTART_AND_WAIT,
        BACKEND_DOWNSTREAM | {"backend", "memory_redis"},
        (frozenset({("redis", "docker_restart")}), frozenset({("backend", "docker_restart")}), AFTER_BACKEND),
    ),
    "backend-crashed": Expect(
        "backend",
        BACKEND_LADDER,
        BACKEND_DOWNSTREAM,
        (frozenset({("backend", "docker_logs")}), frozenset({("backend", "docker_restart")}), AFTER_BACKEND),
    ),
    "pending-migration": Expect(
        "backend",
        BACKEND_LADDER,
        BACKEND_DOWNSTREAM,
        (frozenset({("backend", "docker_exec")}), AFTER_BACKEND),
    ),
    "frontend-down": Expect(
        "frontend",
        (*RESTART_AND_WAIT, "restart backend", "wait up to 30s", *ROLLBACK_AND_WAIT),
        frozenset({"memory_frontend"}),
        (frozenset({("frontend", "docker_restart")}),),
    ),
    "worker-killed": Expect(
        "worker",
        (*RESTART_AND_WAIT, "restart beat", "wait up to 30s", *ROLLBACK_AND_WAIT),
        frozenset({"worker_queue", "memory_worker"}),
        (frozenset({("worker", "docker_restart")}),),
    ),
    "beat-killed": Expect(
        "beat",
        ("docker restart {p}/{s}",),
        frozenset({"memory_beat"}),
        (frozenset({("beat", "docker_restart")}),),
    ),
    "memory-limit-missing": Expect(
        "memory_backend",
        ("docker update --memory 256m --memory-reservation 128m {p}/backend",),
        frozenset(),
        (frozenset({("memory_backend", "docker_update")}),),
    ),
    "jwt-secret-short": Expect("jwt_secret", (), frozenset(), (), reports_only=True),
    # A regression that leaves the service up: a restart would hide it, the runbook's P1
    # answer is a hotfix. The backend stays healthy, so nothing is blocked or restarted.
    "slo-breach": Expect(
        "backend_errors", (), frozenset(), (), reports_only=True, also=frozenset({"backend_latency"})
    ),
    "cors-mismatch": Expect("backend_cors", (), frozenset(), (), reports_only=True),
}
SCENARIO_NAMES = list(EXPECTED)
PLAYED_APART = frozenset({"queue-piled-up"})
"""Scenarios whose runs differ from the table's three (see their own section below)."""


def test_every_lab_scenario_has_expectations() -> None:
    assert set(EXPECTED) | PLAYED_APART == set(SCENARIOS)
    assert not set(EXPECTED) & PLAYED_APART


# --- the dry-run ---------------------------------------------------------------------------


def broken_nodes(scenario: str, reports_only: bool = False) -> set[str]:
    """The nodes the scenario's episode breaks (of every scenario played with it): roots,
    what they block and what else their faults break; with `reports_only`, what the runs
    leave broken."""
    broken: set[str] = set()
    for name in played_with(scenario):
        expect = EXPECTED[name]
        if expect.reports_only or not reports_only:
            broken |= {expect.root} | expect.also | (set() if reports_only else expect.blocked)
    return broken


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_dry_run_names_the_root_cause_and_nothing_else(episodes: Episodes, scenario: str) -> None:
    plan, expect = episodes.of(scenario).plan, EXPECTED[scenario]
    problems = {n["node"] for n in plan.report["nodes"] if n["outcome"] != "healthy"}
    assert problems == broken_nodes(scenario)
    assert plan.outcome(expect.root) == ("failed" if expect.reports_only else "would_remediate")


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_dry_run_lists_the_runbook_steps_in_order(episodes: Episodes, lab: Lab, scenario: str) -> None:
    expect = EXPECTED[scenario]
    planned = episodes.of(scenario).plan.node(expect.root)["plan"]
    service = expect.root.removeprefix("memory_")
    fragments = [f.format(p=lab.project, s=service) for f in expect.plan]
    assert len(planned) == len(fragments), planned
    for line, fragment in zip(planned, fragments, strict=True):
        assert fragment in line


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_dry_run_blocks_dependents_on_the_root_cause(episodes: Episodes, scenario: str) -> None:
    plan, expect = episodes.of(scenario).plan, EXPECTED[scenario]
    for node in expect.blocked:
        assert plan.outcome(node) == "blocked"
        assert plan.node(node)["blocked_by"] == [expect.root]


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_dry_run_log_names_the_upstream_that_blocks(episodes: Episodes, scenario: str) -> None:
    plan, expect = episodes.of(scenario).plan, EXPECTED[scenario]
    blocked_events = {
        e["node"]: e["blocked_by"]
        for e in plan.events
        if e.get("event") == "node" and e["outcome"] == "blocked"
    }
    assert blocked_events == {node: [expect.root] for node in expect.blocked}


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_dry_run_changes_nothing(episodes: Episodes, scenario: str) -> None:
    episode = episodes.of(scenario)
    assert episode.after_plan == episode.broken
    assert [e for e in episode.plan.events if e.get("event") == "action"] == []


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_dry_run_exits_1_when_something_needs_doing(episodes: Episodes, scenario: str) -> None:
    assert episodes.of(scenario).plan.exit_code == 1


# --- the healing run -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", [s for s in SCENARIO_NAMES if not EXPECTED[s].reports_only])
def test_run_heals_the_stack(episodes: Episodes, scenario: str) -> None:
    episode = episodes.of(scenario)
    assert episode.run.exit_code == 0, episode.run.stdout
    assert episode.run.outcome(EXPECTED[scenario].root) == "remediated"
    assert set(episode.health_after_run.values()) == {"ok"}, episode.health_after_run


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_run_takes_the_runbook_actions_in_order(episodes: Episodes, scenario: str) -> None:
    acted = episodes.of(scenario).run.acted()
    waves = EXPECTED[scenario].waves
    assert set(acted) == set().union(*waves), acted
    assert len(acted) == len(set(acted)), f"an action ran twice: {acted}"
    wave_of = {action: index for index, wave in enumerate(waves) for action in wave}
    assert [wave_of[a] for a in acted] == sorted(wave_of[a] for a in acted), acted


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_run_checks_dependents_only_after_the_root_cause_is_settled(
    episodes: Episodes, scenario: str
) -> None:
    run, expect = episodes.of(scenario).run, EXPECTED[scenario]
    settled = run.position(expect.root, "node")
    for node in expect.blocked:
        assert run.position(node, "check") > settled


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_second_run_changes_nothing(episodes: Episodes, scenario: str) -> None:
    episode = episodes.of(scenario)
    assert episode.again.changed() == []
    assert episode.after_again == episode.before_again
    assert episode.again.exit_code == (1 if EXPECTED[scenario].reports_only else 0)


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_second_run_finds_every_node_healthy_but_report_only_problems(
    episodes: Episodes, scenario: str
) -> None:
    again = episodes.of(scenario).again
    unhealthy = {n["node"] for n in again.report["nodes"] if n["outcome"] != "healthy"}
    assert unhealthy == broken_nodes(scenario, reports_only=True)


# --- what particular scenarios promise -----------------------------------------------------


def test_postgres_recovery_restarts_the_backend_for_fresh_connections(episodes: Episodes) -> None:
    backend = episodes.of("postgres-stopped").run.node("backend")
    assert backend["outcome"] == "remediated"
    assert backend["reason"] == "restarted after its upstream recovered"


def test_backend_logs_are_saved_before_its_first_restart(episodes: Episodes) -> None:
    run = episodes.of("backend-crashed").run
    saved = run.position("backend", "action", action="docker_logs", outcome="ok")
    restarted = run.position("backend", "action", action="docker_restart", outcome="changed")
    assert saved < restarted


def test_saved_backend_logs_hold_the_crashed_process_output(episodes: Episodes) -> None:
    step = next(
        s for s in episodes.of("backend-crashed").run.node("backend")["steps"] if s["action"] == "docker_logs"
    )
    (artifact,) = step["artifacts"]
    with open(artifact) as saved:
        assert "backend: serving on :8000" in saved.read()


def test_crashed_backend_is_healed_by_the_restart_not_the_rebuild(episodes: Episodes) -> None:
    actions = [s["action"] for s in episodes.of("backend-crashed").run.node("backend")["steps"]]
    assert "docker_restart" in actions
    assert "compose" not in actions


def test_dry_run_shows_why_the_backend_fails_with_a_pending_migration(episodes: Episodes) -> None:
    backend = episodes.of("pending-migration").plan.node("backend")
    assert backend["reason"] == "status 503, expected 200"
    assert "pending migrations" in backend["evidence"]["body"]


def test_pending_migration_is_applied_without_restarting_the_backend(episodes: Episodes) -> None:
    episode = episodes.of("pending-migration")
    assert ("backend", "docker_restart") not in episode.run.changed()
    assert episode.before_again["alembic_version"] == "0002_roasts"


def test_memory_fix_sets_the_limit_from_the_playbook_vars(episodes: Episodes) -> None:
    episode = episodes.of("memory-limit-missing")
    assert episode.broken["backend"][3] == 0
    assert episode.before_again["backend"][3] == 256 * 1024 * 1024


def test_short_jwt_secret_is_reported_p1_with_its_length(episodes: Episodes) -> None:
    node = episodes.of("jwt-secret-short").run.node("jwt_secret")
    assert node["severity"] == "P1"
    assert node["outcome"] == "failed"
    assert f"JWT_SECRET has {len(SHORT_JWT_SECRET)} characters, needs at least 32" in node["reason"]


def test_jwt_secret_value_never_appears_in_output_logs_or_reports(episodes: Episodes, lab: Lab) -> None:
    episode = episodes.of("jwt-secret-short")
    for run in (episode.plan, episode.run, episode.again):
        assert SHORT_JWT_SECRET not in run.text
        assert lab.jwt_secret() not in run.text


@pytest.mark.parametrize(
    ("node", "measured"),
    [
        ("backend_errors", "error ratio of http_requests_total"),
        ("backend_latency", "p95 of http_request_duration_seconds"),
    ],
)
def test_an_slo_breach_is_reported_p1_with_its_measure_and_nothing_restarted(
    episodes: Episodes, node: str, measured: str
) -> None:
    episode = episodes.of("slo-breach")
    reported = episode.run.node(node)
    assert (episode.run.exit_code, reported["severity"], reported["outcome"]) == (1, "P1", "failed")
    assert reported["reason"].startswith(measured) and " is above " in reported["reason"], reported
    assert reported["evidence"]["requests"] > 0
    assert episode.run.node("backend")["outcome"] == "healthy"
    assert (
        episode.before_again["backend"][:3] == episode.broken["backend"][:3]
    )  # same container, never restarted


def test_a_cors_mismatch_is_reported_p1_naming_the_missing_origin(episodes: Episodes, lab: Lab) -> None:
    episode = episodes.of("cors-mismatch")
    reported = episode.run.node("backend_cors")
    assert (episode.run.exit_code, reported["severity"], reported["outcome"]) == (1, "P1", "failed")
    assert reported["reason"].startswith(f"CORS_ORIGINS does not list http://127.0.0.1:{lab.ports.frontend}")
    assert episode.before_again["backend"][:3] == episode.broken["backend"][:3]


def test_dry_run_plans_the_backend_restart_for_after_postgres_recovers(episodes: Episodes, lab: Lab) -> None:
    planned = episodes.of("postgres-stopped").plan.node("backend")["plan"]
    assert (
        f"after upstream recovery: restart backend: docker restart {lab.project}/backend (grace 10s)"
        in planned
    )
    migration = planned[0]
    assert migration.endswith(
        "[when check.health != 'healthy'; unless docker_command check passes; a failure is ignored]"
    )


# --- the queue piles up: the purge, the last rung ----------------------------------------------
# The worker died while orders kept coming: more wait than a restarted worker works off in
# a verify window. Played once (`queue_pileup`): the dry-run, a run without
# --allow-destructive, one with it, and a run after them.

QUEUE_MAX = 100
"""The bundled playbook's queue_max."""


def test_queue_pileup_dry_run_names_the_dead_worker_as_the_root_cause(queue_pileup: QueuePileup) -> None:
    plan = queue_pileup.plan
    problems = {n["node"] for n in plan.report["nodes"] if n["outcome"] != "healthy"}
    assert problems == {"worker", "worker_queue", "memory_worker"}, plan
    assert plan.outcome("worker") == "would_remediate"
    assert plan.node("worker_queue")["blocked_by"] == ["worker"]
    assert plan.exit_code == 1


def test_queue_pileup_dry_run_changes_nothing(queue_pileup: QueuePileup) -> None:
    broken, after = queue_pileup.broken, queue_pileup.after_plan
    assert len(broken.waiting) == BACKLOG > QUEUE_MAX
    # The orders (beat may queue a heartbeat meanwhile: the length is not compared).
    assert (after.waiting, after.reserved, after.started) == (broken.waiting, broken.reserved, broken.started)
    assert [e for e in queue_pileup.plan.events if e.get("event") == "action"] == []


def test_queue_pileup_run_climbs_worker_and_beat_restarts_to_the_purge(queue_pileup: QueuePileup) -> None:
    run = queue_pileup.run
    assert run.outcome("worker") == "remediated", run
    climbed = [(s["step"], s["status"]) for s in run.node("worker_queue")["steps"]]
    assert climbed == [
        ("restart worker", "changed"),
        ("restart beat", "changed"),
        ("purge the queue (VORSICHT: deletes waiting tasks)", "refused"),
    ]


def test_queue_pileup_restarted_worker_works_off_orders_but_not_in_time(queue_pileup: QueuePileup) -> None:
    after = queue_pileup.after_run
    assert after.started, "the restarted worker took no order"
    assert len(after.waiting) > QUEUE_MAX
    node = queue_pileup.run.node("worker_queue")
    assert (node["outcome"], node["severity"]) == ("failed", "P1")
    assert f"entries in 'celery', more than {QUEUE_MAX}" in node["reason"]


def test_queue_pileup_purge_is_refused_without_allow_destructive_and_the_queue_kept(
    queue_pileup: QueuePileup,
) -> None:
    run, after = queue_pileup.run, queue_pileup.after_run
    [purge] = [s for s in run.node("worker_queue")["steps"] if s["action"] == "celery_purge"]
    assert purge["detail"] == "refused, destructive: the command line does not say --allow-destructive"
    assert run.exit_code == 1
    # Every order is still waiting, reserved by the worker, or was started by it: none deleted.
    assert after.kept == frozenset(range(BACKLOG))


def test_queue_pileup_purge_with_allow_destructive_empties_the_queue(queue_pileup: QueuePileup) -> None:
    purge_run = queue_pileup.purge
    assert purge_run.exit_code == 0, purge_run
    assert purge_run.outcome("worker_queue") == "remediated"
    [purge] = [s for s in purge_run.node("worker_queue")["steps"] if s["action"] == "celery_purge"]
    assert purge["status"] == "changed"
    assert int(purge["detail"].removeprefix("removed ").split()[0]) > QUEUE_MAX
    assert queue_pileup.after_purge.waiting == frozenset()


def test_queue_pileup_second_run_changes_nothing(queue_pileup: QueuePileup) -> None:
    again = queue_pileup.again
    assert again.exit_code == 0 and again.changed() == [], again
    assert {n["outcome"] for n in again.report["nodes"]} == {"healthy"}
    assert queue_pileup.after_again == queue_pileup.before_again


# --- a bad deploy: the last rungs -----------------------------------------------------------


def test_bad_deploy_is_healed_by_the_rollback_after_restart_and_rebuild_did_not_help(
    lab: Lab, tmp_path: Path
) -> None:
    """A new backend image that fails at start (`remediate lab deploy-broken backend`) after a
    run saw the good one healthy: the dry-run plans the whole ladder, the run climbs it (the
    restart and the rebuild do not heal, the rollback does), the backend runs the good image
    again, the history and the version record say so, and a second run changes nothing."""
    lab.reset()
    good = lab.container("backend").image.id
    short_waits = ("-e", json.dumps({"wait_timeout": "5s"}))  # the waits after rungs that cannot heal
    recorded = remediate(lab, tmp_path, *short_waits)  # a healthy run records the good version
    assert recorded.exit_code == 0, recorded

    lab.deploy_broken("backend")
    broken = lab.container("backend")
    assert broken.image.id != good and broken.attrs["State"]["ExitCode"] == BROKEN_EXIT
    plan = remediate(lab, tmp_path, "--dry-run", *short_waits)
    assert plan.exit_code == 1 and plan.outcome("backend") == "would_remediate", plan
    assert plan.node("backend")["plan"][-2].startswith(
        f"roll the backend back to its last healthy version: roll back {lab.project}/backend"
    )

    run = remediate(lab, tmp_path, *short_waits)
    health = lab.health()
    assert run.exit_code == 0 and run.outcome("backend") == "remediated", run
    assert health == dict.fromkeys(health, "ok")
    climbed = [(step["action"], step["status"]) for step in run.node("backend")["steps"]]
    assert climbed[climbed.index(("docker_restart", "changed")) + 1] == ("wait", "failed")
    assert climbed[climbed.index(("compose", "failed")) + 1] == ("wait", "failed")
    assert climbed[-1] == ("docker_rollback", "changed")  # verified: its wait is not needed
    backend = lab.container("backend")
    assert backend.image.id == good  # the previous image, with the lab's configuration
    assert backend.name == f"{lab.project}-backend-1" and backend.labels["remediate.lab"] == lab.project
    assert not [c for c in lab.client.containers.list(all=True) if c.name.startswith(backend.name + ".")]

    state = str(tmp_path / "state.db")
    history = [
        json.loads(line)
        for line in subprocess.run(
            [REMEDIATE, "history", "--node", "backend", "--json", "--state", state],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.splitlines()
    ]  # fmt: skip
    [rollback] = [entry for entry in history if entry.get("action") == "docker_rollback"]
    assert (rollback["outcome"], history[-1]["outcome"]) == ("changed", "remediated")
    assert good.removeprefix("sha256:")[:12] in rollback["reason"], rollback
    versions = subprocess.run(
        [REMEDIATE, "versions", "--service", "backend", "--json", "--state", state],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert [json.loads(line)["image_id"] for line in versions.splitlines()] == [good]

    before_again = snapshot(lab)
    again = remediate(lab, tmp_path, *short_waits)
    assert again.exit_code == 0 and again.changed() == [], again
    assert snapshot(lab) == before_again


def test_bad_deploy_after_a_migration_is_not_rolled_back_and_escalates(lab: Lab, tmp_path: Path) -> None:
    """The runbook's rollback goes back to old code; after the release migrated the database
    that code would meet a newer schema. With the schema guard (`alembic_node`) the dry-run
    plans the guarded rollback, the run climbs to it, the rollback is refused naming both
    revisions, the broken container is left as it is, and the backend escalates P0."""
    lab.reset()
    notified = tmp_path / "notified.jsonl"
    playbook = str(schema_guarded_playbook(lab, tmp_path, notified))
    short_waits = ("-e", json.dumps({"wait_timeout": "5s"}))
    state = str(tmp_path / "state.db")
    try:
        # Healthy runs record the version with the revision (the schema node may end after the
        # node recording the backend in the first run: the second sees it done).
        for _ in range(2):
            recorded = remediate(lab, tmp_path, playbook, *short_waits)
            assert recorded.exit_code == 0, recorded
        versions = subprocess.run(
            [REMEDIATE, "versions", "--service", "backend", "--json", "--state", state],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        assert json.loads(versions.splitlines()[0])["alembic_revision"] == HEAD_REVISION

        lab.deploy_broken("backend", after_migration=True)
        broken = lab.container("backend").id
        plan = remediate(lab, tmp_path, playbook, "--dry-run", *short_waits)
        assert plan.outcome("backend") == "would_remediate", plan
        assert "refused if the alembic revision moved since" in plan.node("backend")["plan"][-2]

        run = remediate(lab, tmp_path, playbook, *short_waits)
        backend = run.node("backend")
        assert (run.exit_code, backend["outcome"], backend["severity"]) == (1, "failed", "P0"), run
        [rollback] = [step for step in backend["steps"] if step["action"] == "docker_rollback"]
        assert rollback["status"] == "refused"
        assert f"alembic revision {HEAD_REVISION} then, {MIGRATED_REVISION} now" in rollback["detail"]
        assert lab.container("backend").id == broken  # not rolled back, not replaced
        escalations = [json.loads(line) for line in notified.read_text().splitlines() if line.strip()]
        assert [(m["event"], m["node"], m["severity"]) for m in escalations] == [
            ("escalation", "backend", "P0")
        ]
    finally:
        lab.reset()
