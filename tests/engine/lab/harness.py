"""Running the bundled playbook against the lab, and what a test needs to know about a run.

An `Episode` is one scenario played through as an operator would: break the healthy lab,
`remediate run --dry-run`, `remediate run`, `remediate run` again. Each command runs as a
separate process (as cron runs it), with a JSON report and JSON log events.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from ruamel.yaml import YAML

from engine.lab.scenarios import BACKLOG, break_lab
from engine.lab.stack import APPS, DB, SERVICES, Lab, QueueCensus

REMEDIATE = str(Path(sys.executable).parent / "remediate")
BUNDLED = Path(__file__).resolve().parents[3] / "playbooks" / "coffeestudio.yml"
FAST = {
    # Short bounds for the lab (defaults are the runbook's): the metrics checks compare two
    # scrapes a second apart, the worker ping waits a second for answers.
    "slo_window": "1s",
    "celery_reply_timeout": "1s",
    "verify_within": "5s",
    "check_timeout": "10s",  # docker exec is slow when other test suites load the machine
}
OBSERVING = frozenset({"wait"})
"""Actions that only watch: whether they run depends on how fast a service starts."""


@dataclass
class Run:
    """One `remediate run` process: exit status, output, report and log events."""

    exit_code: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    report: dict[str, Any] = field(repr=False)
    events: list[dict[str, Any]] = field(repr=False)

    def __repr__(self) -> str:
        """The exit status and every node that did not end healthy, with its reason (what an
        assertion message needs)."""
        nodes = self.report.get("nodes", [])
        problems = [
            f"{n['node']}={n['outcome']}: {n['reason'][:160]}" for n in nodes if n["outcome"] != "healthy"
        ]
        return f"Run(exit {self.exit_code}; {'; '.join(problems) or 'all healthy'})"

    @property
    def text(self) -> str:
        """Everything the run printed or wrote, for searching (secrets must not be in it)."""
        return self.stdout + self.stderr + json.dumps(self.report)

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.report["nodes"] if n["node"] == name)

    def outcome(self, name: str) -> str:
        return str(self.node(name)["outcome"])

    def outcomes(self, outcome: str) -> set[str]:
        return {n["node"] for n in self.report["nodes"] if n["outcome"] == outcome}

    def acted(self) -> list[tuple[str, str]]:
        """(node, action) of every action that ran and succeeded (ok or changed), in the order
        the log shows them; `wait` left out."""
        return [
            (e["node"], e["action"])
            for e in self.events
            if e.get("event") == "action"
            and e.get("outcome") in ("ok", "changed")
            and e["action"] not in OBSERVING
        ]

    def changed(self) -> list[tuple[str, str]]:
        return [
            (e["node"], e["action"])
            for e in self.events
            if e.get("event") == "action" and e.get("outcome") == "changed"
        ]

    def position(self, node: str, event: str, **match: Any) -> int:
        """Index of the first log event of `node` named `event` whose fields match."""
        for index, e in enumerate(self.events):
            if (
                e.get("node") == node
                and e.get("event") == event
                and all(e.get(k) == v for k, v in match.items())
            ):
                return index
        raise AssertionError(f"no {event} event of {node} matching {match}")


Snapshot = dict[str, Any]


def snapshot(lab: Lab) -> Snapshot:
    """What a change to the lab would alter: each container's identity, state, start time
    and memory limit, and the database's migration revision."""
    state: Snapshot = {}
    for service in SERVICES:
        container = lab.container(service)
        container.reload()
        attrs = container.attrs
        state[service] = (
            attrs["Id"],
            attrs["State"]["Status"],
            attrs["State"]["StartedAt"],
            attrs["HostConfig"].get("Memory"),
        )
    try:
        with psycopg.connect(
            host="127.0.0.1",
            port=lab.ports.postgres,
            user="coffeestudio",
            dbname="coffeestudio",
            connect_timeout=3,
        ) as connection:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            state["alembic_version"] = row[0] if row else None
    except psycopg.OperationalError:
        state["alembic_version"] = "unreachable"
    return state


def remediate(lab: Lab, workdir: Path, *args: str, variables: dict[str, Any] | None = None) -> Run:
    """`remediate run [args]` with the bundled playbook pointed at the lab; `variables` win
    over the lab's and `FAST` (an `-e` in `args` does not: those come later)."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / f"report-{len(list(workdir.glob('report-*')))}.json"
    variables = {**lab.variables(), **FAST, **(variables or {})}
    completed = subprocess.run(
        [
            REMEDIATE, "run", *args, "-e", json.dumps(variables), "--log-format", "json",
            "--report", str(report), "--incident-dir", str(workdir / "incidents"),
            # A state store of the episode's own: limits and locks of other runs on this
            # machine (other sessions, other scenarios) must not hold this one back.
            "--state", str(workdir / "state.db"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    events = [json.loads(line) for line in completed.stderr.splitlines() if line.startswith("{")]
    data = json.loads(report.read_text()) if report.exists() else {}
    return Run(completed.returncode, completed.stdout, completed.stderr, data, events)


def schema_guarded_playbook(lab: Lab, directory: Path, notified: Path) -> Path:
    """The bundled playbook plus the rollback's schema guard on the lab: a `schema` node whose
    `alembic_current` check reads the lab database's revision (the heads from the lab's
    migrations on this machine, so it answers while the backend is down), named by
    `alembic_node`, and a notify command appending each message to `notified`."""
    yaml = YAML()
    playbook = yaml.load(BUNDLED)
    playbook["alembic_node"] = "schema"
    playbook["notify"] = [{"command": {"cmd": f"cat >> {notified}; echo >> {notified}"}}]
    playbook["checks"]["schema"] = {
        "description": "the database is at the backend's migration head (the rollback's schema guard)",
        "severity": "P1",
        "depends_on": ["postgres"],
        "alembic_current": {
            "host": "127.0.0.1",
            "port": lab.ports.postgres,
            "user": DB,
            "dbname": DB,
            "alembic_cmd": f"cd {APPS} && {Path(sys.executable).parent / 'alembic'}",
            "timeout": "30s",
        },
    }
    path = directory / "coffeestudio-schema-guarded.yml"
    directory.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        yaml.dump(playbook, out)
    return path


@dataclass
class Episode:
    """Scenarios played through: the dry-run, the healing run and the run after it."""

    scenarios: tuple[str, ...]
    broken: Snapshot
    plan: Run
    after_plan: Snapshot
    run: Run
    health_after_run: dict[str, str]
    again: Run
    after_again: Snapshot
    before_again: Snapshot = field(default_factory=dict)
    incidents: Path = Path()


PLAYED_TOGETHER = (("jwt-secret-short", "slo-breach", "cors-mismatch"),)
"""Scenarios played in one episode: report-only faults of different nodes (each a P1 that
the runs report and leave alone, none blocking another), so one episode shows each."""


def played_with(scenario: str) -> tuple[str, ...]:
    """The scenarios of `scenario`'s episode (itself alone, unless played together)."""
    return next((group for group in PLAYED_TOGETHER if scenario in group), (scenario,))


def play(lab: Lab, scenarios: tuple[str, ...], workdir: Path) -> Episode:
    """Reset the lab to healthy, break it (every scenario at once), and run remediate three
    times."""
    lab.reset()
    break_lab(lab, *scenarios)
    broken = snapshot(lab)
    plan = remediate(lab, workdir, "--dry-run")
    after_plan = snapshot(lab)
    run = remediate(lab, workdir)
    health = lab.health()
    before_again = snapshot(lab)
    again = remediate(lab, workdir)
    return Episode(
        scenarios=scenarios,
        broken=broken,
        plan=plan,
        after_plan=after_plan,
        run=run,
        health_after_run=health,
        again=again,
        after_again=snapshot(lab),
        before_again=before_again,
        incidents=workdir / "incidents",
    )


@dataclass
class QueuePileup:
    """The queue pile-up played through (`remediate lab break queue-piled-up`): the dry-run, a
    run without --allow-destructive, one with it, and a run after them; where the lab's
    orders were after each."""

    broken: QueueCensus
    plan: Run
    after_plan: QueueCensus
    run: Run
    after_run: QueueCensus
    purge: Run
    after_purge: QueueCensus
    again: Run
    before_again: Snapshot
    after_again: Snapshot


QUICK_VERIFY = {"verify_within": "1s"}
"""The queue's rungs cannot heal in time anyway: a short verify window keeps the episode short."""


def census(lab: Lab) -> QueueCensus:
    """The lab's orders while the worker runs: read again (for at most a second) while an
    order is missing, since a worker holds an order it just took, or just acknowledged, for a
    moment before Redis shows it reserved or started; an order a purge deleted stays missing."""
    deadline = time.monotonic() + 1.0
    while True:
        found = lab.queue_census()
        if len(found.kept) == BACKLOG or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def play_queue_pileup(lab: Lab, workdir: Path) -> QueuePileup:
    """Reset the lab, kill its worker with orders piling up, and run remediate four times
    (with `remediate reset worker_queue` before the one that may purge)."""
    lab.reset()
    break_lab(lab, "queue-piled-up")
    broken = lab.queue_census()
    plan = remediate(lab, workdir, "--dry-run", variables=QUICK_VERIFY)
    after_plan = lab.queue_census()
    run = remediate(lab, workdir, variables=QUICK_VERIFY)
    after_run = census(lab)
    # The failed node backs off across runs (run_backoff): the operator who decided to purge
    # lets the next run try at once.
    subprocess.run(
        [REMEDIATE, "reset", "worker_queue", "--state", str(workdir / "state.db")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    purge = remediate(lab, workdir, "--allow-destructive", variables=QUICK_VERIFY)
    after_purge = lab.queue_census()  # only whether orders wait matters now
    before_again = snapshot(lab)
    again = remediate(lab, workdir, variables=QUICK_VERIFY)
    return QueuePileup(
        broken=broken,
        plan=plan,
        after_plan=after_plan,
        run=run,
        after_run=after_run,
        purge=purge,
        after_purge=after_purge,
        again=again,
        before_again=before_again,
        after_again=snapshot(lab),
    )
