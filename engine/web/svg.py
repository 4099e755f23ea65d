"""The check graph drawn for the status page, with the HTML report's layered layout
(`engine.output.drawing`): columns by depth, each node beside its upstreams.

The layout and each box's fixed markup (its link, ids, name) depend only on the plan, so they
are computed once per plan (`layout`); each request only fills in the outcomes (`draw`). The
SVG is written here rather than by the template: a thousand boxes through Jinja2 cost about
100 ms of attribute lookups and escaping, and this costs a few. Every text is escaped
(`markupsafe.escape`, as the templates' autoescape) before it is written.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from engine.output.drawing import layered_layout
from engine.web.status import NodeStatus, colour

WIDTH, HEIGHT = 190, 46
"""A node's box."""
GAP_X, GAP_Y = 60, 14
NAME_SHOWN = 24
"""Characters of a node's name written in its box (the full name is in its tooltip)."""


@dataclass(frozen=True)
class Box:
    id: str
    """`host:node`."""
    x: int
    y: int
    opening: str
    """The box's link and group opening tag up to its dynamic attributes, escaped."""
    name: str
    """The name written in the box, escaped and shortened."""
    title: str
    """`node on host`, escaped."""


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Layout:
    boxes: list[Box]
    edges: list[Edge]
    width: int
    height: int


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _shown(name: str) -> str:
    return name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 1] + "…"


def layout(nodes: Sequence[tuple[str, str, Sequence[str]]]) -> Layout:
    """Boxes and edges for `nodes` (host, node, its upstreams as `host:node`), placed by
    `engine.output.drawing.layered_layout` (the HTML report's layout)."""
    by_name = {f"{host}:{node}": (host, node, ups) for host, node, ups in nodes}
    pairs = [(up, name) for name, (_, _, ups) in by_name.items() for up in ups]
    places = layered_layout(list(by_name), pairs)
    boxes: dict[str, Box] = {}
    for name, (column, row) in places.items():
        host, node, _ = by_name[name]
        opening = (
            f'<a href="/nodes/{escape(_quote(host))}/{escape(_quote(node))}">'
            f'<g class="node" id="node-{escape(name)}" data-host="{escape(host)}" data-node="{escape(node)}"'
        )
        boxes[name] = Box(
            name,
            10 + column * (WIDTH + GAP_X),
            10 + row * (HEIGHT + GAP_Y),
            opening,
            str(escape(_shown(node))),
            f"{escape(node)} on {escape(host)}",
        )
    edges = [
        Edge(boxes[up].x + WIDTH, boxes[up].y + HEIGHT // 2, box.x, box.y + HEIGHT // 2)
        for name, box in boxes.items()
        for up in by_name[name][2]
        if up in boxes
    ]
    columns = 1 + max((column for column, _ in places.values()), default=0)
    tallest = 1 + max((row for _, row in places.values()), default=0)
    return Layout(
        list(boxes.values()),
        edges,
        20 + columns * (WIDTH + GAP_X),
        20 + tallest * (HEIGHT + GAP_Y),
    )


def _box(box: Box, status: NodeStatus | None, esc: Callable[[str], str]) -> str:
    outcome = esc(status.outcome if status else "unknown")
    fill = esc(status.colour if status else colour("unknown"))
    hold = esc(status.hold) if status and status.hold else ""
    tip = f"{box.title}: {outcome}"
    if status is not None:
        tip += f" - {esc(status.reason)}"
        if hold:
            tip += f" ({hold}: {esc(status.hold_reason)})"
    counts = f" · {status.attempts}/{status.limit}" if status and status.limit else ""
    held = f" · {hold}" if hold else ""
    border = 'stroke="#000" stroke-width="3" stroke-dasharray="6 3"' if hold else 'stroke="none"'
    return (
        f'{box.opening} data-outcome="{outcome}" data-hold="{hold}">'
        f"<title>{tip}</title>"
        f'<rect x="{box.x}" y="{box.y}" width="{WIDTH}" height="{HEIGHT}" rx="6" '
        f'fill="{fill}" {border}/>'
        f'<text x="{box.x + 8}" y="{box.y + 18}">{box.name}</text>'
        f'<text x="{box.x + 8}" y="{box.y + 36}">{outcome}{counts}{held}</text></g></a>'
    )


def draw(graph: Layout, statuses: Mapping[str, NodeStatus]) -> Markup:
    """The graph as an SVG element, each box coloured by its node's status (`statuses` by
    `host:node`; a node without one is drawn `unknown`)."""
    parts = [
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{graph.width}" height="{graph.height}" '
        f'viewBox="0 0 {graph.width} {graph.height}" role="img" aria-label="check graph">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#999"/></marker></defs>'
    ]
    parts.extend(
        f'<line x1="{e.x1}" y1="{e.y1}" x2="{e.x2}" y2="{e.y2}" stroke="#999" marker-end="url(#arrow)"/>'
        for e in graph.edges
    )
    # Outcomes, colours and most reasons repeat across nodes: each distinct text is escaped once.
    esc = functools.lru_cache(maxsize=4096)(lambda text: str(escape(text)))
    parts.extend(_box(box, statuses.get(box.id), esc) for box in graph.boxes)
    parts.append("</svg>")
    return Markup("\n".join(parts))
