"""Prometheus metrics of a fleet, for `remediate daemon --broker --listen` (/metrics).

The workers run the nodes, so a scheduler has no run of its own to report: on every scrape
it reads the shared store instead. The node gauges and history counters are the ones a
single controller serves (`engine.unattended.metrics`), with each node's latest recorded
outcome, whichever worker recorded it; beside them, the fleet's own: the last tick (its
number, when it was scheduled, its tasks by status) and the workers live and gone.
`prometheus_client` is imported only when a scrape comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from engine.fleet.summary import last_tick_summary, live_worker_names
from engine.unattended.metrics import NodeEnding, add_history_metrics, add_node_metrics
from engine.unattended.state.base import CLAIMED, QUEUED

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from engine.core.planning import RunPlan
    from engine.unattended.state.postgres import PostgresStateStore

TASK_STATUSES = (QUEUED, CLAIMED, "done", "locked", "refused", "superseded", "failed")
"""Every status a tick's task can have: each is exported, 0 when no task has it, so that a
query over one status does not see it vanish between ticks."""


class FleetMetrics:
    """A Prometheus collector reading the fleet's state from the store on each scrape."""

    def __init__(self, store: PostgresStateStore, plan: Callable[[], RunPlan | None]) -> None:
        self.store = store
        self.plan = plan
        """The plan in force (the scheduler's, after its last accepted reload)."""

    def collect(self) -> Iterator[Any]:
        yield from self.registry().collect()

    def registry(self) -> CollectorRegistry:
        """The fleet's metrics now."""
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry()
        add_node_metrics(registry, self._endings())
        add_history_metrics(registry, self.store)
        self._add_fleet(registry)
        return registry

    def _endings(self) -> list[NodeEnding]:
        """Each node of the plan in force with its latest recorded outcome (a node never
        recorded yet is left out, as it is from a run that has not reached it)."""
        plan = self.plan()
        if plan is None:
            return []
        latest = self.store.last_outcomes()
        return [
            (key.host, key.node, latest[(key.host, key.node)][0], spec.severity)
            for key, spec in sorted(plan.specs.items())
            if (key.host, key.node) in latest
        ]

    def _add_fleet(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Gauge

        workers = Gauge(
            "remediate_fleet_workers",
            "registered workers, by whether they hold their liveness lock now",
            ["state"],
            registry=registry,
        )
        names = [worker.name for worker in self.store.fleet_workers()]
        alive = live_worker_names(self.store) or set()
        live = sum(1 for name in names if name in alive)
        workers.labels(state="live").set(live)
        workers.labels(state="gone").set(len(names) - live)
        # Not `fleet_summary`: the hosts each worker served are no metric, and finding them
        # groups every task kept (7 days of ticks) by worker, on every scrape.
        last = last_tick_summary(self.store)
        if last is None:  # no tick yet: no tick number to say, rather than a false 0
            return
        Gauge("remediate_fleet_last_tick", "the number of the last tick scheduled", registry=registry).set(
            last.tick
        )
        Gauge(
            "remediate_fleet_last_tick_timestamp_seconds",
            "when the last tick was scheduled",
            registry=registry,
        ).set(last.scheduled_at.timestamp())
        tasks = Gauge(
            "remediate_fleet_last_tick_tasks",
            "the last tick's tasks (one per host group), by status",
            ["status"],
            registry=registry,
        )
        for status in sorted({*TASK_STATUSES, *last.progress}):
            tasks.labels(status=status).set(last.progress.get(status, 0))
