"""What a run did: the report (JSON), its exit status and the summary table."""

from __future__ import annotations

import functools
import json
import signal
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from engine import exit_codes
from engine.core.node import Mode, NodeResult
from engine.core.results import Outcome
from engine.secrets.redact import REDACTOR


@dataclass
class RunReport:
    """One run, every node's result in topological order."""

    run_id: str
    playbook: str
    mode: Mode
    started_at: datetime
    finished_at: datetime | None = None
    nodes: list[NodeResult] = field(default_factory=list)
    stopped_by: int | None = None
    """The signal that stopped the run (`engine.core.stopping`), or None."""
    edges: list[tuple[str, str]] = field(default_factory=list)
    """The graph's edges (upstream, dependent), by the names the summary uses (`host:node`
    with several hosts): the HTML report draws them."""

    @property
    def stopped_by_name(self) -> str | None:
        return None if self.stopped_by is None else signal.Signals(self.stopped_by).name

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(str(n.outcome) for n in self.nodes))

    @property
    def exit_code(self) -> int:
        if self.stopped_by is not None:
            return exit_codes.stopped_by(self.stopped_by)
        return exit_status(self.nodes)

    def node(self, host: str, name: str) -> NodeResult:
        return next(n for n in self.nodes if n.host == host and n.node == name)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, every secret masked."""
        data = {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "mode": str(self.mode),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_ms": round((self.finished_at - self.started_at).total_seconds() * 1000, 1)
            if self.finished_at
            else None,
            "exit_code": self.exit_code,
            "stopped_by": self.stopped_by_name,
            "counts": self.counts,
            "nodes": [asdict(n) for n in self.nodes],
        }
        return REDACTOR.data(data)

    def write(self, path: str | Path) -> None:
        """The report as JSON, or as one self-contained HTML page when the file's name ends in
        `.html` or `.htm` (`engine.output.html_report`)."""
        if Path(path).suffix.lower() in (".html", ".htm"):
            from engine.output.html_report import render_html

            Path(path).write_text(render_html(self.to_dict(), REDACTOR.data(self.edges)))
            return
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")


def exit_status(results: list[NodeResult]) -> int:
    """0 when every node ends healthy (remediated and skipped count), else 1."""
    return exit_codes.OK if all(r.outcome.is_good for r in results) else exit_codes.PROBLEMS


class RepeatedErrors:
    """Says an error shared by several nodes of one host once. A host-wide fault (no Docker
    engine, an unreachable host) ends every node that needs it `error` with the same words;
    the first node to end gives them in full, the others say `same error as FIRST`. For what
    a person reads (the terminal lines, the summary); the report and the events keep each
    node's own reason."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], str] = {}

    def reason(self, host: str, node: str, outcome: Outcome | str, reason: str) -> str:
        """`reason` as this node should show it."""
        if outcome != Outcome.ERROR or not reason:
            return reason
        first = self._first.setdefault((host, reason), node)
        return reason if first == node else f"same error as {first}"


def _reason(result: NodeResult, repeated: RepeatedErrors) -> str:
    if result.blocked_by:
        return f"blocked by {', '.join(result.blocked_by)}"
    return repeated.reason(result.host, result.node, result.outcome, REDACTOR.text(result.reason))


OUTCOME_STYLE: dict[Outcome, dict[str, Any]] = {
    Outcome.HEALTHY: {"fg": "green"},
    Outcome.REMEDIATED: {"fg": "green", "bold": True},
    Outcome.SKIPPED: {"dim": True},
    Outcome.WOULD_REMEDIATE: {"fg": "yellow"},
    Outcome.UNHEALTHY: {"fg": "yellow"},
    Outcome.BLOCKED: {"fg": "magenta"},
    Outcome.FAILED: {"fg": "red", "bold": True},
    Outcome.ERROR: {"fg": "red"},
    Outcome.SUPPRESSED: {"fg": "magenta", "bold": True},
    Outcome.BACKOFF: {"fg": "yellow"},
    Outcome.PAUSED: {"fg": "cyan"},
    Outcome.STARTING: {"fg": "yellow"},
    Outcome.AWAITING_APPROVAL: {"fg": "cyan", "bold": True},
}


def print_summary(report: RunReport, stream: IO[str]) -> None:
    """Every node and what happened to it, in aligned columns (the outcome coloured on a
    terminal), then the dry-run plan, then totals. One node, one line, never wrapped: for
    grep and for cron mail. An error several nodes of a host share is given in full once
    (`RepeatedErrors`)."""
    import click

    many_hosts = len({n.host for n in report.nodes}) > 1
    repeated = RepeatedErrors()
    header = [*(["host"] if many_hosts else []), "node", "outcome", "attempts", "reason"]
    rows = [
        [
            *([result.host] if many_hosts else []),
            result.node,
            str(result.outcome),
            str(result.attempts or ""),
            _reason(result, repeated),
        ]
        for result in report.nodes
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    outcome_column = header.index("outcome")

    def line(cells: list[str], outcome_style: dict[str, Any] | None = None) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        if outcome_style:
            padded[outcome_column] = click.style(padded[outcome_column], **outcome_style)
        return "  ".join([*padded, cells[-1]]).rstrip()

    # click.echo drops the colours when the stream is not a terminal.
    echo = functools.partial(click.echo, file=stream)
    echo(click.style(f"{report.playbook} ({report.mode}, run {report.run_id})", bold=True))
    echo(click.style(line(header), bold=True))
    for result, row in zip(report.nodes, rows, strict=True):
        echo(line(row, OUTCOME_STYLE[result.outcome]))
    planned = [r for r in report.nodes if r.plan]
    if planned:
        echo("\n" + click.style("Would do", bold=True) + " (dry-run, nothing was changed):")
        for result in planned:
            echo(f"  {result.host}:{result.node}:" if many_hosts else f"  {result.node}:")
            for index, step in enumerate(result.plan, 1):
                echo(f"    {index}. {REDACTOR.text(step)}")
    totals = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.counts.items()))
    stopped = f"; stopped by {report.stopped_by_name}" if report.stopped_by is not None else ""
    echo(f"\n{totals}{stopped}; exit status {report.exit_code}")
