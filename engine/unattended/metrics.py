"""Prometheus metrics of the last run and the history: written atomically to a file for
node_exporter's textfile collector (`--metrics-textfile`), or served on /metrics by the
daemon. The node gauges and history counters are built by `add_node_metrics` and
`add_history_metrics`, which a fleet's scheduler uses too (`engine.fleet.metrics`).
Both import `prometheus_client` only when metrics are made."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.results import Outcome

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from engine.output.report import RunReport
    from engine.unattended.state import StateStore

_GOOD = [str(o) for o in Outcome if o.is_good and o is not Outcome.SKIPPED]
_HEALTHY = frozenset(str(o) for o in Outcome if o.is_good)


def _labels(host: str, node: str) -> dict[str, str]:
    """A node's labels, masked: a host or node name may hold a secret (a URL password)."""
    from engine.secrets.redact import REDACTOR

    return {"host": REDACTOR.text(host), "node": REDACTOR.text(node)}


NODE_LABELS = ["host", "node"]
"""The labels naming a node in every per-node metric."""

NodeEnding = tuple[str, str, str, str]
"""A node's (host, node, outcome, severity) as its last run ended."""


def collect(report: RunReport, store: StateStore) -> CollectorRegistry:
    """A registry holding the metrics after `report`'s run."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    add_node_metrics(registry, [(r.host, r.node, str(r.outcome), r.severity) for r in report.nodes])
    add_history_metrics(registry, store)
    if report.finished_at is not None:
        Gauge("remediate_run_duration_seconds", "how long the last run took", registry=registry).set(
            (report.finished_at - report.started_at).total_seconds()
        )
        Gauge("remediate_last_run_timestamp_seconds", "when the last run finished", registry=registry).set(
            report.finished_at.timestamp()
        )
    Gauge("remediate_last_run_exit_code", "the exit status of the last run", registry=registry).set(
        report.exit_code
    )
    return registry


def add_node_metrics(registry: CollectorRegistry, endings: Iterable[NodeEnding]) -> None:
    """Each node's gauges: its last outcome, healthy, suppressed, severity."""
    from prometheus_client import Gauge

    status = Gauge(
        "remediate_node_status",
        "1 for the outcome each node ended the last run with",
        [*NODE_LABELS, "outcome"],
        registry=registry,
    )
    healthy = Gauge(
        "remediate_node_healthy",
        "1 when the node ended the last run healthy (remediated counts), else 0",
        NODE_LABELS,
        registry=registry,
    )
    suppressed = Gauge(
        "remediate_node_suppressed",
        "1 while the node is held back by its limit, flapping, the blast radius or max_actions_per_run",
        NODE_LABELS,
        registry=registry,
    )
    severity = Gauge(
        "remediate_node_severity", "the node's severity (P0=0 ... P3=3)", NODE_LABELS, registry=registry
    )
    for host, node, outcome, level in endings:
        labels = _labels(host, node)
        status.labels(outcome=outcome, **labels).set(1)
        healthy.labels(**labels).set(1 if outcome in _HEALTHY else 0)
        suppressed.labels(**labels).set(1 if outcome == Outcome.SUPPRESSED else 0)
        severity.labels(**labels).set(int(level[1:]) if level[1:].isdigit() else 2)


def add_history_metrics(registry: CollectorRegistry, store: StateStore) -> None:
    """What the store's history counts: actions and remediations by outcome, each node's
    last success, the open escalations."""
    from prometheus_client import Counter, Gauge

    actions = Counter(
        "remediate_actions",
        "remediation actions run, by outcome, over the whole history in the state store",
        [*NODE_LABELS, "outcome"],
        registry=registry,
    )
    for (host, node, outcome), count in sorted(store.remediation_counts().items()):
        actions.labels(outcome=outcome, **_labels(host, node)).inc(count)
    remediations = Counter(
        "remediate_remediations",
        "remediations over the whole history, by how they ended (remediated, failed, suppressed)",
        [*NODE_LABELS, "outcome"],
        registry=registry,
    )
    ended = [str(Outcome.REMEDIATED), str(Outcome.FAILED), str(Outcome.SUPPRESSED)]
    for (host, node, outcome), count in sorted(store.outcome_counts(ended).items()):
        remediations.labels(outcome=outcome, **_labels(host, node)).inc(count)
    last_success = Gauge(
        "remediate_node_last_success_timestamp_seconds",
        "when the node last ended a run healthy or remediated",
        NODE_LABELS,
        registry=registry,
    )
    for (host, node), at in sorted(store.last_good(_GOOD).items()):
        last_success.labels(**_labels(host, node)).set(at.timestamp())
    Gauge("remediate_escalations_open", "escalations sent and not yet recovered", registry=registry).set(
        len(store.escalations(open_only=True))
    )


def write_textfile(path: str | Path, registry: CollectorRegistry) -> None:
    """Write the metrics atomically (a temporary file renamed over the old one), so the
    textfile collector never reads half a file."""
    from prometheus_client import write_to_textfile

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


class LatestMetrics:
    """A collector serving whatever registry the last run produced (for the daemon's /metrics)."""

    def __init__(self) -> None:
        self._registry: CollectorRegistry | None = None
        self._mutex = threading.Lock()

    def update(self, registry: CollectorRegistry) -> None:
        with self._mutex:
            self._registry = registry

    def collect(self) -> Iterator[Any]:
        with self._mutex:
            registry = self._registry
        if registry is not None:
            yield from registry.collect()


def serve(port: int, latest: LatestMetrics, address: str = "127.0.0.1") -> Any:
    """Serve /metrics on a loopback port in a background thread; returns the server."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(latest)
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return server
