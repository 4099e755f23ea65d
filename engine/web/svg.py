"""The check graph laid out for the status page's SVG, with the HTML report's layered layout
(`engine.output.drawing`): columns by depth, each node beside its upstreams."""

from __future__ import annotations

from dataclasses import dataclass

from engine.output.drawing import layered_layout
from engine.web.status import NodeStatus

WIDTH, HEIGHT = 190, 46
"""A node's box."""
GAP_X, GAP_Y = 60, 14


@dataclass(frozen=True)
class Box:
    status: NodeStatus
    x: int
    y: int

    @property
    def id(self) -> str:
        return f"{self.status.host}:{self.status.node}"


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


def layout(statuses: list[NodeStatus]) -> Layout:
    """Boxes and edges for `statuses`, placed by `engine.output.drawing.layered_layout` (the HTML
    report's layout): columns by depth, each node beside its upstreams."""
    by_name = {f"{status.host}:{status.node}": status for status in statuses}
    pairs = [(up, name) for name, status in by_name.items() for up in status.depends_on]
    places = layered_layout(list(by_name), pairs)
    boxes = {
        name: Box(by_name[name], 10 + column * (WIDTH + GAP_X), 10 + row * (HEIGHT + GAP_Y))
        for name, (column, row) in places.items()
    }
    edges = [
        Edge(boxes[up].x + WIDTH, boxes[up].y + HEIGHT // 2, box.x, box.y + HEIGHT // 2)
        for box in boxes.values()
        for up in box.status.depends_on
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
