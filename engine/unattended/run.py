"""A run with memory: the run lock, limits and pauses before acting, every attempt and outcome
recorded, escalations sent once, recoveries announced.

`run_unattended` wraps the plain run loop (`engine.core.runner.Runner`) through `RunHooks`:

1. take the run lock for the plan's hosts (`LockHeld` if another run has one);
2. with ``run_limits.max_unhealthy_share``: check every node first; when too many are
   unhealthy at once, hold every node back this run and escalate once for the run;
3. run the graph; before an unhealthy node is remediated `engine.unattended.limits.decide` may hold it
   back (paused, starting, suppressed, backoff); every action is recorded before it runs;
4. as each node finishes, record its outcome and update its memory (`limits.observe`);
5. before a step that needs an operator's approval (`approval: required`): act on an approved
   approval once, else record a pending one (rendered plan, masked evidence, expiry) and end
   the node `awaiting_approval`; an expired one is denied and asked again, a denial stands
   until its expiry; a node healthy again withdraws its open approval;
6. after the run: open an escalation for each node still down after its whole ladder and
   each newly suppressed node (once: an open one is not sent again, except that a node
   escalated for its spent ladder is sent once more when its limit is reached; see
   `engine.unattended.limits`), close escalations of nodes that are healthy again (a recovery message), and
   send `remediation` messages to the targets that want them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.core.context import alembic_revision
from engine.core.graph import NodeKey
from engine.core.hooks import Act, Hold
from engine.core.node import Mode, NodeResult, planned_step, refusal
from engine.core.planning import RunPlan
from engine.core.results import ActionResult, ActionStatus, CheckResult, Outcome
from engine.core.runner import NodeDone, Runner, RunSettings
from engine.output.logs import QuietLogger
from engine.output.report import RunReport
from engine.playbook.models import NodeSpec, StepSpec
from engine.transports import TransportPool
from engine.unattended import limits
from engine.unattended.locking import HostLock, LockOwner
from engine.unattended.notify import Message, Notifier
from engine.unattended.state import StateStore
from engine.unattended.state.base import (
    APPROVED,
    DENIED,
    PENDING,
    Approval,
    Escalation,
    NodeState,
    VersionRecord,
)

_SEEN_UNHEALTHY_IN_CHECK = (Outcome.UNHEALTHY, Outcome.ERROR)
_GOOD_NOW = (Outcome.HEALTHY, Outcome.REMEDIATED)
_GOOD_NOW_NAMES = tuple(str(o) for o in _GOOD_NOW)
_TRIED_SHOWN = 10
"""How many recent attempts a message lists."""


@dataclass
class Guard:
    """The `RunHooks` of a run with state: decides holds, records attempts and outcomes."""

    store: StateStore
    plan: RunPlan
    settings: RunSettings
    log: Any
    stopping: threading.Event | None = None
    hold_all: str | None = None
    """Why every node is held back this run (blast radius), or None."""
    held: dict[NodeKey, str] = field(default_factory=dict)
    """Nodes not to act on this run, with why (a fleet task taken over from a dead worker:
    what it acted on already waits for the next tick)."""
    decisions: dict[NodeKey, limits.Decision] = field(default_factory=dict)
    acted: set[NodeKey] = field(default_factory=set)
    actions: int = 0
    approved: set[NodeKey] = field(default_factory=set)
    """Nodes acting on an approval in this run: one approval covers the node's ladder."""
    requested: list[Approval] = field(default_factory=list)
    """Approvals this run asked for (notified after the run)."""
    spent: dict[NodeKey, str] = field(default_factory=dict)
    """Nodes still down after climbing their whole ladder, with the escalation's reason."""
    states: dict[NodeKey, NodeState] = field(default_factory=dict)
    """The run's nodes' memory as it was when the run took its lock (`load`)."""
    waiting: set[tuple[str, str]] = field(default_factory=set)
    """The (host, node) of the approvals open when the run took its lock (`load`)."""

    def __post_init__(self) -> None:
        self._mutex = threading.Lock()
        settings = self.plan.settings
        self.maintenance = list(settings.maintenance) if settings else []
        self.max_actions = settings.run_limits.max_actions_per_run if settings else None

    @property
    def recording(self) -> bool:
        return self.settings.mode is Mode.RUN

    def _stopping(self) -> bool:
        return self.stopping is not None and self.stopping.is_set()

    def load(self, hosts: Collection[str]) -> None:
        """Read what `node_done` needs of every node of `hosts` in two queries, once the run
        holds their lock, instead of a query or two per node. Only this run writes their
        memory and opens their approvals now; an operator's `reset` meanwhile is seen where
        it matters (`node_done` reads a node again before changing it)."""
        self.states = {NodeKey(s.host, s.node): s for s in self.store.node_states(hosts)}
        self.waiting = self.store.open_approval_keys(hosts)

    # --- RunHooks ----------------------------------------------------------------------

    def gate(self, key: NodeKey, spec: NodeSpec, check: CheckResult) -> Hold | None:
        if self._stopping():
            return Outcome.SKIPPED, "not remediated: the engine is stopping"
        now = self.settings.clock.now()
        decision: limits.Decision | None
        if self.hold_all is not None:
            decision = limits.Decision(Outcome.SUPPRESSED, self.hold_all)
        elif key in self.held:
            decision = limits.Decision(Outcome.BACKOFF, self.held[key])
        else:
            decision = limits.decide(spec, self.memory(key, spec, now), check.evidence, now, self.maintenance)
        if decision is None and self.max_actions is not None and self.recording:
            with self._mutex:
                if self.actions >= self.max_actions:
                    decision = limits.Decision(
                        Outcome.SUPPRESSED,
                        f"max_actions_per_run ({self.max_actions}) used up by this run; a later run will try",
                    )
        if decision is None:
            return None
        self.decisions[key] = decision
        self.log.info(
            "held back",
            run_id=self.settings.run_id,
            host=key.host,
            node=key.node,
            outcome=str(decision.outcome),
            reason=decision.reason,
            until=decision.until.isoformat() if decision.until else None,
        )
        return decision.outcome, decision.reason

    def approve(self, key: NodeKey, spec: NodeSpec, step: StepSpec, check: CheckResult) -> Hold | None:
        if self._stopping():
            return Outcome.SKIPPED, "not remediated: the engine is stopping"
        with self._mutex:
            if key in self.approved:
                return None
        wait = f"step {step.title!r} needs an operator's approval"
        if not self.recording or check.is_healthy:
            # A dry-run asks nobody; a healthy node (a restart after its upstream recovered)
            # is not worth an operator's time.
            return Outcome.AWAITING_APPROVAL, wait
        store, now = self.store, self.settings.clock.now()
        found = store.open_approval_for(key.host, key.node)
        if found is not None and found.status == APPROVED:
            if store.use_approval(found.id, self.settings.run_id, now):
                with self._mutex:
                    self.approved.add(key)
                self.log.info(
                    "approved", host=key.host, node=key.node, approval=found.id, by=found.answered_by
                )
                return None
            found = store.open_approval_for(key.host, key.node)  # another run used it meanwhile
        asked_again = ""
        if found is not None and found.status == PENDING:
            if found.expires_at > now:
                return Outcome.AWAITING_APPROVAL, (
                    f"{wait}: waiting for approval {found.id} since {found.requested_at:%Y-%m-%d %H:%M}Z "
                    f"(remediate approve {found.id}; expires {found.expires_at:%Y-%m-%d %H:%M}Z)"
                )
            store.expire_approval(found.id, now)
            asked_again = f"; approval {found.id} expired unanswered (denied), asked again"
        latest = store.approvals(host=key.host, node=key.node)
        if latest and latest[0].status == DENIED and latest[0].expires_at > now:
            denial = latest[0]
            return Outcome.PAUSED, (
                f"{wait}: denied by {denial.answered_by} (approval {denial.id}); asked again "
                f"after {denial.expires_at:%Y-%m-%d %H:%M}Z"
            )
        index = spec.remediate.index(step)
        allowed = self.settings.allow_destructive
        plan = [planned_step(s, refusal(s, allowed), spec.needs_approval(s)) for s in spec.remediate[index:]]
        default = self.plan.settings.approvals.expires if self.plan.settings else 86400.0
        expires = now + timedelta(seconds=spec.approval_expiry(step, default))
        request = store.request_approval(
            uuid.uuid4().hex[:12],
            key.host,
            key.node,
            step.title,
            check.reason,
            plan,
            check.evidence,
            now,
            expires,
            self.settings.run_id,
        )
        with self._mutex:
            self.requested.append(request)
        self.log.warning(
            "approval requested", host=key.host, node=key.node, approval=request.id, step=step.title
        )
        return Outcome.AWAITING_APPROVAL, (
            f"{wait}: remediate approve {request.id} (expires {expires:%Y-%m-%d %H:%M}Z){asked_again}"
        )

    def wrap_act(self, key: NodeKey, spec: NodeSpec, act: Act, attempt: Callable[[], int]) -> Act:
        def recorded(step: StepSpec) -> ActionResult:
            if self._stopping():
                return ActionResult(ActionStatus.REFUSED, "not run: the engine is stopping")
            with self._mutex:
                if self.max_actions is not None and self.actions >= self.max_actions:
                    return ActionResult(
                        ActionStatus.REFUSED, f"not run: max_actions_per_run ({self.max_actions}) used up"
                    )
                self.actions += 1
                self.acted.add(key)
            clock = self.settings.clock
            # Recorded before it runs: a run killed during the action still counts it.
            attempt_id = self.store.begin_attempt(
                self.settings.run_id,
                key.host,
                key.node,
                attempt(),
                step.title,
                step.action.type_key,
                clock.now(),
            )
            started = time.perf_counter()
            result = act(step)
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            self.store.finish_attempt(attempt_id, clock.now(), str(result.status), duration_ms, result.detail)
            return result

        return recorded

    def versions(self, host: str, project: str, service: str) -> list[VersionRecord]:
        return self.store.versions(host=host, project=project, service=service)

    # --- memory ------------------------------------------------------------------------

    def memory(self, key: NodeKey, spec: NodeSpec, now: datetime) -> limits.Memory:
        store = self.store
        horizon = max(spec.limit.within if spec.limit else 0.0, spec.start_period)
        attempts = (
            store.attempts(key.host, key.node, since=now - timedelta(seconds=horizon)) if horizon else []
        )
        transitions = (
            store.transitions(key.host, key.node, now - timedelta(seconds=spec.flapping.within))
            if spec.flapping
            else []
        )
        return limits.Memory(
            store.node_state(key.host, key.node),
            attempts,
            transitions,
            store.pause_for(key.host, key.node, now),
        )

    def node_done(self, result: NodeResult) -> None:
        """Record a finished node and update its memory (as it finishes: a killed run keeps it)."""
        key = NodeKey(result.host, result.node)
        spec = self.plan.specs[key]
        now = self.settings.clock.now()
        self.store.record_outcome(
            self.settings.run_id,
            result.host,
            result.node,
            str(result.outcome),
            result.reason,
            result.evidence,
            result.severity,
            now,
            result.duration_ms,
        )
        # An action the stopped run killed did not fail: no backoff before the next run's try.
        interrupted = any(step.status == ActionStatus.INTERRUPTED for step in result.steps)
        attempted = key in self.acted and not interrupted
        state = self.states.get(key, NodeState(key.host, key.node))
        new, changes = limits.observe(state, result.outcome, attempted, now, limits.reset_after(spec))
        if new != state or changes:
            # About to write: from the node's memory as stored now (an operator may have
            # reset it during the run), not as the run found it.
            state = self.store.node_state(key.host, key.node)
            new, changes = limits.observe(state, result.outcome, attempted, now, limits.reset_after(spec))
        spent = limits.ladder_spent_reason(
            result.outcome,
            attempted,
            sum(1 for step in result.steps if step.status != ActionStatus.SKIPPED),
            result.attempts,
            result.reason,
        )
        if spent is not None:
            self.spent[key] = spent
        if new != state:
            self.store.save_node_state(new)
        self.states[key] = new
        for at, health in changes:
            self.store.add_transition(key.host, key.node, at, health)
        if result.outcome in _GOOD_NOW:
            self._remember_version(result, now)
            waiting = self.store.open_approval_for(key.host, key.node) if self._may_wait(key) else None
            if waiting is not None:
                # Re-checked after the approval (or while it was asked): nothing to act on now.
                self.store.withdraw_approval(
                    waiting.id, now, f"not needed: {result.node} was {result.outcome}"
                )

    def _may_wait(self, key: NodeKey) -> bool:
        """Whether the node may have an open approval: one open at the run's start, or one
        this run asked for (only a run holding the host's lock opens one)."""
        with self._mutex:
            asked = any(r.host == key.host and r.node == key.node for r in self.requested)
        return asked or (key.host, key.node) in self.waiting

    def _remember_version(self, result: NodeResult, now: datetime) -> None:
        """A node watching a container ended verified healthy: what the container runs is a
        version a rollback may go back to. The alembic revision comes from the node the
        playbook names (`alembic_node`), as it ended in this run."""
        seen = result.evidence.get("version")
        if not isinstance(seen, dict) or not seen.get("image_id"):
            return
        revision = ""
        alembic_node = self.plan.settings.alembic_node if self.plan.settings else None
        if alembic_node is not None:
            revision = alembic_revision(self.store.last_evidence(result.host, alembic_node, _GOOD_NOW_NAMES))
        service = str(seen.get("service") or seen.get("container") or "")
        self.store.record_version(
            VersionRecord(
                host=result.host,
                project=str(seen.get("project") or ""),
                service=service,
                container=str(seen.get("container") or ""),
                image_id=str(seen["image_id"]),
                image=str(seen.get("image") or ""),
                repo_digest=str(seen.get("repo_digest") or ""),
                config_hash=str(seen.get("config_hash") or ""),
                alembic_revision=revision,
                node=result.node,
                first_seen_at=now,
                seen_at=now,
            )
        )


def blast_radius_hold(
    plan: RunPlan, settings: RunSettings, logger: Any, transports: TransportPool | None = None
) -> str | None:
    """With ``run_limits.max_unhealthy_share``: check every node first (changing nothing);
    why the run must act on none, or None."""
    share = plan.max_unhealthy_share
    if share is None:
        return None
    probe = RunSettings(
        mode=Mode.CHECK,
        forks=settings.forks,
        clock=settings.clock,
        incident_dir=settings.incident_dir,
        run_id=settings.run_id,
    )
    report = Runner(plan, probe, logger=logger, transports=transports).run()
    unhealthy = sum(1 for n in report.nodes if n.outcome in _SEEN_UNHEALTHY_IN_CHECK)
    if not limits.blast_radius_exceeded(unhealthy, len(report.nodes), share):
        return None
    return (
        f"blast radius: {unhealthy} of {len(report.nodes)} nodes unhealthy at once (more than "
        f"{share:.0%}), a network or host problem is likely; acting on none"
    )


def run_scope(plan: RunPlan) -> str:
    return f"run:{plan.playbook}:{','.join(sorted(plan.hosts))}"


def run_unattended(
    plan: RunPlan,
    settings: RunSettings,
    store: StateStore,
    *,
    logger: Any = None,
    stopping: threading.Event | None = None,
    on_node_done: NodeDone | None = None,
    transports: TransportPool | None = None,
    trigger: str = "timer",
    page: str | None = None,
    held: dict[NodeKey, str] | None = None,
) -> RunReport:
    """One run with state (see the module docstring). In RUN mode it takes the run lock first
    and raises `engine.unattended.locking.LockHeld` when another run holds it; a dry-run reads the state
    (to show what would be held back) and writes nothing. `trigger` records what started it
    (`timer`, `alert`, `operator`); `page` is the status page's address for the links in
    approval requests (the playbook's `approvals.page` wins). `held`: nodes not acted on in
    this run, with why (they are checked and end `backoff` if unhealthy)."""
    logger = logger if logger is not None else QuietLogger()
    lock: HostLock | None = None
    if settings.mode is Mode.RUN:
        lock = store.lock(plan.hosts, LockOwner(settings.run_id))
    checks_first = plan.max_unhealthy_share is not None and settings.mode is not Mode.CHECK
    # The blast-radius check pass and the run share one connection per host.
    shared_pool = TransportPool(plan.hostvars) if checks_first and transports is None else None
    transports = transports or shared_pool
    try:
        hold = blast_radius_hold(plan, settings, logger, transports) if checks_first else None
        guard = Guard(store, plan, settings, logger, stopping or settings.stop, hold, dict(held or {}))
        settings.hooks = guard
        recording = settings.mode is Mode.RUN
        if recording:
            guard.load(plan.hosts)
            owner = LockOwner(settings.run_id)
            store.begin_run(
                settings.run_id,
                plan.playbook,
                plan.hosts,
                str(settings.mode),
                settings.clock.now(),
                owner,
                trigger,
            )

        def node_done(result: NodeResult) -> None:
            if recording:
                guard.node_done(result)
            if on_node_done is not None:
                on_node_done(result)

        report = Runner(plan, settings, logger=logger, on_node_done=node_done, transports=transports).run()
        if recording:
            Escalator(store, plan, settings, logger, page).after_run(report, guard)
            store.finish_run(
                settings.run_id, settings.clock.now(), report.exit_code, report.counts, report.stopped_by_name
            )
        return report
    finally:
        if shared_pool is not None:
            shared_pool.close()
        if lock is not None:
            lock.release()


class Escalator:
    """Opens escalations once, closes them on recovery, and sends the messages."""

    def __init__(
        self, store: StateStore, plan: RunPlan, settings: RunSettings, logger: Any, page: str | None = None
    ) -> None:
        self.page = (plan.settings.approvals.page if plan.settings else None) or page or ""
        self.store = store
        self.plan = plan
        self.settings = settings
        self.log = logger
        self.notifier = Notifier(plan.settings.notify if plan.settings else [], logger)

    def after_run(self, report: RunReport, guard: Guard) -> None:
        now = self.settings.clock.now()
        # One query for the escalations a recovery may close, not one per healthy node.
        open_scopes = {escalation.scope for escalation in self.store.escalations(open_only=True)}
        for result in report.nodes:
            key = NodeKey(result.host, result.node)
            decision = guard.decisions.get(key)
            scope = f"{result.host}:{result.node}"
            spent = guard.spent.get(key)
            if decision is not None and decision.escalate:
                self._escalate(scope, result, decision.reason, now, renotify=True)
            elif spent is not None:
                self._escalate(scope, result, spent, now, renotify=False)
            elif result.outcome in _GOOD_NOW and scope in open_scopes:
                closed = self.store.close_escalation(scope, now)
                if closed is not None:
                    self.log.info("recovered", host=result.host, node=result.node, escalated=closed.reason)
                    self._send(
                        "recovery",
                        result,
                        f"recovered ({result.reason or result.outcome}) after: {closed.reason}",
                    )
            if result.outcome is Outcome.REMEDIATED:
                self._send("remediation", result, result.reason)
        self._run_level(guard, now, open_scopes)
        for request in guard.requested:
            self._ask(request)
        # Escalations not yet delivered (new ones, and any whose sending failed before).
        for escalation in self.store.escalations(open_only=True):
            if escalation.notified_at is None and self._send_escalation(escalation, report):
                self.store.mark_notified(escalation.id, now)

    def _escalate(self, scope: str, result: NodeResult, reason: str, now: datetime, renotify: bool) -> None:
        """Open the node's escalation, or with `renotify` send an open one opened by its
        spent ladder again with this reason (the rule: `engine.unattended.limits`)."""
        opened = self.store.open_escalation(scope, result.host, result.node, result.severity, reason, now)
        if opened is not None:
            self.log.warning("escalated", host=result.host, node=result.node, reason=reason)
            return
        current = self.store.open_escalation_for(scope)
        if renotify and current is not None and limits.renotify(current.reason):
            self.store.renotify_escalation(current.id, result.severity, reason)
            self.log.warning("escalated again", host=result.host, node=result.node, reason=reason)

    def _run_level(self, guard: Guard, now: datetime, open_scopes: set[str]) -> None:
        if self.plan.max_unhealthy_share is None:
            return
        scope = run_scope(self.plan)
        if guard.hold_all is not None:
            if self.store.open_escalation(
                scope, ",".join(sorted(self.plan.hosts)), "*", "P1", guard.hold_all, now
            ):
                self.log.warning("escalated", scope=scope, reason=guard.hold_all)
            return
        closed = self.store.close_escalation(scope, now) if scope in open_scopes else None
        if closed is not None:
            self.notifier.send(
                self._message(
                    "recovery", closed.host, "*", "P1", f"fewer nodes unhealthy again after: {closed.reason}"
                )
            )

    def _send_escalation(self, escalation: Escalation, report: RunReport) -> bool:
        result = next(
            (n for n in report.nodes if n.host == escalation.host and n.node == escalation.node), None
        )
        evidence = result.evidence if result else {}
        return self.notifier.send(
            self._message(
                "escalation",
                escalation.host,
                escalation.node,
                escalation.severity,
                escalation.reason,
                evidence,
            )
        )

    def _ask(self, request: Approval) -> None:
        """Tell the `approval` targets: which step waits, why, and where to answer."""
        spec = self.plan.specs.get(NodeKey(request.host, request.node))
        link = (
            f"{self.page.rstrip('/')}/nodes/{urllib.parse.quote(request.host, safe='')}/"
            f"{urllib.parse.quote(request.node, safe='')}#approval-{request.id}"
        )
        message = self._message(
            "approval",
            request.host,
            request.node,
            spec.severity if spec else "P2",
            f"step {request.step!r} waits for approval {request.id}: {request.reason}",
            request.evidence,
        )
        approval = {
            "id": request.id,
            "url": link,
            "step": request.step,
            "plan": request.plan,
            "expires_at": request.expires_at.isoformat(),
            "approve": f"remediate approve {request.id}",
            "deny": f"remediate deny {request.id}",
        }
        self.notifier.send(dataclasses.replace(message, approval=approval))

    def _send(self, event: str, result: NodeResult, reason: str) -> None:
        self.notifier.send(
            self._message(event, result.host, result.node, result.severity, reason, result.evidence)
        )

    def _message(
        self,
        event: str,
        host: str,
        node: str,
        severity: str,
        reason: str,
        evidence: dict[str, Any] | None = None,
    ) -> Message:
        now = self.settings.clock.now()
        recent = self.store.attempts(host, node, since=now - timedelta(days=1)) if node != "*" else []
        tried = [
            {
                "at": a.started_at.isoformat(),
                "run_id": a.run_id,
                "step": a.step,
                "action": a.action,
                "outcome": a.outcome,
                "reason": a.reason,
            }
            for a in recent[-_TRIED_SHOWN:]
        ]
        return Message(
            event,
            severity,
            host,
            node,
            reason,
            self.plan.playbook,
            self.settings.run_id,
            now,
            evidence or {},
            tried,
        )
