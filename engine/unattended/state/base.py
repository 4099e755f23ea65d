"""The state store: what must hold across runs (cron starts a new process each time).

Every run, every node outcome and every action attempt is recorded, with the host, node,
action, outcome, duration and reason. An attempt is recorded *before* its action runs and
completed after, so a run killed mid-action still counts it. The per-node memory that limits,
backoff and flap detection need (`NodeState`, transitions), operator pauses and open
escalations live here too.

One SQL implementation (`SqlStateStore`) serves both backends; `engine.unattended.state.sqlite` and
`engine.unattended.state.postgres` supply the connection, the SQL dialect and the lock across runs.
Times are stored as seconds since the epoch (UTC) and always come from the engine's Clock.
Text written here is masked first (`REDACTOR`): `history` and `status` run in another process,
which does not know the secrets the run registered.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.errors import ApprovalError, StateStoreError
from engine.secrets.redact import REDACTOR
from engine.unattended.locking import HostLock, LockOwner

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
RUNNING = "running"
"""The outcome of an attempt whose action has started and not (yet) completed."""
INTERRUPTED = "interrupted"
"""The outcome of an attempt whose action was killed because the run was stopped by a signal."""


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


def from_epoch(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Attempt:
    """One action run as part of a node's remediation attempt."""

    id: int
    run_id: str
    host: str
    node: str
    attempt: int
    """The remediation attempt (pass over the steps) within its run, from 1."""
    step: str
    action: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    """An action status (ok, changed, failed...) or `running` when it never completed."""
    duration_ms: float | None
    reason: str


@dataclass
class NodeState:
    """What the engine remembers of a node between runs."""

    host: str
    node: str
    state: str | None = None
    """`healthy` or `unhealthy` as last observed; None before the first observation."""
    state_since: datetime | None = None
    healthy_since: datetime | None = None
    """Start of the current healthy streak (None while unhealthy)."""
    reset_at: datetime | None = None
    """Attempts, failures and state changes up to this moment are forgotten."""
    failures: int = 0
    """Runs in a row whose remediation failed (for the backoff between runs)."""
    last_failure_at: datetime | None = None


@dataclass(frozen=True)
class Pause:
    """An operator's pause: the node is checked and reported, never touched."""

    host: str
    """A host name, or `*` for every host."""
    node: str
    until: datetime | None
    reason: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Escalation:
    """An open (or closed) escalation: sent once, closed when the cause recovers."""

    id: int
    scope: str
    """`host:node` for a node, `run:<playbook>` for the run as a whole (blast radius)."""
    host: str
    node: str
    severity: str
    reason: str
    opened_at: datetime
    closed_at: datetime | None
    notified_at: datetime | None


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `remediate history`: a node outcome or an action attempt."""

    at: datetime
    run_id: str
    host: str
    node: str
    kind: str
    """`node` (an outcome of a run) or `action` (an attempt)."""
    outcome: str
    reason: str
    action: str = ""
    duration_ms: float | None = None
    step: str = ""


@dataclass(frozen=True)
class VersionRecord:
    """What a service's container ran when a node watching it ended verified healthy: the
    version a rollback goes back to. One row per distinct version; `seen_at` moves forward
    while the same version stays healthy."""

    host: str
    project: str
    """The compose project label, or '' for a container outside compose."""
    service: str
    """The compose service label, or the container's name outside compose."""
    container: str
    image_id: str
    image: str
    """The image reference the container was created from (`Config.Image`)."""
    repo_digest: str
    """The image's first repo digest, '' for a locally built image."""
    config_hash: str
    """Compose's `com.docker.compose.config-hash` label, '' when there is none."""
    alembic_revision: str
    """The database's alembic revision at that moment, '' when the playbook names no node
    that holds it."""
    node: str
    """The node whose verified health recorded it."""
    first_seen_at: datetime
    seen_at: datetime


VERSIONS_KEPT = 5
"""Generations of healthy versions remembered per service (older ones are deleted)."""


@dataclass(frozen=True)
class LatestResult:
    """A node's latest recorded outcome (the status page colours the node by it)."""

    outcome: str
    reason: str
    at: datetime
    run_id: str
    severity: str


PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"
"""Nobody answered before `expires_at`: denied, and it says so."""
USED = "used"
"""Approved, and a run acted on it (an approval acts once)."""
WITHDRAWN = "withdrawn"
"""The node was healthy again before the approval was used: nothing to approve any more."""
OPEN_APPROVALS = (PENDING, APPROVED)


@dataclass(frozen=True)
class Approval:
    """A request for an operator's approval of a step (or a whole node's remediation), and
    its answer. At most one is open (pending or approved) per host and node."""

    id: str
    host: str
    node: str
    step: str
    """The step the ladder stopped at."""
    status: str
    """pending, approved, denied, expired, used or withdrawn."""
    reason: str
    """Why the node is unhealthy (the check's reason, masked)."""
    plan: list[str]
    """The steps the node would run from that step on, rendered and masked."""
    evidence: dict[str, Any]
    requested_at: datetime
    expires_at: datetime
    run_id: str
    """The run that asked."""
    answered_at: datetime | None = None
    answered_by: str = ""
    note: str = ""
    """What the answer says (who denied it and why, that it expired, that it was used)."""
    used_at: datetime | None = None
    used_by_run: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_APPROVALS

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "node": self.node,
            "step": self.step,
            "status": self.status,
            "reason": self.reason,
            "plan": self.plan,
            "evidence": self.evidence,
            "requested_at": self.requested_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "run_id": self.run_id,
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "answered_by": self.answered_by,
            "note": self.note,
            "used_at": self.used_at.isoformat() if self.used_at else None,
            "used_by_run": self.used_by_run,
        }


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    playbook: str
    controller: str
    hosts: list[str]
    mode: str
    started_at: datetime
    finished_at: datetime | None
    exit_code: int | None
    counts: dict[str, int]
    ended_by: str | None = None
    """The signal that stopped the run (`SIGTERM`, ...), None when it ran to its end."""
    trigger: str = "timer"
    """What started it: `timer` (cron, systemd, the daemon's interval), `alert`
    (Alertmanager) or `operator` (a command, or "run now" on the status page)."""


QUEUED = "queued"
"""A fleet task recorded by the scheduler and not yet claimed by a worker."""
CLAIMED = "running"
"""A fleet task a worker claimed and is running."""


@dataclass(frozen=True)
class FleetTask:
    """The task of one host group in one tick of a fleet (`remediate daemon --broker`)."""

    playbook: str
    tick: int
    group: str
    """The group's first host (sorted): hosts joined by cross-host dependencies run together."""
    hosts: list[str]
    queue: str
    """The broker queue it was sent to (a worker's own, or the shared one)."""
    status: str
    """queued, running, done, locked (another run held a host), refused (playbook differs),
    superseded (a later tick got there first), failed (the run raised)."""
    worker: str
    run_id: str
    reason: str
    claimed_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None


@dataclass(frozen=True)
class WorkerRecord:
    """A `remediate worker` as it registered itself."""

    name: str
    queue: str
    controller: str
    pid: int
    started_at: datetime
    playbook_hash: str


@dataclass(frozen=True)
class FleetTick:
    playbook: str
    tick: int
    scheduled_at: datetime
    scheduler: str
    tasks: int


# The schema, one list of statements per version; {id} and {real} are the dialect's.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE runs (run_id TEXT PRIMARY KEY, playbook TEXT NOT NULL, controller TEXT NOT NULL,
            pid INTEGER NOT NULL, hosts TEXT NOT NULL, mode TEXT NOT NULL, started_at {real} NOT NULL,
            finished_at {real}, exit_code INTEGER, counts TEXT)""",
        """CREATE TABLE node_results (id {id}, run_id TEXT NOT NULL, host TEXT NOT NULL, node TEXT NOT NULL,
            outcome TEXT NOT NULL, reason TEXT NOT NULL, evidence TEXT NOT NULL, severity TEXT NOT NULL,
            at {real} NOT NULL, duration_ms {real})""",
        "CREATE INDEX node_results_node ON node_results (host, node, at)",
        """CREATE TABLE attempts (id {id}, run_id TEXT NOT NULL, host TEXT NOT NULL, node TEXT NOT NULL,
            attempt INTEGER NOT NULL, step TEXT NOT NULL, action TEXT NOT NULL, started_at {real} NOT NULL,
            finished_at {real}, outcome TEXT NOT NULL, duration_ms {real}, reason TEXT NOT NULL)""",
        "CREATE INDEX attempts_node ON attempts (host, node, started_at)",
        """CREATE TABLE node_state (host TEXT NOT NULL, node TEXT NOT NULL, state TEXT, state_since {real},
            healthy_since {real}, reset_at {real}, failures INTEGER NOT NULL, last_failure_at {real},
            PRIMARY KEY (host, node))""",
        """CREATE TABLE transitions (id {id}, host TEXT NOT NULL, node TEXT NOT NULL, at {real} NOT NULL,
            state TEXT NOT NULL)""",
        "CREATE INDEX transitions_node ON transitions (host, node, at)",
        """CREATE TABLE pauses (host TEXT NOT NULL, node TEXT NOT NULL, until {real}, reason TEXT NOT NULL,
            created_at {real} NOT NULL, created_by TEXT NOT NULL, PRIMARY KEY (host, node))""",
        """CREATE TABLE escalations (id {id}, scope TEXT NOT NULL, host TEXT NOT NULL, node TEXT NOT NULL,
            severity TEXT NOT NULL, reason TEXT NOT NULL, opened_at {real} NOT NULL, closed_at {real},
            notified_at {real})""",
        "CREATE INDEX escalations_open ON escalations (scope, closed_at)",
    ],
    # 2: the signal that stopped a run.
    ["ALTER TABLE runs ADD COLUMN ended_by TEXT"],
    # 3: the versions that were last healthy, per service (for rollbacks).
    [
        """CREATE TABLE versions (id {id}, host TEXT NOT NULL, project TEXT NOT NULL, service TEXT NOT NULL,
            container TEXT NOT NULL, image_id TEXT NOT NULL, image TEXT NOT NULL, repo_digest TEXT NOT NULL,
            config_hash TEXT NOT NULL, alembic_revision TEXT NOT NULL, node TEXT NOT NULL,
            first_seen_at {real} NOT NULL, seen_at {real} NOT NULL)""",
        "CREATE INDEX versions_service ON versions (host, project, service, seen_at)",
    ],
    # 4: what started a run (the status page's timeline).
    ["ALTER TABLE runs ADD COLUMN started_by TEXT"],
    # 5: approvals of steps that need an operator's yes.
    [
        """CREATE TABLE approvals (id TEXT PRIMARY KEY, host TEXT NOT NULL, node TEXT NOT NULL,
            step TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, plan TEXT NOT NULL,
            evidence TEXT NOT NULL, requested_at {real} NOT NULL, expires_at {real} NOT NULL,
            run_id TEXT NOT NULL, answered_at {real}, answered_by TEXT NOT NULL, note TEXT NOT NULL,
            used_at {real}, used_by_run TEXT NOT NULL)""",
        "CREATE INDEX approvals_node ON approvals (host, node, status)",
    ],
    # 6: a fleet of workers (remediate worker / daemon --broker): ticks scheduled once, the
    # task of each host group in a tick claimed once, the workers and what they served.
    [
        """CREATE TABLE fleet_ticks (playbook TEXT NOT NULL, tick BIGINT NOT NULL,
            scheduled_at {real} NOT NULL, scheduler TEXT NOT NULL, tasks INTEGER NOT NULL,
            PRIMARY KEY (playbook, tick))""",
        """CREATE TABLE fleet_tasks (playbook TEXT NOT NULL, tick BIGINT NOT NULL, grp TEXT NOT NULL,
            hosts TEXT NOT NULL, queue TEXT NOT NULL, status TEXT NOT NULL, worker TEXT NOT NULL,
            run_id TEXT NOT NULL, reason TEXT NOT NULL, claimed_at {real}, finished_at {real},
            exit_code INTEGER, PRIMARY KEY (playbook, tick, grp))""",
        """CREATE TABLE fleet_workers (name TEXT PRIMARY KEY, queue TEXT NOT NULL, controller TEXT NOT NULL,
            pid INTEGER NOT NULL, started_at {real} NOT NULL, playbook_hash TEXT NOT NULL)""",
    ],
    # 7: what the status page reads across nodes by time, found without reading whole tables
    # (they grow with every run: a daemon ticking every minute adds half a million runs a year).
    [
        "CREATE INDEX runs_started ON runs (started_at)",
        "CREATE INDEX attempts_started ON attempts (started_at)",
        "CREATE INDEX transitions_at ON transitions (at)",
        # Each node's latest outcome, kept beside the history as it is recorded: the status
        # page reads a row per node instead of seeking each node's newest in the history.
        """CREATE TABLE node_latest (host TEXT NOT NULL, node TEXT NOT NULL, outcome TEXT NOT NULL,
            reason TEXT NOT NULL, at {real} NOT NULL, run_id TEXT NOT NULL, severity TEXT NOT NULL,
            PRIMARY KEY (host, node))""",
        """INSERT INTO node_latest (host, node, outcome, reason, at, run_id, severity)
            SELECT r.host, r.node, r.outcome, r.reason, r.at, r.run_id, r.severity FROM node_results r
            JOIN (SELECT host, node, MAX(id) AS id FROM node_results GROUP BY host, node) newest
            ON r.id = newest.id""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

IN_CHUNK = 500
"""Values per ``IN (...)`` list of one statement (SQLite bounds a statement's parameters)."""

_ATTEMPT_COLUMNS = (
    "id, run_id, host, node, attempt, step, action, started_at, finished_at, outcome, duration_ms, reason"
)
_RUN_COLUMNS = (
    "run_id, playbook, controller, hosts, mode, started_at, finished_at, exit_code, counts, ended_by, "
    "started_by"
)
_ESCALATION_COLUMNS = "id, scope, host, node, severity, reason, opened_at, closed_at, notified_at"
_APPROVAL_COLUMNS = (
    "id, host, node, step, status, reason, plan, evidence, requested_at, expires_at, run_id, answered_at, "
    "answered_by, note, used_at, used_by_run"
)
_TASK_COLUMNS = (
    "playbook, tick, grp, hosts, queue, status, worker, run_id, reason, claimed_at, finished_at, exit_code"
)
_VERSION_COLUMNS = (
    "host, project, service, container, image_id, image, repo_digest, config_hash, alembic_revision, node, "
    "first_seen_at, seen_at"
)


RECORD_RESULT_SQL = (
    "INSERT INTO node_results (run_id, host, node, outcome, reason, evidence, severity, at, duration_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_LATEST_SQL = (
    # The latest by time; at the same time, the one recorded last.
    "INSERT INTO node_latest (host, node, outcome, reason, at, run_id, severity) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, node) DO UPDATE SET "
    "outcome = excluded.outcome, reason = excluded.reason, at = excluded.at, "
    "run_id = excluded.run_id, severity = excluded.severity WHERE excluded.at >= node_latest.at"
)


@dataclass(frozen=True)
class TaskEnd:
    """How one fleet task ended, as `SqlStateStore.finish_tasks` records it."""

    group: str
    status: str
    reason: str
    exit_code: int | None = None


class SqlStateStore:
    """The state store over a DB-API connection. Thread-safe: the run loop records from its
    worker threads. Subclasses open the connection and provide the dialect and the lock."""

    placeholder = "?"
    dialect: dict[str, str] = {}
    location = ""
    """Where the state lives, for messages (a path, or a URL without its password)."""

    def __init__(self) -> None:
        self._mutex = threading.RLock()

    # --- the backend's part ------------------------------------------------------------

    def _connection(self) -> Any:
        raise NotImplementedError

    def _migration_lock(self) -> Any:
        """A context manager held while the schema is checked and migrated."""
        raise NotImplementedError

    def _atomic(self) -> Any:
        """A context manager whose statements are written together or not at all (inside a
        transaction already open on the connection too)."""
        raise NotImplementedError

    def lock(self, hosts: Sequence[str], owner: LockOwner) -> HostLock:
        """Take the run lock for these hosts without waiting; raises LockHeld naming the holder."""
        raise NotImplementedError

    def close(self) -> None:
        with self._mutex:
            self._connection().close()

    # --- SQL helpers -------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        statement = statement.format(**self.dialect) if "{" in statement else statement
        return statement.replace("?", self.placeholder) if self.placeholder != "?" else statement

    def _execute(self, statement: str, parameters: Sequence[Any] = ()) -> Any:
        with self._mutex:
            cursor = self._connection().cursor()
            cursor.execute(self._sql(statement), tuple(parameters))
            return cursor

    def _rows(self, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            return [tuple(row) for row in self._execute(statement, parameters).fetchall()]

    def _rows_in(self, statement: str, values: Collection[Any]) -> list[tuple[Any, ...]]:
        """`_rows` of a statement whose ``{marks}`` stands for the placeholders of `values`,
        run in chunks of `IN_CHUNK`: SQLite bounds a statement's parameters."""
        ordered = sorted(values)
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ordered), IN_CHUNK):
            chunk = ordered[start : start + IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows.extend(self._rows(statement.replace("{marks}", marks), chunk))
        return rows

    def _insert(self, statement: str, parameters: Sequence[Any]) -> int:
        with self._mutex:
            row = self._execute(statement + " RETURNING id", parameters).fetchone()
            return int(row[0])

    def migrate(self) -> None:
        """Create the schema on first use, or bring an older one up to date."""
        with self._mutex, self._migration_lock():
            self._execute("CREATE TABLE IF NOT EXISTS remediate_schema (version INTEGER NOT NULL)")
            rows = self._rows("SELECT version FROM remediate_schema")
            version = int(rows[0][0]) if rows else 0
            if version > SCHEMA_VERSION:
                raise StateStoreError(
                    f"the state in {self.location} has schema version {version}, newer than this "
                    f"engine's {SCHEMA_VERSION}: upgrade remediate"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    self._execute(statement)
            if not rows:
                self._execute("INSERT INTO remediate_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                self._execute("UPDATE remediate_schema SET version = ?", (SCHEMA_VERSION,))

    def change_marker(self) -> object | None:
        """A value that differs whenever anything was written to the store since it was last
        asked, by this connection or another (a reader caches what it gathered under it);
        None when the backend cannot tell, and then nothing may be cached."""
        return None

    @property
    def schema_version(self) -> int:
        return int(self._rows("SELECT version FROM remediate_schema")[0][0])

    # --- runs and outcomes -------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        playbook: str,
        hosts: Iterable[str],
        mode: str,
        at: datetime,
        owner: LockOwner,
        trigger: str = "timer",
    ) -> None:
        self._execute(
            "INSERT INTO runs (run_id, playbook, controller, pid, hosts, mode, started_at, started_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                playbook,
                owner.controller,
                owner.pid,
                json.dumps(list(hosts)),
                mode,
                to_epoch(at),
                trigger,
            ),
        )

    def finish_run(
        self,
        run_id: str,
        at: datetime,
        exit_code: int,
        counts: dict[str, int],
        ended_by: str | None = None,
    ) -> None:
        """Record the run's end; `ended_by` names the signal that stopped it, if one did."""
        self._execute(
            "UPDATE runs SET finished_at = ?, exit_code = ?, counts = ?, ended_by = ? WHERE run_id = ?",
            (to_epoch(at), exit_code, json.dumps(counts), ended_by, run_id),
        )

    def runs(self, since: datetime | None = None) -> list[RunRecord]:
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE started_at >= ? ORDER BY started_at",
            (to_epoch(since) if since else 0.0,),
        )
        return [_run(r) for r in rows]

    def latest_runs(self, count: int) -> list[RunRecord]:
        """The `count` most recent runs, newest first."""
        rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC LIMIT ?", (count,))
        return [_run(r) for r in rows]

    def record_outcome(
        self,
        run_id: str,
        host: str,
        node: str,
        outcome: str,
        reason: str,
        evidence: dict[str, Any],
        severity: str,
        at: datetime,
        duration_ms: float | None = None,
    ) -> None:
        masked = REDACTOR.text(reason)
        evidence_text = json.dumps(REDACTOR.data(evidence), default=str)
        self._write_outcome(
            (run_id, host, node, outcome, masked, evidence_text, severity, to_epoch(at), duration_ms),
            (host, node, outcome, masked, to_epoch(at), run_id, severity),
        )

    def _write_outcome(self, result: Sequence[Any], latest: Sequence[Any]) -> None:
        """Add the `node_results` row and update `node_latest`, together."""
        with self._mutex, self._atomic():
            self._execute(RECORD_RESULT_SQL, result)
            self._execute(UPDATE_LATEST_SQL, latest)

    def last_outcomes(self) -> dict[tuple[str, str], tuple[str, datetime]]:
        """Each node's latest recorded outcome and when (`node_latest`)."""
        rows = self._rows("SELECT host, node, outcome, at FROM node_latest")
        return {(r[0], r[1]): (r[2], _at(r[3])) for r in rows}

    def latest_results(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], LatestResult]:
        """The latest recorded outcome, with its reason, of each (host, node) of `keys` that has
        one (the status page): one row per node from `node_latest`, kept as outcomes are
        recorded (finding each node's newest row in the history cost the page about 30 ms
        grouping 100,000 rows, and still 10 ms seeking a thousand nodes' newest)."""
        wanted = set(keys)
        rows = self._rows("SELECT host, node, outcome, reason, at, run_id, severity FROM node_latest")
        return {
            (r[0], r[1]): LatestResult(r[2], r[3], _at(r[4]), r[5], r[6])
            for r in rows
            if (r[0], r[1]) in wanted
        }

    def outcome_counts(self, outcomes: Iterable[str]) -> dict[tuple[str, str, str], int]:
        """Runs that ended each node with one of `outcomes`, per (host, node, outcome)."""
        names = list(outcomes)
        marks = ", ".join("?" for _ in names)
        rows = self._rows(
            f"SELECT host, node, outcome, COUNT(*) FROM node_results WHERE outcome IN ({marks}) "
            "GROUP BY host, node, outcome",
            names,
        )
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    def last_evidence(self, host: str, node: str, outcomes: Iterable[str]) -> dict[str, Any]:
        """The evidence of the node's latest outcome among `outcomes` ({} when none)."""
        names = list(outcomes)
        marks = ", ".join("?" for _ in names)
        rows = self._rows(
            f"SELECT evidence FROM node_results WHERE host = ? AND node = ? AND outcome IN ({marks}) "
            "ORDER BY at DESC, id DESC LIMIT 1",
            (host, node, *names),
        )
        found = json.loads(rows[0][0]) if rows else {}
        return found if isinstance(found, dict) else {}

    def last_good(self, good: Iterable[str]) -> dict[tuple[str, str], datetime]:
        """When each node last ended with one of the `good` outcomes."""
        names = list(good)
        marks = ", ".join("?" for _ in names)
        rows = self._rows(
            f"SELECT host, node, MAX(at) FROM node_results WHERE outcome IN ({marks}) GROUP BY host, node",
            names,
        )
        return {(r[0], r[1]): _at(r[2]) for r in rows}

    # --- action attempts ---------------------------------------------------------------

    def begin_attempt(
        self, run_id: str, host: str, node: str, attempt: int, step: str, action: str, at: datetime
    ) -> int:
        """Record an action as started, before it runs; returns its id for `finish_attempt`."""
        return self._insert(
            "INSERT INTO attempts (run_id, host, node, attempt, step, action, started_at, outcome, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '')",
            (run_id, host, node, attempt, REDACTOR.text(step), action, to_epoch(at), RUNNING),
        )

    def finish_attempt(
        self, attempt_id: int, at: datetime, outcome: str, duration_ms: float, reason: str
    ) -> None:
        self._execute(
            "UPDATE attempts SET finished_at = ?, outcome = ?, duration_ms = ?, reason = ? WHERE id = ?",
            (to_epoch(at), outcome, duration_ms, REDACTOR.text(reason), attempt_id),
        )

    def attempts(self, host: str, node: str, since: datetime | None = None) -> list[Attempt]:
        """The node's attempts started after `since` (all when None), oldest first."""
        rows = self._rows(
            f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE host = ? AND node = ? AND started_at > ? "
            "ORDER BY started_at, id",
            (host, node, to_epoch(since) if since else -1.0),
        )
        return [_attempt(r) for r in rows]

    def attempts_since(self, since: datetime) -> dict[tuple[str, str], list[Attempt]]:
        """Every node's attempts started after `since`, oldest first (one query)."""
        rows = self._rows(
            f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE started_at > ? ORDER BY started_at, id",
            (to_epoch(since),),
        )
        found: dict[tuple[str, str], list[Attempt]] = {}
        for r in rows:
            found.setdefault((r[2], r[3]), []).append(_attempt(r))
        return found

    def remediation_counts(self) -> dict[tuple[str, str, str], int]:
        """Actions run per (host, node, outcome), over the whole history."""
        rows = self._rows("SELECT host, node, outcome, COUNT(*) FROM attempts GROUP BY host, node, outcome")
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    # --- node memory -------------------------------------------------------------------

    def node_state(self, host: str, node: str) -> NodeState:
        rows = self._rows(
            "SELECT state, state_since, healthy_since, reset_at, failures, last_failure_at FROM node_state "
            "WHERE host = ? AND node = ?",
            (host, node),
        )
        if not rows:
            return NodeState(host, node)
        r = rows[0]
        return NodeState(
            host,
            node,
            r[0],
            from_epoch(r[1]),
            from_epoch(r[2]),
            from_epoch(r[3]),
            int(r[4]),
            from_epoch(r[5]),
        )

    def save_node_state(self, state: NodeState) -> None:
        self._execute(
            "INSERT INTO node_state (host, node, state, state_since, healthy_since, reset_at, failures, "
            "last_failure_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, node) DO UPDATE SET "
            "state = excluded.state, state_since = excluded.state_since, "
            "healthy_since = excluded.healthy_since, reset_at = excluded.reset_at, "
            "failures = excluded.failures, last_failure_at = excluded.last_failure_at",
            (
                state.host,
                state.node,
                state.state,
                _maybe_epoch(state.state_since),
                _maybe_epoch(state.healthy_since),
                _maybe_epoch(state.reset_at),
                state.failures,
                _maybe_epoch(state.last_failure_at),
            ),
        )

    def node_states(self, hosts: Collection[str] | None = None) -> list[NodeState]:
        """Every node's memory, or only the nodes of `hosts` (a run's, read at its start)."""
        columns = "SELECT host, node, state, state_since, healthy_since, reset_at, failures, last_failure_at "
        if hosts is None:
            rows = self._rows(columns + "FROM node_state ORDER BY host, node")
        else:
            rows = self._rows_in(
                columns + "FROM node_state WHERE host IN ({marks}) ORDER BY host, node", hosts
            )
        return [
            NodeState(
                r[0],
                r[1],
                r[2],
                from_epoch(r[3]),
                from_epoch(r[4]),
                from_epoch(r[5]),
                int(r[6]),
                from_epoch(r[7]),
            )
            for r in rows
        ]

    def add_transition(self, host: str, node: str, at: datetime, state: str) -> None:
        self._execute(
            "INSERT INTO transitions (host, node, at, state) VALUES (?, ?, ?, ?)",
            (host, node, to_epoch(at), state),
        )

    def transitions(self, host: str, node: str, since: datetime) -> list[tuple[datetime, str]]:
        rows = self._rows(
            "SELECT at, state FROM transitions WHERE host = ? AND node = ? AND at > ? ORDER BY at, id",
            (host, node, to_epoch(since)),
        )
        return [(_at(r[0]), r[1]) for r in rows]

    def transitions_since(self, since: datetime) -> dict[tuple[str, str], list[tuple[datetime, str]]]:
        """Every node's state changes after `since`, oldest first (one query, for the status
        page: a query per node cost it about 30 ms at a thousand nodes)."""
        rows = self._rows(
            "SELECT host, node, at, state FROM transitions WHERE at > ? ORDER BY at, id", (to_epoch(since),)
        )
        found: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        for r in rows:
            found.setdefault((r[0], r[1]), []).append((_at(r[2]), r[3]))
        return found

    # --- operator pauses ---------------------------------------------------------------

    def set_pause(
        self, host: str, node: str, until: datetime | None, reason: str, at: datetime, by: str
    ) -> None:
        self._execute(
            "INSERT INTO pauses (host, node, until, reason, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (host, node) DO UPDATE SET until = excluded.until, reason = excluded.reason, "
            "created_at = excluded.created_at, created_by = excluded.created_by",
            (host, node, _maybe_epoch(until), REDACTOR.text(reason), to_epoch(at), by),
        )

    def clear_pause(self, host: str, node: str) -> bool:
        """Remove a pause; whether there was one."""
        return bool(self._execute("DELETE FROM pauses WHERE host = ? AND node = ?", (host, node)).rowcount)

    def pauses(self, at: datetime) -> list[Pause]:
        """Pauses in force at `at` (expired ones are ignored, not deleted: they are history)."""
        rows = self._rows(
            "SELECT host, node, until, reason, created_at, created_by FROM pauses "
            "WHERE until IS NULL OR until > ? ORDER BY node, host",
            (to_epoch(at),),
        )
        return [Pause(r[0], r[1], from_epoch(r[2]), r[3], _at(r[4]), r[5]) for r in rows]

    def pause_for(self, host: str, node: str, at: datetime) -> Pause | None:
        """The pause covering this node on this host (a host's own before a `*` one)."""
        matching = [p for p in self.pauses(at) if p.node == node and p.host in (host, "*")]
        matching.sort(key=lambda p: p.host == "*")
        return matching[0] if matching else None

    # --- escalations -------------------------------------------------------------------

    def open_escalation(
        self, scope: str, host: str, node: str, severity: str, reason: str, at: datetime
    ) -> Escalation | None:
        """Open an escalation for `scope` unless one is open already (escalate once, not once
        per run); returns the new one, or None when one was open."""
        with self._mutex:
            if self.open_escalation_for(scope) is not None:
                return None
            new_id = self._insert(
                "INSERT INTO escalations (scope, host, node, severity, reason, opened_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (scope, host, node, severity, REDACTOR.text(reason), to_epoch(at)),
            )
            return self._escalation(new_id)

    def open_escalation_for(self, scope: str) -> Escalation | None:
        rows = self._rows(
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE scope = ? AND closed_at IS NULL "
            "ORDER BY id",
            (scope,),
        )
        return _escalation(rows[0]) if rows else None

    def close_escalation(self, scope: str, at: datetime) -> Escalation | None:
        """Close the open escalation for `scope`; returns it as it was, or None."""
        with self._mutex:
            open_one = self.open_escalation_for(scope)
            if open_one is None:
                return None
            self._execute("UPDATE escalations SET closed_at = ? WHERE id = ?", (to_epoch(at), open_one.id))
            return open_one

    def renotify_escalation(self, escalation_id: int, severity: str, reason: str) -> None:
        """Give an open escalation a new reason and mark it not yet delivered, so the run
        sends it again (the engine has stopped trying: it was escalated when the node's
        ladder was spent, and its limit is now reached)."""
        self._execute(
            "UPDATE escalations SET severity = ?, reason = ?, notified_at = NULL WHERE id = ?",
            (severity, REDACTOR.text(reason), escalation_id),
        )

    def mark_notified(self, escalation_id: int, at: datetime) -> None:
        self._execute("UPDATE escalations SET notified_at = ? WHERE id = ?", (to_epoch(at), escalation_id))

    def escalations(self, open_only: bool = False) -> list[Escalation]:
        where = " WHERE closed_at IS NULL" if open_only else ""
        return [
            _escalation(r)
            for r in self._rows(f"SELECT {_ESCALATION_COLUMNS} FROM escalations{where} ORDER BY id")
        ]

    def _escalation(self, escalation_id: int) -> Escalation:
        rows = self._rows(f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE id = ?", (escalation_id,))
        return _escalation(rows[0])

    # --- healthy versions --------------------------------------------------------------

    def record_version(self, version: VersionRecord) -> None:
        """Remember a healthy version of a service: the same version as the newest one only
        moves its `seen_at`; a new one is added and only the newest `VERSIONS_KEPT` stay."""
        key = (version.host, version.project, version.service)
        same = (version.image_id, version.config_hash, version.alembic_revision)
        with self._mutex:
            rows = self._rows(
                "SELECT id, image_id, config_hash, alembic_revision FROM versions "
                "WHERE host = ? AND project = ? AND service = ? ORDER BY seen_at DESC, id DESC",
                key,
            )
            if rows and tuple(rows[0][1:]) == same:
                self._execute(
                    "UPDATE versions SET seen_at = ?, container = ?, node = ? WHERE id = ?",
                    (to_epoch(version.seen_at), version.container, version.node, rows[0][0]),
                )
                return
            self._insert(
                f"INSERT INTO versions ({_VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    version.container,
                    version.image_id,
                    REDACTOR.text(version.image),
                    version.repo_digest,
                    version.config_hash,
                    version.alembic_revision,
                    version.node,
                    to_epoch(version.first_seen_at),
                    to_epoch(version.seen_at),
                ),
            )
            for old in rows[VERSIONS_KEPT - 1 :]:
                self._execute("DELETE FROM versions WHERE id = ?", (old[0],))

    def versions(
        self, host: str | None = None, project: str | None = None, service: str | None = None
    ) -> list[VersionRecord]:
        """Recorded healthy versions, newest first, optionally of one host, project, service."""
        conditions, parameters = ["1 = 1"], []
        for column, value in (("host", host), ("project", project), ("service", service)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        rows = self._rows(
            f"SELECT {_VERSION_COLUMNS} FROM versions WHERE {' AND '.join(conditions)} "
            "ORDER BY host, project, service, seen_at DESC, id DESC",
            parameters,
        )
        return [_version(r) for r in rows]

    # --- approvals ---------------------------------------------------------------------

    def request_approval(
        self,
        approval_id: str,
        host: str,
        node: str,
        step: str,
        reason: str,
        plan: Sequence[str],
        evidence: dict[str, Any],
        at: datetime,
        expires_at: datetime,
        run_id: str,
    ) -> Approval:
        """Record a pending approval (masked); returns it."""
        self._execute(
            f"INSERT INTO approvals ({_APPROVAL_COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', '', NULL, '')",
            (
                approval_id,
                host,
                node,
                REDACTOR.text(step),
                PENDING,
                REDACTOR.text(reason),
                json.dumps([REDACTOR.text(line) for line in plan]),
                json.dumps(REDACTOR.data(evidence), default=str),
                to_epoch(at),
                to_epoch(expires_at),
                run_id,
            ),
        )
        found = self.approval(approval_id)
        assert found is not None
        return found

    def approval(self, approval_id: str) -> Approval | None:
        rows = self._rows(f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (approval_id,))
        return _approval(rows[0]) if rows else None

    def approvals(
        self, open_only: bool = False, host: str | None = None, node: str | None = None
    ) -> list[Approval]:
        """Approvals, newest first; `open_only`: pending or approved and not yet used."""
        conditions: list[str] = ["1 = 1"]
        parameters: list[str] = []
        if open_only:
            conditions.append("status IN (?, ?)")
            parameters.extend(OPEN_APPROVALS)
        for column, value in (("host", host), ("node", node)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        rows = self._rows(
            f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE {' AND '.join(conditions)} "
            "ORDER BY requested_at DESC, id",
            parameters,
        )
        return [_approval(r) for r in rows]

    def open_approval_keys(self, hosts: Collection[str]) -> set[tuple[str, str]]:
        """The (host, node) of every open approval of `hosts` (one query: open approvals are
        few, the hosts many)."""
        wanted = set(hosts)
        rows = self._rows("SELECT host, node FROM approvals WHERE status IN (?, ?)", OPEN_APPROVALS)
        return {(str(r[0]), str(r[1])) for r in rows if r[0] in wanted}

    def open_approval_for(self, host: str, node: str) -> Approval | None:
        """The node's open approval (pending, or approved and not yet used), if any."""
        found = self.approvals(open_only=True, host=host, node=node)
        return found[0] if found else None

    def answer_approval(
        self, approval_id: str, approve: bool, by: str, at: datetime, note: str = ""
    ) -> Approval:
        """Approve or deny a pending approval; returns it as answered. Approving one already
        approved by the same answer changes nothing and returns it (an approval acts once
        however often it is approved). Raises ApprovalError for an unknown id, one answered
        otherwise, or one past its expiry (which is then recorded `expired`)."""
        status = APPROVED if approve else DENIED
        with self._mutex:
            found = self.approval(approval_id)
            if found is None:
                raise ApprovalError(f"no approval {approval_id!r}; `remediate approvals` lists them")
            if found.status == PENDING and found.expires_at <= at:
                self.expire_approval(approval_id, at)
                raise ApprovalError(
                    f"approval {approval_id} expired at {found.expires_at.isoformat()} unanswered: "
                    "it is denied; the next run asks again if the node is still unhealthy"
                )
            if found.status != PENDING:
                if found.status == status or (approve and found.status == USED):
                    return found
                by_whom = f" by {found.answered_by}" if found.answered_by else ""
                raise ApprovalError(
                    f"approval {approval_id} is already {found.status}{by_whom}: {found.note}"
                )
            text = note or f"{status} by {by}"
            changed = self._execute(
                "UPDATE approvals SET status = ?, answered_at = ?, answered_by = ?, note = ? "
                "WHERE id = ? AND status = ?",
                (status, to_epoch(at), REDACTOR.text(by), REDACTOR.text(text), approval_id, PENDING),
            ).rowcount
            answered = self.approval(approval_id)
            assert answered is not None
            if not changed:  # answered by someone else in between
                raise ApprovalError(f"approval {approval_id} is already {answered.status}")
            return answered

    def expire_approval(self, approval_id: str, at: datetime) -> bool:
        """Deny a pending approval past its expiry (`expired`); whether it was pending."""
        return self._close_approval(approval_id, PENDING, EXPIRED, at, "expired unanswered: denied")

    def withdraw_approval(self, approval_id: str, at: datetime, note: str) -> bool:
        """Close an open approval that is no longer needed (the node is healthy again)."""
        with self._mutex:
            return any(self._close_approval(approval_id, was, WITHDRAWN, at, note) for was in OPEN_APPROVALS)

    def use_approval(self, approval_id: str, run_id: str, at: datetime) -> bool:
        """Mark an approved approval used by `run_id`; False when it was not (or no longer)
        approved: only one run acts on one approval."""
        return bool(
            self._execute(
                "UPDATE approvals SET status = ?, used_at = ?, used_by_run = ? WHERE id = ? AND status = ?",
                (USED, to_epoch(at), run_id, approval_id, APPROVED),
            ).rowcount
        )

    def _close_approval(self, approval_id: str, was: str, status: str, at: datetime, note: str) -> bool:
        if was != PENDING:
            # An approved one keeps who approved it and when (the history shows it).
            statement = "UPDATE approvals SET status = ? WHERE id = ? AND status = ?"
            parameters: tuple[Any, ...] = (status, approval_id, was)
        else:
            statement = (
                "UPDATE approvals SET status = ?, answered_at = ?, answered_by = 'remediate', note = ? "
                "WHERE id = ? AND status = ?"
            )
            parameters = (status, to_epoch(at), REDACTOR.text(note), approval_id, was)
        return bool(self._execute(statement, parameters).rowcount)

    # --- history -----------------------------------------------------------------------

    def history(
        self, node: str | None = None, since: datetime | None = None, host: str | None = None
    ) -> list[HistoryEntry]:
        """Node outcomes and action attempts, oldest first."""
        conditions, parameters = ["at >= ?"], [to_epoch(since) if since else 0.0]
        if node:
            conditions.append("node = ?")
            parameters.append(node)  # type: ignore[arg-type]
        if host:
            conditions.append("host = ?")
            parameters.append(host)  # type: ignore[arg-type]
        where = " AND ".join(conditions)
        rows = self._rows(
            f"SELECT at, run_id, host, node, kind, outcome, reason, action, duration_ms, step FROM ("
            "SELECT at, run_id, host, node, 'node' AS kind, outcome, reason, '' AS action, duration_ms, "
            "'' AS step, id, 1 AS sort FROM node_results UNION ALL "
            "SELECT started_at AS at, run_id, host, node, 'action' AS kind, outcome, reason, action, "
            "duration_ms, step, id, 0 AS sort FROM attempts UNION ALL "
            # An approval's request and its answer (who approved or denied it) are history too.
            "SELECT requested_at AS at, run_id, host, node, 'approval' AS kind, 'requested' AS outcome, "
            "reason, id AS action, NULL AS duration_ms, step, 0 AS id, 0 AS sort FROM approvals UNION ALL "
            "SELECT answered_at AS at, used_by_run AS run_id, host, node, 'approval' AS kind, "
            "CASE WHEN status IN ('used', 'withdrawn') AND answered_by <> 'remediate' THEN 'approved' "
            "ELSE status END AS outcome, note AS reason, id AS action, NULL AS duration_ms, step, 0 AS id, "
            "2 AS sort FROM approvals WHERE answered_at IS NOT NULL"
            f") entries WHERE {where} ORDER BY at, sort, id",
            parameters,
        )
        return [HistoryEntry(_at(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]


    # --- fleet: ticks, tasks, workers ----------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """The statements inside commit together or not at all."""
        with self._mutex:
            self._execute("BEGIN")
            try:
                yield
            except BaseException:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")

    def record_tick(
        self,
        playbook: str,
        tick: int,
        at: datetime,
        scheduler: str,
        tasks: Sequence[tuple[str, list[str], str]],
    ) -> bool:
        """Record tick `tick` of `playbook` with its tasks (group, hosts, queue), all `queued`;
        False, recording nothing, when that tick was recorded already: a tick is scheduled
        once, whichever scheduler gets there first."""
        with self._transaction():
            inserted = self._execute(
                "INSERT INTO fleet_ticks (playbook, tick, scheduled_at, scheduler, tasks) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (playbook, tick, to_epoch(at), scheduler, len(tasks)),
            ).rowcount
            if not inserted:
                return False
            # One statement sent for every task (psycopg pipelines it): a row each, not a
            # round trip each.
            self._connection().cursor().executemany(
                self._sql(
                    f"INSERT INTO fleet_tasks ({_TASK_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, '', '', '', NULL, NULL, NULL)"
                ),
                [(playbook, tick, group, json.dumps(hosts), queue, QUEUED) for group, hosts, queue in tasks],
            )
            return True

    def claim_task(
        self, playbook: str, tick: int, group: str, worker: str, run_id: str, at: datetime
    ) -> bool:
        """Claim a queued task for `worker`'s run `run_id`; False when it was not queued (a
        redelivered or duplicate message: see `engine.fleet.claims`)."""
        return bool(
            self._execute(
                "UPDATE fleet_tasks SET status = ?, worker = ?, run_id = ?, claimed_at = ? "
                "WHERE playbook = ? AND tick = ? AND grp = ? AND status = ?",
                (CLAIMED, worker, run_id, to_epoch(at), playbook, tick, group, QUEUED),
            ).rowcount
        )

    def claim_fresh_tasks(
        self, playbook: str, tick: int, groups: Sequence[str], worker: str, run_id: str, at: datetime
    ) -> set[str]:
        """`claim_task` in one statement for the `groups` whose task is queued and no later
        tick of which has started (the common delivery, claimed without reading first);
        returns the groups claimed. The others need the full decision
        (`engine.fleet.claims.decide`)."""
        if not groups:
            return set()
        marks = ", ".join("?" for _ in groups)
        rows = self._rows(
            "UPDATE fleet_tasks SET status = ?, worker = ?, run_id = ?, claimed_at = ? "
            f"WHERE playbook = ? AND tick = ? AND status = ? AND grp IN ({marks}) AND NOT EXISTS ("
            "SELECT 1 FROM fleet_tasks later WHERE later.playbook = fleet_tasks.playbook "
            "AND later.grp = fleet_tasks.grp AND later.tick > fleet_tasks.tick AND later.status <> ?) "
            "RETURNING grp",
            (CLAIMED, worker, run_id, to_epoch(at), playbook, tick, QUEUED, *groups, QUEUED),
        )
        return {str(row[0]) for row in rows}

    def take_over_task(
        self, playbook: str, tick: int, group: str, was_run_id: str, worker: str, run_id: str, at: datetime
    ) -> bool:
        """Move a claimed task whose worker died to `worker`; False when someone else did."""
        return bool(
            self._execute(
                "UPDATE fleet_tasks SET worker = ?, run_id = ?, claimed_at = ? "
                "WHERE playbook = ? AND tick = ? AND grp = ? AND status = ? AND run_id = ?",
                (worker, run_id, to_epoch(at), playbook, tick, group, CLAIMED, was_run_id),
            ).rowcount
        )

    def finish_task(
        self,
        playbook: str,
        tick: int,
        group: str,
        status: str,
        reason: str,
        at: datetime,
        exit_code: int | None = None,
        worker: str | None = None,
    ) -> None:
        """Record how a task ended (`worker`: who, when it ends without being claimed)."""
        self.finish_tasks(playbook, tick, [TaskEnd(group, status, reason, exit_code)], at, worker)

    def finish_tasks(
        self, playbook: str, tick: int, ends: Sequence[TaskEnd], at: datetime, worker: str | None = None
    ) -> None:
        """`finish_task` for several tasks of one tick, sent as one batch (a run's groups)."""
        who, finished = worker or "", to_epoch(at)
        where = (playbook, tick)
        rows = [
            (end.status, REDACTOR.text(end.reason), finished, end.exit_code, who, who, *where, end.group)
            for end in ends
        ]
        with self._mutex, self._atomic():
            self._connection().cursor().executemany(
                self._sql(
                    "UPDATE fleet_tasks SET status = ?, reason = ?, finished_at = ?, exit_code = ?, "
                    "worker = CASE WHEN ? = '' THEN worker ELSE ? END "
                    "WHERE playbook = ? AND tick = ? AND grp = ?"
                ),
                rows,
            )

    def fleet_task(self, playbook: str, tick: int, group: str) -> FleetTask | None:
        rows = self._rows(
            f"SELECT {_TASK_COLUMNS} FROM fleet_tasks WHERE playbook = ? AND tick = ? AND grp = ?",
            (playbook, tick, group),
        )
        return _task(rows[0]) if rows else None

    def later_tick_started(self, playbook: str, group: str, tick: int) -> bool:
        """Whether a later tick's task of the group was claimed already (this one is stale)."""
        rows = self._rows(
            "SELECT 1 FROM fleet_tasks WHERE playbook = ? AND grp = ? AND tick > ? AND status <> ? LIMIT 1",
            (playbook, group, tick, QUEUED),
        )
        return bool(rows)

    def acted_in_run(self, run_id: str) -> set[tuple[str, str]]:
        """(host, node) of every action attempt recorded by run `run_id`."""
        rows = self._rows("SELECT DISTINCT host, node FROM attempts WHERE run_id = ?", (run_id,))
        return {(r[0], r[1]) for r in rows}

    def prune_fleet(self, before: datetime) -> int:
        """Delete the ticks scheduled before `before` and their tasks, together; returns how
        many ticks went. Every tick adds a row per host group, and only recent ones are read
        (claims, `status`), so the scheduler prunes what is older than its retention."""
        cutoff = to_epoch(before)
        with self._transaction():
            self._execute(
                "DELETE FROM fleet_tasks WHERE EXISTS (SELECT 1 FROM fleet_ticks t WHERE "
                "t.playbook = fleet_tasks.playbook AND t.tick = fleet_tasks.tick AND t.scheduled_at < ?)",
                (cutoff,),
            )
            return int(self._execute("DELETE FROM fleet_ticks WHERE scheduled_at < ?", (cutoff,)).rowcount)

    def register_worker(self, worker: WorkerRecord) -> None:
        """Record a worker (again, on restart under the same name)."""
        with self._mutex:
            self._execute("DELETE FROM fleet_workers WHERE name = ?", (worker.name,))
            self._execute(
                "INSERT INTO fleet_workers (name, queue, controller, pid, started_at, playbook_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    worker.name,
                    worker.queue,
                    worker.controller,
                    worker.pid,
                    to_epoch(worker.started_at),
                    worker.playbook_hash,
                ),
            )

    def fleet_workers(self) -> list[WorkerRecord]:
        rows = self._rows(
            "SELECT name, queue, controller, pid, started_at, playbook_hash FROM fleet_workers ORDER BY name"
        )
        return [WorkerRecord(r[0], r[1], r[2], int(r[3]), _at(r[4]), r[5]) for r in rows]

    def latest_tick(self) -> tuple[FleetTick, list[FleetTask]] | None:
        """The latest tick scheduled and its tasks, or None."""
        rows = self._rows(
            "SELECT playbook, tick, scheduled_at, scheduler, tasks FROM fleet_ticks "
            "ORDER BY scheduled_at DESC LIMIT 1"
        )
        if not rows:
            return None
        tick = FleetTick(rows[0][0], int(rows[0][1]), _at(rows[0][2]), rows[0][3], int(rows[0][4]))
        tasks = self._rows(
            f"SELECT {_TASK_COLUMNS} FROM fleet_tasks WHERE playbook = ? AND tick = ? ORDER BY grp",
            (tick.playbook, tick.tick),
        )
        return tick, [_task(r) for r in tasks]

    def ticks(self, playbook: str) -> list[FleetTick]:
        """Every tick recorded for `playbook`, oldest first."""
        rows = self._rows(
            "SELECT playbook, tick, scheduled_at, scheduler, tasks FROM fleet_ticks WHERE playbook = ? "
            "ORDER BY tick",
            (playbook,),
        )
        return [FleetTick(r[0], int(r[1]), _at(r[2]), r[3], int(r[4])) for r in rows]

    def served_last(self) -> dict[str, tuple[int, list[str]]]:
        """Per worker: the latest tick it ran tasks of, and the hosts of those tasks."""
        rows = self._rows(
            "SELECT t.worker, t.tick, t.hosts FROM fleet_tasks t JOIN "
            "(SELECT worker, MAX(tick) AS tick FROM fleet_tasks WHERE worker <> '' GROUP BY worker) latest "
            "ON t.worker = latest.worker AND t.tick = latest.tick ORDER BY t.grp"
        )
        served: dict[str, tuple[int, list[str]]] = {}
        for worker, tick, hosts in rows:
            served.setdefault(worker, (int(tick), []))[1].extend(json.loads(hosts))
        return served


def _maybe_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else to_epoch(moment)


def _attempt(r: tuple[Any, ...]) -> Attempt:
    return Attempt(
        int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6], _at(r[7]), from_epoch(r[8]), r[9], r[10], r[11]
    )


def _run(r: tuple[Any, ...]) -> RunRecord:
    counts = json.loads(r[8]) if r[8] else {}
    return RunRecord(
        r[0],
        r[1],
        r[2],
        json.loads(r[3]),
        r[4],
        _at(r[5]),
        from_epoch(r[6]),
        r[7],
        counts,
        r[9],
        r[10] or "timer",
    )


def _approval(r: tuple[Any, ...]) -> Approval:
    plan, evidence = json.loads(r[6]), json.loads(r[7])
    return Approval(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        plan if isinstance(plan, list) else [],
        evidence if isinstance(evidence, dict) else {},
        _at(r[8]),
        _at(r[9]),
        r[10],
        from_epoch(r[11]),
        r[12],
        r[13],
        from_epoch(r[14]),
        r[15],
    )


def _version(r: tuple[Any, ...]) -> VersionRecord:
    return VersionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], _at(r[10]), _at(r[11]))


def _task(r: tuple[Any, ...]) -> FleetTask:
    return FleetTask(
        r[0],
        int(r[1]),
        r[2],
        json.loads(r[3]),
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        from_epoch(r[9]),
        from_epoch(r[10]),
        r[11],
    )


def _escalation(r: tuple[Any, ...]) -> Escalation:
    return Escalation(int(r[0]), r[1], r[2], r[3], r[4], r[5], _at(r[6]), from_epoch(r[7]), from_epoch(r[8]))
