"""What the status page and its API show, gathered from the plan and the state store in a
few queries (the page must answer fast for a thousand nodes), every text masked."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.output.drawing import OUTCOME_COLOURS
from engine.secrets.redact import REDACTOR
from engine.unattended import limits
from engine.unattended.state import StateStore
from engine.unattended.state.base import NodeState

RUNS_SHOWN = 20
"""Runs on the timeline."""
HISTORY_SHOWN = 200
"""History lines on a node's page (the newest)."""
HISTORY_SINCE = timedelta(days=7)

COLOURS = {**OUTCOME_COLOURS, "unknown": "#cfd8dc"}
"""Each outcome's colour, as the HTML report draws it (`unknown`: never recorded)."""


def colour(outcome: str) -> str:
    return COLOURS.get(outcome, COLOURS["unknown"])


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass
class NodeStatus:
    host: str
    node: str
    outcome: str
    """The last recorded outcome, `unknown` before the first."""
    reason: str
    at: str | None
    severity: str
    attempts: int
    """Remediation attempts that count against the limit now."""
    limit: int | None
    """The limit's `max` (None: no limit)."""
    hold: str | None
    """What would hold it back now if it were unhealthy: paused, suppressed, backoff, starting."""
    hold_reason: str
    depends_on: list[str] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return colour(self.outcome)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "colour": self.colour}


def node_statuses(plan: RunPlan, store: StateStore, now: datetime) -> list[NodeStatus]:
    """Every node of the plan, in topological order."""
    latest = store.latest_results()
    states = {(s.host, s.node): s for s in store.node_states()}
    pauses = store.pauses(now)
    windows = [spec.limit.within for spec in plan.specs.values() if spec.limit is not None]
    attempts = store.attempts_since(now - timedelta(seconds=max(windows, default=3600.0)))
    flap_windows = [spec.flapping.within for spec in plan.specs.values() if spec.flapping is not None]
    changes = store.transitions_since(now - timedelta(seconds=max(flap_windows))) if flap_windows else {}
    maintenance = list(plan.settings.maintenance) if plan.settings else []
    found = []
    for key in plan.order():
        spec = plan.specs[key]
        state = states.get((key.host, key.node)) or NodeState(key.host, key.node)
        tried = attempts.get((key.host, key.node), [])
        pause = next(
            iter(sorted((p for p in pauses if p.node == key.node and p.host in (key.host, "*")),
                        key=lambda p: p.host == "*")),
            None,
        )  # fmt: skip
        # Each node's own window out of the widest one's changes.
        since = now - timedelta(seconds=spec.flapping.within) if spec.flapping is not None else None
        transitions = [c for c in changes.get((key.host, key.node), []) if since is not None and c[0] > since]
        memory = limits.Memory(state, tried, transitions, pause)
        decision = limits.decide(spec, memory, {}, now, maintenance)
        counted = len(limits.counted_attempts(tried, state, spec.limit, now)) if spec.limit else len(tried)
        result = latest.get((key.host, key.node))
        found.append(
            NodeStatus(
                host=key.host,
                node=key.node,
                outcome=result.outcome if result else "unknown",
                reason=REDACTOR.text(result.reason) if result else "not run yet",
                at=_iso(result.at) if result else None,
                severity=spec.severity,
                attempts=counted,
                limit=spec.limit.max if spec.limit else None,
                hold=str(decision.outcome) if decision else None,
                hold_reason=REDACTOR.text(decision.reason) if decision else "",
                depends_on=[str(up) for up in plan.graph.predecessors(key)],
            )
        )
    return found


def recent_runs(store: StateStore, count: int = RUNS_SHOWN) -> list[dict[str, Any]]:
    """The newest runs first: when, what started it, how it ended, outcome counts."""
    return [
        {
            "run_id": run.run_id,
            "trigger": run.trigger,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "duration_s": (run.finished_at - run.started_at).total_seconds() if run.finished_at else None,
            "exit_code": run.exit_code,
            "counts": run.counts,
            "hosts": [REDACTOR.text(h) for h in run.hosts],
            "ended_by": run.ended_by,
        }
        for run in store.latest_runs(count)
    ]


def _safe(name: str) -> str:
    # As the docker_logs action names its files.
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def incident_files(directory: Path, node: str) -> list[str]:
    """Evidence the node's actions saved (files named run-node-container-time)."""
    if not directory.is_dir():
        return []
    marker = f"-{_safe(node)}-"
    return sorted((p.name for p in directory.iterdir() if marker in p.name), reverse=True)[:50]


APPROVALS_SHOWN = 10
"""The newest approvals a node's page lists (open ones first among them)."""


def node_detail(
    plan: RunPlan, store: StateStore, key: NodeKey, now: datetime, incident_dir: Path
) -> dict[str, Any]:
    """One node's page: its status, history, the rungs tried, incident files, versions."""
    [status] = [s for s in node_statuses(plan.narrowed({key}), store, now) if NodeKey(s.host, s.node) == key]
    history = store.history(node=key.node, host=key.host, since=now - HISTORY_SINCE)[-HISTORY_SHOWN:]
    spec = plan.specs[key]
    return {
        "status": status.as_json(),
        "description": REDACTOR.text(spec.description or ""),
        "steps": [REDACTOR.text(step.title) for step in spec.remediate],
        "history": [
            {
                "at": _iso(entry.at),
                "run_id": entry.run_id,
                "kind": entry.kind,
                "outcome": entry.outcome,
                "reason": REDACTOR.text(entry.reason),
                "step": REDACTOR.text(entry.step),
                "action": entry.action,
                "duration_ms": entry.duration_ms,
            }
            for entry in reversed(history)
        ],
        "approvals": [a.as_json() for a in store.approvals(host=key.host, node=key.node)[:APPROVALS_SHOWN]],
        "incidents": incident_files(incident_dir, key.node),
        "versions": [
            {
                "service": REDACTOR.text(v.service),
                "image": REDACTOR.text(v.image),
                "image_id": v.image_id,
                "repo_digest": v.repo_digest,
                "config_hash": v.config_hash,
                "alembic_revision": v.alembic_revision,
                "first_seen_at": _iso(v.first_seen_at),
                "seen_at": _iso(v.seen_at),
            }
            for v in store.versions(host=key.host)
            if v.node == key.node
        ],
    }
