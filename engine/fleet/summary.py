"""What a fleet is doing, read from the state store: each registered worker (live or gone)
with the hosts it served in the last tick it ran, and the last tick's progress. One reading
for `remediate status` and the status page."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.fleet.worker import live_workers
from engine.unattended.state import StateStore
from engine.unattended.state.postgres import PostgresStateStore

TROUBLE = ("refused", "failed", "locked")
"""Task outcomes an operator should read the reason of."""


@dataclass(frozen=True)
class WorkerSummary:
    """One `remediate worker` as the store knows it."""

    name: str
    live: bool | None
    """Holds its liveness lock now; None where liveness cannot be seen (not PostgreSQL)."""
    tick: int | None
    """The latest tick it ran tasks of, None when it served nothing yet."""
    hosts: tuple[str, ...]
    """The hosts of its tasks in that tick."""


@dataclass(frozen=True)
class TaskTrouble:
    """A task of the last tick that did not run as scheduled, with why."""

    group: str
    status: str
    reason: str


@dataclass(frozen=True)
class TickSummary:
    """The latest tick scheduled: how far its tasks got."""

    playbook: str
    tick: int
    scheduled_at: datetime
    scheduler: str
    tasks: int
    hosts: int
    progress: dict[str, int]
    """Tasks per status (queued, running, done, locked, refused, superseded, failed)."""
    troubles: tuple[TaskTrouble, ...]


@dataclass(frozen=True)
class FleetSummary:
    """The workers and the last tick of a fleet sharing this store."""

    workers: tuple[WorkerSummary, ...]
    last_tick: TickSummary | None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the status page's /api/fleet)."""
        tick = self.last_tick
        return {
            "workers": [
                {"name": w.name, "live": w.live, "tick": w.tick, "hosts": list(w.hosts)} for w in self.workers
            ],
            "last_tick": None
            if tick is None
            else {
                "playbook": tick.playbook,
                "tick": tick.tick,
                "scheduled_at": tick.scheduled_at.isoformat(),
                "scheduler": tick.scheduler,
                "tasks": tick.tasks,
                "hosts": tick.hosts,
                "progress": tick.progress,
                "troubles": [
                    {"group": trouble.group, "status": trouble.status, "reason": trouble.reason}
                    for trouble in tick.troubles
                ],
            },
        }


def fleet_summary(store: StateStore) -> FleetSummary | None:
    """The fleet sharing `store`, or None when no worker registered and no tick was
    scheduled (a store used by one controller alone)."""
    workers = store.fleet_workers()
    last_tick = last_tick_summary(store)
    if not workers and last_tick is None:
        return None
    live = live_worker_names(store)
    served = store.served_last()
    summaries = []
    for record in workers:
        tick, hosts = served.get(record.name, (None, []))
        summaries.append(
            WorkerSummary(record.name, None if live is None else record.name in live, tick, tuple(hosts))
        )
    return FleetSummary(tuple(summaries), last_tick)


def live_worker_names(store: StateStore) -> set[str] | None:
    """The workers holding their liveness lock now; None where that cannot be seen (a store
    that is not PostgreSQL)."""
    return live_workers(store) if isinstance(store, PostgresStateStore) else None


def last_tick_summary(store: StateStore) -> TickSummary | None:
    """The latest tick scheduled and how far its tasks got, or None before the first."""
    latest = store.latest_tick()
    if latest is None:
        return None
    scheduled, tasks = latest
    return TickSummary(
        scheduled.playbook,
        scheduled.tick,
        scheduled.scheduled_at,
        scheduled.scheduler,
        len(tasks),
        sum(len(task.hosts) for task in tasks),
        dict(sorted(Counter(task.status for task in tasks).items())),
        tuple(TaskTrouble(t.group, t.status, t.reason) for t in tasks if t.status in TROUBLE),
    )
