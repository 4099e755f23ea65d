"""`remediate daemon`: run the playbook every interval, as a long-lived systemd service.

- SIGTERM/SIGINT: the run in progress takes no new action (actions in flight finish, later
  nodes are checked and reported, not touched), then the daemon exits 0.
- SIGHUP: the playbook and inventory are loaded again before the next run (at once); a
  version that does not validate is rejected with its problems logged, the old one kept.
- systemd: READY=1 once the first plan is loaded, WATCHDOG=1 at least every half
  WatchdogSec (also while waiting), STATUS= after each run, STOPPING=1 at the end.
- The interval is jittered (±`jitter` of it), so that many hosts do not run in step.
- /metrics on a loopback port (`metrics_port`) serves the last run's metrics.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from engine.core.clock import SystemClock
from engine.core.planning import RunPlan
from engine.core.runner import RunSettings
from engine.errors import LockHeld
from engine.transports import TransportPool
from engine.unattended import sdnotify


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
    metrics_port: int | None = None
    metrics_textfile: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _reload: bool = False

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.logger.info("stopping", signal=signal.Signals(signum).name)
        self.stopping.set()
        self._wake.set()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload = True
        self._wake.set()

    def run(self) -> int:
        """Loop until SIGTERM; returns the exit status."""
        from engine.unattended.metrics import LatestMetrics, collect, serve, write_textfile
        from engine.unattended.run import run_unattended
        from engine.unattended.state import open_store

        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        plan = self.load_plan()
        # Connections (SSH) stay open between ticks: a tick costs what its commands cost.
        transports = TransportPool(plan.hostvars)
        store = open_store(self.store_location)
        latest = LatestMetrics()
        server = serve(self.metrics_port, latest) if self.metrics_port is not None else None
        sdnotify.notify("READY=1")
        self.logger.info(
            "daemon started", playbook=plan.playbook, interval_s=self.interval, state=store.location
        )
        try:
            while not self.stopping.is_set():
                if self._reload:
                    self._reload = False
                    reloaded = self._reloaded(plan)
                    if reloaded is not plan:
                        plan = reloaded
                        transports.close()  # hosts or their settings may have changed
                        transports = TransportPool(plan.hostvars)
                settings = RunSettings(
                    forks=self.forks,
                    allow_destructive=self.allow_destructive,
                    clock=StoppableClock(self.stopping),
                    incident_dir=self.incident_dir,
                )
                try:
                    report = run_unattended(
                        plan,
                        settings,
                        store,
                        logger=self.logger,
                        stopping=self.stopping,
                        transports=transports,
                    )
                except LockHeld as exc:
                    self.logger.warning("another run holds the lock", host=exc.host, holder=exc.holder)
                    sdnotify.notify(f"STATUS=skipped a run: {exc}")
                except Exception:  # a bad run must not end the service
                    self.logger.exception("run crashed")
                else:
                    registry = collect(report, store)
                    latest.update(registry)
                    if self.metrics_textfile:
                        write_textfile(self.metrics_textfile, registry)
                    totals = ", ".join(f"{n} {o}" for o, n in sorted(report.counts.items()))
                    sdnotify.notify(f"STATUS=last run {report.run_id}: {totals}")
                self._wait()
        finally:
            sdnotify.notify("STOPPING=1")
            if server is not None:
                server.shutdown()
            store.close()
            transports.close()
            self.logger.info("daemon stopped")
        return 0

    def _reloaded(self, current: RunPlan) -> RunPlan:
        try:
            plan = self.load_plan()
        except Exception as exc:
            problems = getattr(exc, "problems", None) or [exc]
            self.logger.error(
                "reload rejected, keeping the previous playbook", problems=[str(p) for p in problems]
            )
            sdnotify.notify("STATUS=reload rejected; running the previous playbook")
            return current
        self.logger.info("reloaded", playbook=plan.playbook, nodes=len(plan.specs))
        return plan

    def _wait(self) -> None:
        """Sleep the jittered interval, pinging the watchdog; a signal ends it early."""
        remaining = jittered(self.interval, self.jitter)
        ping = sdnotify.watchdog_interval()
        self._wake.clear()
        while remaining > 0 and not self.stopping.is_set() and not self._reload:
            step = min(remaining, ping) if ping else remaining
            sdnotify.notify("WATCHDOG=1")
            if self._wake.wait(step):
                break
            remaining -= step
        sdnotify.notify("WATCHDOG=1")
