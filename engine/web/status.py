"""What the status page and its API show, gathered from the plan and the state store in a
few queries (the page must answer fast for a thousand nodes), every text masked."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
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
REUSE_SECONDS = 1.0
"""How long a status worked out from the same records may be shown again: what holds a node
back moves with the clock alone (a backoff or a pause ends), so a status is at most this
much behind it; a changed record is seen at once."""
PROBLEMS_SHOWN = 100
"""Nodes that need a look listed on `/` (the rest are on /nodes?problems=1)."""
NODES_PER_PAGE = 100
"""Rows of a page of /nodes."""

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

    @property
    def is_problem(self) -> bool:
        """Worth an operator's look: its last outcome was not good, or it is held back."""
        return self.outcome not in GOOD or self.hold is not None

    def as_json(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copied every value (28 ms at 1,000 nodes).
        return {
            "host": self.host,
            "node": self.node,
            "outcome": self.outcome,
            "reason": self.reason,
            "at": self.at,
            "severity": self.severity,
            "attempts": self.attempts,
            "limit": self.limit,
            "hold": self.hold,
            "hold_reason": self.hold_reason,
            "depends_on": list(self.depends_on),
            "colour": self.colour,
        }


GOOD = frozenset({"healthy", "remediated", "skipped"})
"""Outcomes that need no look (a run counts them healthy)."""


@dataclass(frozen=True)
class PlanView:
    """What the pages need of a plan that no request changes, worked out once per plan (the
    daemon makes a new plan when it reloads): the topological order alone cost 13 ms a
    request at 1,000 nodes."""

    plan: RunPlan
    order: list[NodeKey]
    depends_on: dict[NodeKey, list[str]]
    attempts_window: float
    """Seconds of attempts the widest limit looks back."""
    flap_window: float | None
    """Seconds of state changes the widest flapping rule looks back (None: no rule)."""
    remembered: dict[NodeKey, tuple[tuple[Any, ...], datetime, NodeStatus]] = field(default_factory=dict)
    """Each node's last status, with what it was worked out from and when (see node_statuses)."""


def plan_view(plan: RunPlan) -> PlanView:
    windows = [spec.limit.within for spec in plan.specs.values() if spec.limit is not None]
    flap_windows = [spec.flapping.within for spec in plan.specs.values() if spec.flapping is not None]
    order = plan.order()
    return PlanView(
        plan,
        order,
        {key: [str(up) for up in plan.graph.predecessors(key)] for key in order},
        max(windows, default=3600.0),
        max(flap_windows) if flap_windows else None,
    )


def node_statuses(
    plan: RunPlan, store: StateStore, now: datetime, view: PlanView | None = None
) -> list[NodeStatus]:
    """Every node of the plan, in topological order (`view`: the plan's, when already made)."""
    view = view if view is not None and view.plan is plan else plan_view(plan)
    latest = store.latest_results((key.host, key.node) for key in view.order)
    states = {(s.host, s.node): s for s in store.node_states()}
    pauses = store.pauses(now)
    attempts = store.attempts_since(now - timedelta(seconds=view.attempts_window))
    changes = store.transitions_since(now - timedelta(seconds=view.flap_window)) if view.flap_window else {}
    maintenance = list(plan.settings.maintenance) if plan.settings else []
    # A host's own pause of a node before one for every host (`*`), as the runs read them.
    paused = {(p.host, p.node): p for p in pauses}
    # Reasons repeat across nodes ("connection refused"): each distinct text is masked once.
    mask = functools.lru_cache(maxsize=4096)(REDACTOR.text)
    found = []
    for key in view.order:
        spec = plan.specs[key]
        state = states.get((key.host, key.node)) or NodeState(key.host, key.node)
        tried = attempts.get((key.host, key.node), [])
        pause = paused.get((key.host, key.node)) or paused.get(("*", key.node))
        # Each node's own window out of the widest one's changes.
        since = now - timedelta(seconds=spec.flapping.within) if spec.flapping is not None else None
        transitions = [c for c in changes.get((key.host, key.node), []) if since is not None and c[0] > since]
        result = latest.get((key.host, key.node))
        # While a run writes, most nodes' records are as they were: their status is reused
        # (working one out for a thousand nodes is most of what the page costs).
        inputs = (state, tried, transitions, pause, result)
        last = view.remembered.get(key)
        if last is not None and last[0] == inputs and 0 <= (now - last[1]).total_seconds() < REUSE_SECONDS:
            found.append(last[2])
            continue
        memory = limits.Memory(state, tried, transitions, pause)
        decision = limits.decide(spec, memory, {}, now, maintenance)
        counted = (
            len(limits.counted_attempts(tried, state, spec.limit, now))
            if spec.limit and tried
            else len(tried)
        )
        status = NodeStatus(
            host=key.host,
            node=key.node,
            outcome=result.outcome if result else "unknown",
            reason=mask(result.reason) if result else "not run yet",
            at=_iso(result.at) if result else None,
            severity=spec.severity,
            attempts=counted,
            limit=spec.limit.max if spec.limit else None,
            hold=str(decision.outcome) if decision else None,
            hold_reason=mask(decision.reason) if decision else "",
            depends_on=view.depends_on[key],
        )
        view.remembered[key] = (inputs, now, status)
        found.append(status)
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
