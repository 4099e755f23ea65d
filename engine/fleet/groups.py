"""What a fleet task is made of: host groups, the playbook's hash, tick numbers."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from engine.core.graph import NodeKey
from engine.core.planning import RunPlan


def host_groups(plan: RunPlan) -> dict[str, list[str]]:
    """The plan's hosts in groups that must run together: hosts joined by cross-host
    (`host:node`) dependencies, directly or through others. Each group is named by its first
    host (sorted); hosts are sorted within it."""
    parent = {host: host for host in plan.hosts}

    def root(host: str) -> str:
        while parent[host] != host:
            parent[host] = parent[parent[host]]
            host = parent[host]
        return host

    for upstream, dependent in plan.graph.edges:
        if upstream.host != dependent.host and upstream.host in parent and dependent.host in parent:
            a, b = root(upstream.host), root(dependent.host)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for host in sorted(plan.hosts):
        groups.setdefault(root(host), []).append(host)
    return {members[0]: members for members in groups.values()}


def group_plan(plan: RunPlan, hosts: list[str]) -> RunPlan:
    """The plan narrowed to every node of `hosts` (a group from `host_groups`)."""
    wanted = set(hosts)
    return plan.narrowed({key for key in plan.specs if key.host in wanted})


def playbook_hash(plan: RunPlan) -> str:
    """A short hash of the playbook file the plan was built from: a task carries its
    scheduler's, and a worker whose playbook differs refuses the task."""
    return hashlib.sha256(Path(plan.source).read_bytes()).hexdigest()[:16]


def tick_number(now: float, interval: float) -> int:
    """The tick a moment (seconds since the epoch) falls in: every scheduler with the same
    interval numbers ticks alike, so a tick is one row in the store whoever schedules it."""
    return math.floor(now / interval)


def nodes_of(plan: RunPlan, pairs: set[tuple[str, str]]) -> set[NodeKey]:
    """The plan's nodes among (host, node) pairs."""
    return {key for key in plan.specs if (key.host, key.node) in pairs}
