"""The run loop: walk the graph in topological order, independent branches concurrently.

The scheduler (this module) decides what may run and when; each node's check-act-verify
cycle is `engine.core.node.NodeEvaluation`. Nodes whose upstream did not end healthy are marked
`blocked` here without being checked or touched, naming the root cause upstream.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.base import Check
from engine.core.clock import Clock, SystemClock
from engine.core.context import ActionContext, ProbeContext, VersionLookup
from engine.core.graph import NodeKey
from engine.core.hooks import RunHooks
from engine.core.node import Mode, NodeEvaluation, NodeResult, planned_step, refusal
from engine.core.planning import RunPlan
from engine.core.results import ActionResult, ActionStatus, CheckResult, Outcome
from engine.core.watchdog import call_with_timeout
from engine.errors import CallTimeout, TransportError
from engine.output.logs import QuietLogger
from engine.output.report import RunReport
from engine.playbook.models import NodeSpec, StepSpec
from engine.secrets.redact import REDACTOR
from engine.transports import TransportPool

if TYPE_CHECKING:
    from engine.core.stopping import Stop

GRACE = 5.0
"""Seconds past a check's or action's own timeout before the engine abandons the call."""


@dataclass
class RunSettings:
    """How a run behaves (from the command line)."""

    mode: Mode = Mode.RUN
    forks: int = 10
    allow_destructive: bool = False
    clock: Clock = field(default_factory=SystemClock)
    incident_dir: Path = Path("incidents")
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    hooks: RunHooks | None = None
    """Unattended operation (limits, pauses, attempt records); None for a plain run."""
    stop: Stop | None = None
    """A one-shot run's stop (`engine.core.stopping`): once set, an action that fails is
    `interrupted`, and no further check or node starts."""


NodeDone = Callable[[NodeResult], None]


class Runner:
    """Runs one plan once. `run()` returns the report; it never raises for a node's sake."""

    def __init__(
        self,
        plan: RunPlan,
        settings: RunSettings | None = None,
        *,
        transports: TransportPool | None = None,
        logger: Any = None,
        on_node_done: NodeDone | None = None,
    ) -> None:
        self.plan = plan
        self.settings = settings or RunSettings()
        # A pool handed in (the daemon's, kept between ticks) stays open; our own is closed,
        # each host's connection as soon as the host's last node is done.
        self._owns_transports = transports is None
        self._unfinished_on_host = Counter(key.host for key in plan.specs)
        self._hosts_lock = threading.Lock()
        self.transports = transports or TransportPool(plan.hostvars)
        self.log = logger if logger is not None else QuietLogger()
        self.on_node_done = on_node_done or (lambda result: None)
        self.results: dict[NodeKey, NodeResult] = {}
        self._epoch = time.perf_counter()

    def run(self) -> RunReport:
        settings = self.settings
        report = RunReport(settings.run_id, self.plan.playbook, settings.mode, settings.clock.now())
        report.edges = [(self._name(u), self._name(d)) for u, d in self.plan.graph.edges]
        self._epoch = time.perf_counter()
        self.log.info(
            "run started",
            run_id=settings.run_id,
            playbook=self.plan.playbook,
            mode=str(settings.mode),
            hosts=len(self.plan.hosts),
            nodes=len(self.plan.specs),
        )
        try:
            self._walk()
        finally:
            if self._owns_transports:
                self.transports.close()
        report.nodes = [self.results[key] for key in self.plan.order()]
        report.finished_at = settings.clock.now()
        if self._stopped():
            assert settings.stop is not None
            report.stopped_by = settings.stop.signum
        self.log.info("run finished", run_id=settings.run_id, exit_code=report.exit_code, **report.counts)
        return report

    def _walk(self) -> None:
        graph = self.plan.graph
        waiting = {key: graph.in_degree(key) for key in graph}
        ready = sorted(key for key, count in waiting.items() if count == 0)
        queued: deque[NodeKey] = deque()
        running: dict[Future[NodeResult], tuple[NodeKey, threading.Thread]] = {}
        finished: queue.SimpleQueue[Future[NodeResult]] = queue.SimpleQueue()
        forks = max(1, self.settings.forks)
        try:
            while ready or queued or running:
                for key in ready:
                    blocked = self._not_started(key) if self._stopped() else self._blocked(key)
                    if blocked is not None:
                        ready.extend(self._end_unstarted(key, blocked, waiting))
                    else:
                        queued.append(key)
                ready = []
                while queued and len(running) < forks:
                    key = queued.popleft()
                    if self._stopped():  # queued before the stop, waiting for a fork: never started
                        ready.extend(self._end_unstarted(key, self._not_started(key), waiting))
                        continue
                    future, thread = self._start(key, finished)
                    running[future] = (key, thread)
                if ready or not running:
                    continue
                done = finished.get()
                key, _ = running.pop(done)
                self._finish(key, done.result())
                ready.extend(self._released(key, waiting))
                ready.sort()
        finally:  # a node's error ends the walk once the nodes in flight have ended
            for _, thread in running.values():
                thread.join()

    def _start(
        self, key: NodeKey, finished: queue.SimpleQueue[Future[NodeResult]]
    ) -> tuple[Future[NodeResult], threading.Thread]:
        """Evaluate a node in a thread of its own that ends with it. (A thread pool kept every
        `forks` thread alive until the run's end: idle, each still held the stack its host's
        connection had used, 17 KB, some 4 MB at the peak of a 500-host run.)"""
        future: Future[NodeResult] = Future()

        def evaluate() -> None:
            try:
                future.set_result(self._evaluate_and_close(key))
            except BaseException as exc:  # handed to the run loop, as a pool's future would
                future.set_exception(exc)
            finished.put(future)

        thread = threading.Thread(target=evaluate, name=f"node-{key}")
        thread.start()
        return future, thread

    def _end_unstarted(self, key: NodeKey, result: NodeResult, waiting: dict[NodeKey, int]) -> list[NodeKey]:
        """Finish a node that is not evaluated (blocked, or the run is stopping); its
        dependents now ready."""
        self._node_over(key.host)
        self._finish(key, result)
        return self._released(key, waiting)

    def _released(self, key: NodeKey, waiting: dict[NodeKey, int]) -> list[NodeKey]:
        """Dependents whose every upstream has now finished."""
        released = []
        for dependent in self.plan.graph.successors(key):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                released.append(dependent)
        return released

    def _finish(self, key: NodeKey, result: NodeResult) -> None:
        if not result.duration_ms and not result.started_ms:  # never evaluated: blocked, not started
            result.started_ms = round((time.perf_counter() - self._epoch) * 1000, 2)
        self.results[key] = result
        self.log.info(
            "node",
            run_id=self.settings.run_id,
            host=key.host,
            node=key.node,
            outcome=str(result.outcome),
            reason=result.reason,
            blocked_by=result.blocked_by or None,
            attempts=result.attempts,
            duration_ms=result.duration_ms,
        )
        self.on_node_done(result)

    def _blocked(self, key: NodeKey) -> NodeResult | None:
        """A blocked result when an upstream did not end healthy, naming the root causes."""
        upstream = [(u, self.results[u]) for u in sorted(self.plan.graph.predecessors(key))]
        bad = [(u, r) for u, r in upstream if not r.outcome.is_good]
        if not bad:
            return None
        roots: list[str] = []
        for upstream_key, result in bad:
            causes = result.blocked_by if result.outcome is Outcome.BLOCKED else [self._name(upstream_key)]
            roots.extend(c for c in causes if c not in roots)
        spec = self.plan.specs[key]
        states = "; ".join(f"{self._name(u)} is {r.outcome}" for u, r in bad)
        result = NodeResult(
            key.host,
            key.node,
            Outcome.BLOCKED,
            f"not checked, upstream {states}",
            severity=spec.severity,
            blocked_by=roots,
        )
        if self.settings.mode is Mode.DRY_RUN and spec.on_upstream_recovery == "restart":
            allowed = self.settings.allow_destructive
            result.plan = [
                f"after upstream recovery: {planned_step(s, refusal(s, allowed), spec.needs_approval(s))}"
                for s in spec.remediate
            ]
        return result

    def _stopped(self) -> bool:
        return self.settings.stop is not None and self.settings.stop.is_set()

    def _not_started(self, key: NodeKey) -> NodeResult:
        assert self.settings.stop is not None
        reason = f"not checked: {self.settings.stop.reason}"
        return NodeResult(key.host, key.node, Outcome.SKIPPED, reason, severity=self.plan.specs[key].severity)

    def _name(self, key: NodeKey) -> str:
        return key.node if len(self.plan.hosts) == 1 else str(key)

    def _evaluate_and_close(self, key: NodeKey) -> NodeResult:
        try:
            return self._evaluate(key)
        finally:
            self._node_over(key.host)

    def _node_over(self, host: str) -> None:
        """Count one more node of the host as over; after its last, close the host's
        connection (and its thread) at once. The thread that evaluated that node closes it,
        not the run loop: closing takes a few system calls, each waiting for the GIL, and
        one loop closing 500 connections in turn took 11 s of a 20 s run, while every
        finished host kept its connection open."""
        with self._hosts_lock:
            self._unfinished_on_host[host] -= 1
            last = not self._unfinished_on_host[host]
        if last and self._owns_transports:
            self.transports.release(host)

    def _evaluate(self, key: NodeKey) -> NodeResult:
        spec = self.plan.specs[key]
        log = self.log.bind(run_id=self.settings.run_id, host=key.host, node=key.node)
        recovered = any(
            self.results[u].outcome is Outcome.REMEDIATED for u in self.plan.graph.predecessors(key)
        )
        probe = self._prober(key.host)
        hooks = self.settings.hooks
        evaluation = NodeEvaluation(
            host=key.host,
            spec=spec,
            probe=probe,
            act=self._actor(key, spec, probe),
            clock=self.settings.clock,
            mode=self.settings.mode,
            allow_destructive=self.settings.allow_destructive,
            variables=self.plan.variables[key.host],
            upstream_recovered=recovered,
            event=lambda event, **fields: log.info(event, **fields),
            gate=None if hooks is None else (lambda check: hooks.gate(key, spec, check)),
            step_gate=None if hooks is None else (lambda step, check: hooks.approve(key, spec, step, check)),
            epoch=self._epoch,
        )
        if hooks is not None:
            evaluation.act = hooks.wrap_act(key, spec, evaluation.act, lambda: evaluation.attempt)
        try:
            return evaluation.run()
        except Exception as exc:  # a bug in a node must not end the run
            log.exception("node crashed")
            return NodeResult(
                key.host, key.node, Outcome.ERROR, f"internal error: {exc!r}", severity=spec.severity
            )

    def _probe_context(self, host: str, timeout: float) -> ProbeContext:
        return ProbeContext(
            host, self.plan.hostvars[host], self.transports.get, self.settings.clock, REDACTOR, timeout
        )

    def _prober(self, host: str) -> Callable[[Check], CheckResult]:
        def probe(check: Check) -> CheckResult:
            if self._stopped():
                assert self.settings.stop is not None
                return CheckResult.error(f"not checked: {self.settings.stop.reason}")
            context = self._probe_context(host, check.timeout)
            try:
                return call_with_timeout(check.probe, context, check.timeout + GRACE)
            except CallTimeout:
                return CheckResult.error(f"{check.type_key} check did not finish within {check.timeout:g}s")
            except TransportError as exc:
                return CheckResult.error(f"host {host} unreachable: {exc}")
            except Exception as exc:
                return CheckResult.error(f"{check.type_key} check raised {type(exc).__name__}: {exc}")

        return probe

    def _actor(
        self, key: NodeKey, spec: NodeSpec, probe: Callable[[Check], CheckResult]
    ) -> Callable[[StepSpec], ActionResult]:
        def act(step: StepSpec) -> ActionResult:
            timeout = step.effective_timeout
            base = self._probe_context(key.host, timeout)
            context = ActionContext(
                **vars(base),
                run_id=self.settings.run_id,
                node=key.node,
                allow_destructive=self.settings.allow_destructive,
                incident_dir=self.settings.incident_dir,
                recheck=lambda: probe(spec.check),
                versions=self._versions(key.host),
                schema_revision=self._schema_revision(key.host, probe),
            )
            try:
                result = call_with_timeout(step.action.apply, context, timeout + GRACE)
            except CallTimeout:
                result = ActionResult.failed(f"did not finish within {timeout:g}s (abandoned)")
            except TransportError as exc:
                result = ActionResult.failed(f"host {key.host} unreachable: {exc}")
            except Exception as exc:
                result = ActionResult.failed(f"raised {type(exc).__name__}: {exc}")
            if result.status is ActionStatus.FAILED and self._stopped():
                # The stop killed it (or it ended as the run stopped): it did not fail on its own.
                assert self.settings.stop is not None
                detail = f"interrupted: {self.settings.stop.reason} ({result.detail})"
                return ActionResult(ActionStatus.INTERRUPTED, detail, result.artifacts)
            return result

        return act

    def _versions(self, host: str) -> VersionLookup | None:
        hooks = self.settings.hooks
        if hooks is None:
            return None
        return lambda project, service: hooks.versions(host, project, service)

    def _schema_revision(
        self, host: str, probe: Callable[[Check], CheckResult]
    ) -> Callable[[], CheckResult] | None:
        """The `alembic_node`'s check on this host, for a rollback to compare revisions."""
        name = self.plan.settings.alembic_node if self.plan.settings else None
        spec = self.plan.specs.get(NodeKey(host, name)) if name else None
        if spec is None:
            return None
        return lambda: probe(spec.check)
