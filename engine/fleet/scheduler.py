"""`remediate daemon --broker`: schedules instead of running. Every interval the leading
scheduler records the tick in the store (one row per playbook and tick number: a tick is
scheduled once, whichever scheduler gets there) with one task per host group, `queued`, then
sends the tasks to the queues `engine.fleet.routing` picks among the live workers, in
messages of several groups (`batches`): a worker runs a message's groups as one run.

Several schedulers may run; the one holding the leadership lock (a PostgreSQL session
advisory lock, released by the server when its process dies, even by kill -9) schedules.
The others try to take it every `poll` seconds (at most a quarter of the interval), so when
the leader dies another schedules within one interval. Ticks are numbered from the epoch
(`tick_number`), so every scheduler means the same tick by the same number.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from engine.core.clock import SystemClock
from engine.core.graph import NodeKey
from engine.core.planning import RunPlan
from engine.fleet.broker import TASK_NAME, celery_app, masked, wait_for_broker
from engine.fleet.groups import host_groups, playbook_hash, tick_number
from engine.fleet.metrics import FleetMetrics
from engine.fleet.routing import queue_for
from engine.fleet.worker import live_workers
from engine.unattended.daemon import reload_plan
from engine.unattended.locking import HostLock
from engine.unattended.state.postgres import PostgresStateStore

LEADER_PREFIX = "remediate-fleet-leader:"
EXPIRES_TICKS = 10
"""A task not started within this many intervals is dropped by the broker: later ticks have
checked its hosts since."""
RETENTION = 7 * 86400.0
"""Seconds a tick and its tasks are kept: `status` and the claims read only recent ones,
and every tick adds a row per host group (14 M a day at 10,000 hosts every minute)."""
BATCH_HOSTS = 50
"""Most hosts one message carries (a group larger than that goes alone). A worker runs a
message's groups as one run (one lock session, one run record, one message to acknowledge):
a run per group cost several times what its command did. Several messages per worker keep
its `--concurrency` threads busy and bound what a redelivery repeats."""


def batches(tasks: Sequence[tuple[str, list[str], str]]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """The tick's tasks (group, hosts, queue) as messages: per queue, its groups in order,
    packed up to `BATCH_HOSTS` hosts each. Claims stay per group (`engine.fleet.claims`), so a
    redelivered message runs only the groups nobody ran."""
    by_queue: dict[str, list[tuple[str, list[str]]]] = {}
    for group, hosts, queue in tasks:
        by_queue.setdefault(queue, []).append((group, hosts))
    messages: list[tuple[str, list[tuple[str, list[str]]]]] = []
    for queue, groups in by_queue.items():
        current: list[tuple[str, list[str]]] = []
        size = 0
        for group, hosts in groups:
            if current and size + len(hosts) > BATCH_HOSTS:
                messages.append((queue, current))
                current, size = [], 0
            current.append((group, hosts))
            size += len(hosts)
        messages.append((queue, current))
    return messages


@dataclass
class Scheduler:
    load_plan: Callable[[], RunPlan]
    store: PostgresStateStore
    broker: str
    interval: float
    logger: Any
    name: str = field(default_factory=lambda: f"scheduler-{os.getpid()}@{socket.gethostname()}")
    stopping: threading.Event = field(default_factory=threading.Event)
    serve: Callable[[Scheduler], Any] | None = None
    """Starts the status page over this scheduler (engine.web, given by the command line);
    returns an object with `shutdown()`. Called once the first plan is loaded."""
    incident_dir: Path = Path("incidents")
    """Where the workers save evidence (the status page lists a node's incident files)."""
    plan: RunPlan | None = None
    """The plan in force (after the last accepted reload)."""
    latest: Any = None
    """The fleet's metrics, read from the store on each scrape (`engine.fleet.metrics`)."""
    starts_runs: ClassVar[bool] = False
    """Runs are the workers' at each tick, not started on request (the status page says so)."""
    retention: float = RETENTION
    """Seconds the fleet's ticks and tasks are kept (`prune_fleet` after each tick)."""
    _reload: bool = False

    def __post_init__(self) -> None:
        if self.latest is None:
            self.latest = FleetMetrics(self.store, lambda: self.plan)

    @property
    def poll(self) -> float:
        return min(1.0, self.interval / 4)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.logger.info("stopping", signal=signal.Signals(signum).name)
        self.stopping.set()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload = True

    def run(self) -> int:
        """Lead or stand by until SIGTERM; returns the exit status."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        plan = self.plan = self.load_plan()
        app = celery_app(self.broker)
        server = self.serve(self) if self.serve is not None else None
        leader: HostLock | None = None
        last: int | None = None
        self.logger.info(
            "scheduler started",
            scheduler=self.name,
            playbook=plan.playbook,
            interval_s=self.interval,
            broker=masked(self.broker),
            state=self.store.location,
        )
        try:
            wait_for_broker(app, self.broker, self.logger, self.stopping.is_set)
            while not self.stopping.is_set():
                if self._reload:
                    self._reload = False
                    plan = self.plan = reload_plan(self.load_plan, plan, self.logger)
                if leader is None:
                    leader = self.store.session_lock(LEADER_PREFIX + plan.playbook, f"scheduler {self.name}")
                    if leader is not None:
                        self.logger.info("leading", scheduler=self.name, playbook=plan.playbook)
                if leader is not None:
                    tick = tick_number(time.time(), self.interval)
                    if tick != last:
                        self.schedule(app, plan, tick)
                        last = tick
                    wait = (tick + 1) * self.interval - time.time()
                else:
                    wait = self.poll
                self.stopping.wait(max(0.01, wait))
        finally:
            if leader is not None:
                leader.release()
            if server is not None:
                server.shutdown()
            self.logger.info("scheduler stopped", scheduler=self.name)
        return 0

    def request_run(self, keys: set[NodeKey] | None, trigger: str) -> bool:
        """Nothing is started on request (`starts_runs` is False): the next tick checks
        every node. Here for the status page's interface."""
        return False

    def schedule(self, app: Any, plan: RunPlan, tick: int) -> bool:
        """Record tick `tick` and send its tasks; False when it was scheduled already."""
        groups = host_groups(plan)
        live = live_workers(self.store)
        tasks = [(group, hosts, queue_for(group, live)) for group, hosts in groups.items()]
        now = SystemClock().now()
        if not self.store.record_tick(plan.playbook, tick, now, self.name, tasks):
            self.logger.info("tick scheduled already", tick=tick)
            return False
        digest = playbook_hash(plan)
        pending = batches(tasks)
        deadline = time.monotonic() + self.interval
        while pending and not self.stopping.is_set():
            queue, batch = pending[0]
            payload = {
                "playbook": plan.playbook,
                "tick": tick,
                "groups": [{"group": group, "hosts": hosts} for group, hosts in batch],
                "digest": digest,
            }
            try:
                app.send_task(TASK_NAME, args=[payload], queue=queue, expires=self.interval * EXPIRES_TICKS)
            except Exception as exc:  # the broker went away: the tick's tasks wait for it
                if time.monotonic() > deadline:
                    self.logger.error(
                        "tick not fully sent: broker unreachable",
                        tick=tick,
                        unsent=sum(len(batch) for _, batch in pending),
                    )
                    break
                self.logger.warning(
                    "broker unreachable, retrying", broker=masked(self.broker), error=masked(str(exc))
                )
                self.stopping.wait(1.0)
                continue
            pending.pop(0)
        pruned = self.store.prune_fleet(now - timedelta(seconds=self.retention))
        if pruned:
            self.logger.info("old ticks pruned", ticks=pruned, retention_s=self.retention)
        self.logger.info(
            "tick scheduled",
            tick=tick,
            tasks=len(tasks),
            live_workers=len(live),
            unsent=sum(len(batch) for _, batch in pending),
        )
        return True
