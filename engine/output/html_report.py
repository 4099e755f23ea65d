"""A run as one self-contained HTML page (`remediate run --report run.html`): the check graph
drawn in SVG with each node coloured by its outcome, and the timeline of the nodes and the
steps (rungs) they climbed, with durations.

It is rendered from the report's masked data (`RunReport.to_dict`), never from live objects,
by Jinja2 in its sandbox with autoescaping: a reason holding `<script>` is text on the page.
The page loads nothing (no script, stylesheet, font or image from elsewhere), and its
Content-Security-Policy says so to the browser too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.output.drawing import OUTCOME_COLOURS, STEP_COLOURS, UNKNOWN_COLOUR, layered_layout

_NODE_WIDTH, _NODE_HEIGHT, _COLUMN_GAP, _ROW_GAP, _MARGIN = 190, 44, 70, 18, 16


@dataclass(frozen=True)
class Box:
    """A node drawn in the graph: where, and what it says."""

    name: str
    outcome: str
    reason: str
    x: int
    y: int

    @property
    def colour(self) -> str:
        return OUTCOME_COLOURS.get(self.outcome, UNKNOWN_COLOUR)


def _name(node: Mapping[str, Any], many_hosts: bool) -> str:
    return f"{node['host']}:{node['node']}" if many_hosts else str(node["node"])


def _reason(node: Mapping[str, Any]) -> str:
    blocked_by = node.get("blocked_by") or []
    return f"blocked by {', '.join(map(str, blocked_by))}" if blocked_by else str(node.get("reason") or "")


def render_html(report: Mapping[str, Any], edges: Sequence[Sequence[str]]) -> str:
    """The page for a report's data (`RunReport.to_dict()`, already masked) and its graph's
    edges (upstream, dependent)."""
    nodes = list(report.get("nodes", []))
    many_hosts = len({n["host"] for n in nodes}) > 1
    names = [_name(n, many_hosts) for n in nodes]
    pairs = [(str(edge[0]), str(edge[1])) for edge in edges]
    places = layered_layout(names, pairs)
    boxes = {
        name: Box(
            name,
            str(node["outcome"]),
            _reason(node),
            _MARGIN + column * (_NODE_WIDTH + _COLUMN_GAP),
            _MARGIN + row * (_NODE_HEIGHT + _ROW_GAP),
        )
        for name, node, (column, row) in ((n, d, places[n]) for n, d in zip(names, nodes, strict=True))
    }
    columns = max((c for c, _ in places.values()), default=0) + 1
    rows = max((r for _, r in places.values()), default=0) + 1
    arrows = [
        (boxes[s].x + _NODE_WIDTH, boxes[s].y + _NODE_HEIGHT // 2, boxes[t].x, boxes[t].y + _NODE_HEIGHT // 2)
        for s, t in pairs
        if s in boxes and t in boxes
    ]
    total_ms = max(
        [float(report.get("duration_ms") or 0)]
        + [float(n.get("started_ms") or 0) + float(n.get("duration_ms") or 0) for n in nodes]
    )
    return _template().render(
        report=report,
        boxes=list(boxes.values()),
        arrows=arrows,
        width=2 * _MARGIN + columns * _NODE_WIDTH + (columns - 1) * _COLUMN_GAP,
        height=2 * _MARGIN + rows * _NODE_HEIGHT + (rows - 1) * _ROW_GAP,
        node_width=_NODE_WIDTH,
        node_height=_NODE_HEIGHT,
        timeline=_timeline(nodes, names, total_ms),
        total_ms=total_ms,
        outcome_colours=OUTCOME_COLOURS,
        step_colours=STEP_COLOURS,
        unknown_colour=UNKNOWN_COLOUR,
    )


def _timeline(nodes: list[Mapping[str, Any]], names: list[str], total_ms: float) -> list[dict[str, Any]]:
    """One row per node, in the order they started, and one per step under its node; each
    with its start and width as a percentage of the run."""
    scale = 100 / total_ms if total_ms > 0 else 0

    def span(started: float, duration: float) -> dict[str, float]:
        # A step of a few ms still shows as a sliver.
        return {"left": round(started * scale, 3), "width": round(max(duration * scale, 0.3), 3)}

    rows = []
    for name, node in sorted(zip(names, nodes, strict=True), key=lambda pair: pair[1].get("started_ms") or 0):
        started, duration = float(node.get("started_ms") or 0), float(node.get("duration_ms") or 0)
        rows.append(
            {
                "kind": "node",
                "name": name,
                "status": node["outcome"],
                "started_ms": started,
                "duration_ms": duration,
                **span(started, duration),
            }
        )
        for step in node.get("steps") or []:
            step_started = float(step.get("started_ms") or 0)
            step_duration = float(step.get("duration_ms") or 0)
            rows.append(
                {
                    "kind": "step",
                    "name": f"{step['step']} ({step['action']})",
                    "node": name,
                    "status": step["status"],
                    "detail": step.get("detail") or "",
                    "attempt": step.get("attempt", 1),
                    "started_ms": step_started,
                    "duration_ms": step_duration,
                    **span(step_started, step_duration),
                }
            )
    return rows


@functools.cache
def _template() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    environment.filters["seconds"] = lambda ms: f"{float(ms) / 1000:.2f} s"
    return environment.from_string(_PAGE)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>remediate: {{ report.playbook }} ({{ report.mode }}, run {{ report.run_id }})</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #212121; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: #616161; }
.counts span { display: inline-block; margin-right: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
svg text { font: 12px system-ui, sans-serif; fill: #fff; }
svg text.outcome { font-size: 11px; opacity: .9; }
.graph { overflow-x: auto; border: 1px solid #e0e0e0; border-radius: 6px; padding: 4px; }
table.timeline { border-collapse: collapse; width: 100%; }
.timeline td { padding: 3px 6px; vertical-align: middle; border-bottom: 1px solid #f0f0f0; }
.timeline td.name { white-space: nowrap; width: 1%; }
.timeline tr.step td.name { padding-left: 24px; color: #424242; }
.timeline td.when { white-space: nowrap; width: 1%; text-align: right; color: #616161; }
.track { position: relative; height: 14px; background: #fafafa; }
.bar { position: absolute; top: 0; height: 14px; border-radius: 2px; }
.detail { color: #757575; font-size: 12px; }
</style>
</head>
<body>
<h1>{{ report.playbook }} ({{ report.mode }}, run {{ report.run_id }})</h1>
<div class="meta">started {{ report.started_at }}{% if report.duration_ms is not none %},
took {{ report.duration_ms | seconds }}{% endif %}, exit status {{ report.exit_code }}
{%- if report.stopped_by %}, stopped by {{ report.stopped_by }}{% endif %}</div>
<p class="counts">
{% for outcome, count in report.counts | dictsort %}
<span><i class="swatch" style="background: {{ outcome_colours.get(outcome, unknown_colour) }}"></i>
{{- count }} {{ outcome }}</span>
{% endfor %}
</p>

<h2>Graph</h2>
<div class="graph">
<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}" role="img"
  aria-label="check graph, nodes coloured by outcome">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
  orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#757575"/></marker></defs>
{% for x1, y1, x2, y2 in arrows %}
<path class="edge" d="M {{ x1 }} {{ y1 }} C {{ x1 + 35 }} {{ y1 }}, {{ x2 - 35 }} {{ y2 }}, {{ x2 }} {{ y2 }}"
  fill="none" stroke="#9e9e9e" stroke-width="1.5" marker-end="url(#arrow)"/>
{% endfor %}
{% for box in boxes %}
<g class="node" data-node="{{ box.name }}" data-outcome="{{ box.outcome }}">
<title>{{ box.name }}: {{ box.outcome }}{% if box.reason %}: {{ box.reason }}{% endif %}</title>
<rect x="{{ box.x }}" y="{{ box.y }}" width="{{ node_width }}" height="{{ node_height }}" rx="6"
  fill="{{ box.colour }}"/>
<text x="{{ box.x + 10 }}" y="{{ box.y + 18 }}">{{ box.name | truncate(26, true, "...") }}</text>
<text class="outcome" x="{{ box.x + 10 }}" y="{{ box.y + 34 }}">{{ box.outcome }}</text>
</g>
{% endfor %}
</svg>
</div>

<h2>Timeline</h2>
<table class="timeline" id="timeline">
{% for row in timeline %}
{% set colour = (outcome_colours if row.kind == "node" else step_colours).get(row.status, unknown_colour) %}
<tr class="{{ row.kind }}" data-status="{{ row.status }}"
  {%- if row.node %} data-node="{{ row.node }}"{% endif %}>
<td class="name">{% if row.kind == "step" %}&#8627; {% endif %}{{ row.name }}</td>
<td class="when">{{ row.status }}</td>
<td class="when">{{ row.duration_ms | seconds }}</td>
<td><div class="track"><div class="bar"
  style="left: {{ row.left }}%; width: {{ row.width }}%; background: {{ colour }}"></div></div>
{% if row.detail %}<div class="detail">{{ row.detail | truncate(300, true, "...") }}</div>{% endif %}</td>
</tr>
{% endfor %}
</table>

<h2>Nodes</h2>
<table class="timeline" id="nodes">
{% for box in boxes %}
<tr><td class="name"><i class="swatch" style="background: {{ box.colour }}"></i>{{ box.name }}</td>
<td class="when">{{ box.outcome }}</td><td>{{ box.reason }}</td></tr>
{% endfor %}
</table>
</body>
</html>
"""
