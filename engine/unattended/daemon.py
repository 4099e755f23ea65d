"""`remediate daemon`: run the playbook every interval, as a long-lived systemd service.

- SIGTERM/SIGINT: the run in progress takes no new action (actions in flight finish, later
  nodes are checked and reported, not touched), then the daemon exits 0.
- SIGHUP: the playbook and inventory are loaded again before the next run (at once); a
  version that does not validate is rejected with its problems logged, the old one kept.
- systemd: READY=1 once the first plan is loaded, WATCHDOG=1 at least every half
  WatchdogSec (also while waiting), STATUS= after each run, STOPPING=1 at the end.
- The interval is jittered (±`jitter` of it), so that many hosts do not run in step.
- `serve` (the status page of `--listen`, from engine.web) is started once the plan is
  loaded and stopped at the end; it reads `plan`, `latest` and asks for runs with
  `request_run`.
- Runs asked for (an alert, an operator's "run now") start at once after the run in
  flight, if any: requests that arrive meanwhile are coalesced into one run, so at most one
  run is in flight (per host, and at all); the interval's timer keeps its own pace.
- While it waits, the daemon looks at the approvals in the state store every
  `APPROVAL_POLL` seconds, and an approval given or denied since (`remediate approve` or
  `deny`, another process) asks for a run of its node, once per approval. Polling rather than a signal from
  the command: the operator approving is often not the user the daemon runs as (a signal
  would be refused), may be on another machine sharing a PostgreSQL store, and needs no pid
  file; the look is one query on a small table.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from engine.core.clock import SystemClock
from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.core.runner import RunSettings
from engine.errors import LockHeld
from engine.transports import TransportPool
from engine.unattended import sdnotify
from engine.unattended.state.base import APPROVED, DENIED, PENDING, SqlStateStore

APPROVAL_POLL = 1.0
"""Seconds between the waiting daemon's looks for approvals given by another process."""


def jittered(
    interval: float, jitter: float, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """The interval moved by up to ±`jitter` of itself (never negative)."""
    spread = interval * jitter
    return max(0.0, interval + uniform(-spread, spread))


class StoppableClock(SystemClock):
    """The system clock whose sleeps (backoff between retries, verify polls) end early when
    the daemon is stopping, so a SIGTERM is not kept waiting by a long backoff."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)


def reload_plan(load_plan: Callable[[], RunPlan], current: RunPlan, logger: Any) -> RunPlan:
    """The plan loaded again (SIGHUP), or `current` when the new version does not validate:
    a running service keeps its previous playbook rather than stopping. Either is logged."""
    try:
        plan = load_plan()
    except Exception as exc:
        problems = getattr(exc, "problems", None) or [exc]
        logger.error("reload rejected, keeping the previous playbook", problems=[str(p) for p in problems])
        return current
    logger.info("reloaded", playbook=plan.playbook, nodes=len(plan.specs))
    return plan


@dataclass
class Daemon:
    load_plan: Callable[[], RunPlan]
    """Loads and validates playbook and inventory; raises on a problem."""
    store_location: str | None
    interval: float
    logger: Any
    jitter: float = 0.1
    forks: int = 10
    allow_destructive: bool = False
    incident_dir: Path = Path("incidents")
    metrics_textfile: str | None = None
    serve: Callable[[Daemon], Any] | None = None
    """Starts what serves the daemon (engine.web's status page); returns an object with
    `shutdown()`. Called once the first plan is loaded."""
    page: str | None = None
    """The status page's address (`http://` + `--listen`), for the links in approval requests."""
    stopping: threading.Event = field(default_factory=threading.Event)
    plan: RunPlan | None = None
    """The plan in force (after the last accepted reload)."""
    latest: Any = None
    """The last full run's metrics (`engine.unattended.metrics.LatestMetrics`)."""
    starts_runs: ClassVar[bool] = True
    """A run asked for (run now, an alert, an approval) starts at once."""
    _wake: threading.Event = field(default_factory=threading.Event)
    _reload: bool = False
    _pending: tuple[str, set[NodeKey] | None] | None = None
    _pending_mutex: threading.Lock = field(default_factory=threading.Lock)
    _asked: set[str] = field(default_factory=set)
    """Approvals (approved, not yet used) a run was already asked for."""
    _pending_approvals: set[str] = field(default_factory=set)
    """Approvals pending at the last look (one denied since then asks for a run too)."""
    _approvals_unread: bool = False

    def request_run(self, keys: set[NodeKey] | None, trigger: str) -> bool:
        """Ask for a run of `keys` and their upstreams (None: the whole plan) at once, started
        by `trigger` (`alert`, `operator`). Coalesced with a request still waiting; returns
        whether this request started a new one (False: merged into the waiting one)."""
        with self._pending_mutex:
            merged = self._pending is not None
            if self._pending is None:
                self._pending = (trigger, None if keys is None else set(keys))
            else:
                first, waiting = self._pending
                union = None if waiting is None or keys is None else waiting | keys
                self._pending = (first, union)
        self._wake.set()
        return not merged

    def _take_pending(self) -> tuple[str, set[NodeKey] | None] | None:
        with self._pending_mutex:
            pending, self._pending = self._pending, None
            return pending

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.logger.info("stopping", signal=signal.Signals(signum).name)
        self.stopping.set()
        self._wake.set()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload = True
        self._wake.set()

    def run(self) -> int:
        """Loop until SIGTERM; returns the exit status."""
        from engine.unattended.metrics import LatestMetrics, collect, write_textfile
        from engine.unattended.run import run_unattended
        from engine.unattended.state import open_store

        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        plan = self.plan = self.load_plan()
        # Connections (SSH) stay open between ticks: a tick costs what its commands cost.
        transports = TransportPool(plan.hostvars)
        store = open_store(self.store_location)
        latest = self.latest = LatestMetrics()
        server = self.serve(self) if self.serve is not None else None
        sdnotify.notify("READY=1")
        self.logger.info(
            "daemon started", playbook=plan.playbook, interval_s=self.interval, state=store.location
        )
        next_tick = time.monotonic()  # the first run at once
        try:
            while not self.stopping.is_set():
                if self._reload:
                    self._reload = False
                    reloaded = self._reloaded(plan)
                    if reloaded is not plan:
                        plan = self.plan = reloaded
                        transports.close()  # hosts or their settings may have changed
                        transports = TransportPool(plan.hostvars)
                self._wake.clear()
                pending = self._take_pending()
                if pending is None:
                    if time.monotonic() < next_tick:
                        self._wait(next_tick - time.monotonic(), store)
                        continue
                    pending = ("timer", None)
                    next_tick = time.monotonic() + jittered(self.interval, self.jitter)
                trigger, keys = pending
                whole = keys is None
                settings = RunSettings(
                    forks=self.forks,
                    allow_destructive=self.allow_destructive,
                    clock=StoppableClock(self.stopping),
                    incident_dir=self.incident_dir,
                )
                try:
                    report = run_unattended(
                        plan if keys is None else plan.narrowed(keys),
                        settings,
                        store,
                        logger=self.logger,
                        stopping=self.stopping,
                        transports=transports,
                        trigger=trigger,
                        page=self.page,
                    )
                except LockHeld as exc:
                    self.logger.warning("another run holds the lock", host=exc.host, holder=exc.holder)
                    sdnotify.notify(f"STATUS=skipped a run: {exc}")
                except Exception:  # a bad run must not end the service
                    self.logger.exception("run crashed")
                else:
                    # A run of some nodes (an alert's) says nothing of the others: the metrics
                    # stay those of the last run of the whole plan.
                    if whole:
                        registry = collect(report, store)
                        latest.update(registry)
                        if self.metrics_textfile:
                            write_textfile(self.metrics_textfile, registry)
                    totals = ", ".join(f"{n} {o}" for o, n in sorted(report.counts.items()))
                    sdnotify.notify(f"STATUS=last run {report.run_id} ({trigger}): {totals}")
        finally:
            sdnotify.notify("STOPPING=1")
            if server is not None:
                server.shutdown()
            store.close()
            transports.close()
            self.logger.info("daemon stopped")
        return 0

    def _reloaded(self, current: RunPlan) -> RunPlan:
        plan = reload_plan(self.load_plan, current, self.logger)
        if plan is current:
            sdnotify.notify("STATUS=reload rejected; running the previous playbook")
        return plan

    def _wait(self, seconds: float, store: SqlStateStore) -> None:
        """Sleep until the next tick, pinging the watchdog and looking for approvals; a
        signal, a requested run or an approval given meanwhile ends it early."""
        deadline = time.monotonic() + seconds
        ping = sdnotify.watchdog_interval()
        # At once too: what the last run left pending is what a denial is told apart from.
        self._look_for_approvals(store)
        while not self.stopping.is_set() and not self._reload:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sdnotify.notify("WATCHDOG=1")
            if self._wake.wait(min(remaining, ping or remaining, APPROVAL_POLL)):
                break
            self._look_for_approvals(store)
        sdnotify.notify("WATCHDOG=1")

    def _look_for_approvals(self, store: SqlStateStore) -> None:
        """Ask for a run of the nodes whose approval was given since the last look (once
        per approval; the run uses it, or withdraws it when the node is healthy by then),
        and of those whose approval was denied (the run reports them paused at once)."""
        try:
            found = store.approvals(open_only=True)
            still = {a.id for a in found}
            denied = [
                a
                for a in (store.approval(i) for i in self._pending_approvals - still)
                if a is not None and a.status == DENIED
            ]
        except Exception as exc:  # the store unreachable a while: the ticks go on
            if not self._approvals_unread:
                self.logger.warning("cannot read the approvals", error=str(exc))
            self._approvals_unread = True
            return
        self._approvals_unread = False
        approved = [a for a in found if a.status == APPROVED]
        new = [a for a in approved if a.id not in self._asked] + denied
        # Only those still approved are remembered: a used one is never approved again.
        self._asked = {a.id for a in approved}
        self._pending_approvals = {a.id for a in found if a.status == PENDING}
        plan = self.plan
        keys = {NodeKey(a.host, a.node) for a in new}
        keys = {key for key in keys if plan is not None and key in plan.specs}
        if keys:
            self.logger.info(
                "approval answered: a run is asked for",
                approvals=[f"{a.id} {a.status}" for a in new],
                nodes=sorted(map(str, keys)),
            )
            self.request_run(keys, "operator")
