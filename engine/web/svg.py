"""The check graph laid out for SVG: columns by depth (a node sits one column right of its
deepest upstream), rows in topological order within a column. Deterministic and linear in
the graph's size; no layout engine needed for a DAG read left to right."""

from __future__ import annotations

from dataclasses import dataclass

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
    """Boxes and edges for `statuses` (given upstreams first, as `node_statuses` returns)."""
    depth: dict[str, int] = {}
    rows: dict[int, int] = {}
    boxes: dict[str, Box] = {}
    for status in statuses:
        name = f"{status.host}:{status.node}"
        column = 1 + max((depth[up] for up in status.depends_on if up in depth), default=-1)
        depth[name] = column
        row = rows.get(column, 0)
        rows[column] = row + 1
        boxes[name] = Box(status, 10 + column * (WIDTH + GAP_X), 10 + row * (HEIGHT + GAP_Y))
    edges = [
        Edge(boxes[up].x + WIDTH, boxes[up].y + HEIGHT // 2, box.x, box.y + HEIGHT // 2)
        for box in boxes.values()
        for up in box.status.depends_on
        if up in boxes
    ]
    columns = max(rows, default=0) + 1
    tallest = max(rows.values(), default=1)
    return Layout(
        list(boxes.values()),
        edges,
        20 + columns * (WIDTH + GAP_X),
        20 + tallest * (HEIGHT + GAP_Y),
    )
