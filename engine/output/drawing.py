"""How a check graph is drawn, wherever it is drawn (the HTML report, the status page): one
colour per outcome and step status, and the layered layout of a DAG read left to right. Pure:
no I/O, no imports of the project."""

from __future__ import annotations

from collections.abc import Sequence

# Outcome -> fill colour of its node and timeline bar (Outcome's values; a new outcome is grey).
OUTCOME_COLOURS: dict[str, str] = {
    "healthy": "#2e7d32",
    "remediated": "#1e88e5",
    "skipped": "#9e9e9e",
    "would_remediate": "#f9a825",
    "unhealthy": "#f9a825",
    "blocked": "#8e24aa",
    "failed": "#c62828",
    "error": "#ef6c00",
    "suppressed": "#6a1b9a",
    "backoff": "#fbc02d",
    "paused": "#0288d1",
    "starting": "#fdd835",
    "awaiting_approval": "#00acc1",
}
UNKNOWN_COLOUR = "#9e9e9e"

STEP_COLOURS: dict[str, str] = {
    "ok": "#66bb6a",
    "changed": "#1e88e5",
    "failed": "#e53935",
    "refused": "#8e24aa",
    "skipped": "#bdbdbd",
    "interrupted": "#b71c1c",
    "awaiting_approval": "#00acc1",
}


def layered_layout(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """(column, row) of each node: the column is its depth (the longest path from a node with
    no upstream), the row its place in that column, near its upstreams. Edges naming unknown
    nodes are ignored."""
    known = set(names)
    upstream: dict[str, list[str]] = {name: [] for name in names}
    for source, target in edges:
        if source in known and target in known:
            upstream[target].append(source)
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            # A cycle cannot come from a validated graph; a hand-edited report must not hang.
            parents = [p for p in upstream[name] if p not in seen]
            depth[name] = 1 + max((depth_of(p, seen | {name}) for p in parents), default=-1)
        return depth[name]

    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(depth_of(name), []).append(name)
    places: dict[str, tuple[int, int]] = {}
    for column in sorted(columns):
        # Beside its upstreams (the mean of their rows), so that fewer edges cross; ties keep
        # the order given.
        def beside(name: str) -> float:
            rows = [places[p][1] for p in upstream[name] if p in places]
            return sum(rows) / len(rows) if rows else 0.0

        for row, name in enumerate(sorted(columns[column], key=beside)):
            places[name] = (column, row)
    return places
