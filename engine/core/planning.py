"""From a playbook file and an inventory to a run plan: hosts chosen, nodes rendered per
host, the graph built and validated. Any problem stops here, before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.graph import DependencyGraph, NodeKey, build_graph
from engine.errors import GraphError, PlaybookError
from engine.playbook.errors import Problem
from engine.playbook.loader import NodeCache, PlaybookSource, build_playbook, read_playbook
from engine.playbook.models import NodeSpec, Playbook
from inventory.patterns import select_hosts

if TYPE_CHECKING:
    from inventory import Inventory


@dataclass
class RunPlan:
    """Everything a run needs to know before it starts."""

    playbook: str
    source: str
    graph: DependencyGraph
    specs: dict[NodeKey, NodeSpec]
    variables: dict[str, dict[str, Any]]
    """Per host: the rendered variables (inventory, playbook vars, extra vars)."""
    hostvars: dict[str, dict[str, Any]]
    """Per host: inventory variables (connection settings for transports)."""
    settings: Playbook | None = None
    """The playbook-level fields (run limits, maintenance windows, notify targets)."""

    @property
    def hosts(self) -> list[str]:
        return list(self.variables)

    @property
    def max_unhealthy_share(self) -> float | None:
        """The playbook's ``run_limits.max_unhealthy_share`` (blast radius), if it sets one."""
        return self.settings.run_limits.max_unhealthy_share if self.settings else None

    def order(self) -> list[NodeKey]:
        """Nodes in a deterministic topological order (upstreams first)."""
        return self.graph.topological_order()

    def narrowed(self, keys: set[NodeKey]) -> RunPlan:
        """The plan of `keys` and everything upstream of them (a run started by an alert
        checks what the alerting node depends on first), on the hosts those nodes are on."""
        kept: set[NodeKey] = set()
        todo = [k for k in keys if k in self.graph]
        while todo:
            key = todo.pop()
            if key not in kept:
                kept.add(key)
                todo.extend(self.graph.predecessors(key))
        graph = DependencyGraph()
        for key in kept:
            graph.add_node(key)
            for upstream in self.graph.predecessors(key):
                graph.add_edge(upstream, key)
        hosts = {key.host for key in kept}
        return RunPlan(
            self.playbook,
            self.source,
            graph,
            {key: spec for key, spec in self.specs.items() if key in kept},
            {host: v for host, v in self.variables.items() if host in hosts},
            {host: v for host, v in self.hostvars.items() if host in hosts},
            self.settings,
        )


def plan_run(
    playbook_file: str | Path,
    inventory: Inventory,
    *,
    limit: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
) -> RunPlan:
    """Validate everything and build the plan; raises PlaybookError with every problem."""
    source = read_playbook(playbook_file)
    pattern = str(source.data.get("hosts") or "all")
    hosts = select_hosts(inventory, pattern)
    if limit:
        allowed = set(select_hosts(inventory, limit))
        hosts = [h for h in hosts if h in allowed]
    if not hosts:
        where = f"hosts: {pattern}" + (f" limited to {limit}" if limit else "")
        raise PlaybookError([source.problem(("hosts",), f"no host matches ({where})")])

    problems: dict[str, Problem] = {}
    specs: dict[NodeKey, NodeSpec] = {}
    variables: dict[str, dict[str, Any]] = {}
    hostvars: dict[str, dict[str, Any]] = {}
    name = ""
    settings: Playbook | None = None
    seen: NodeCache = {}
    for host in hosts:
        hostvars[host] = inventory.hostvars(host)
        try:
            playbook = build_playbook(source, hostvars[host], extra_vars or {}, seen)
        except PlaybookError as exc:
            for problem in exc.problems:
                problems.setdefault(str(problem), problem)
            continue
        name = playbook.name
        settings = playbook.model_copy(update={"nodes": {}})
        variables[host] = playbook.vars
        for node in playbook.nodes.values():
            specs[NodeKey(host, node.name)] = node
    if problems:
        raise PlaybookError(list(problems.values()))
    graph = _graph(source, specs, inventory.hosts)
    _check_cluster_settings(hostvars)
    return RunPlan(name, source.file, graph, specs, variables, hostvars, settings)


def _check_cluster_settings(hostvars: Mapping[str, Mapping[str, Any]]) -> None:
    """A host naming a cluster whose kubeconfig or context does not exist is invalid input
    (exit 2) before anything runs, not an error per node; for every caller of the plan (the
    command line, the daemon's reload). The client module is imported only when a host names
    a cluster: validating a playbook without one never pays for it."""
    clusters = {
        host: variables
        for host, variables in hostvars.items()
        if variables.get("ansible_connection") == "kubernetes"
        or any(str(key).startswith("ansible_kubectl_") for key in variables)
    }
    if clusters:
        from engine.clients.kubernetes import check_settings

        for host, variables in clusters.items():
            check_settings(host, variables)


def _graph(
    source: PlaybookSource, specs: Mapping[NodeKey, NodeSpec], all_hosts: list[str]
) -> DependencyGraph:
    dependencies: dict[str, dict[str, list[str]]] = {}
    for key, spec in specs.items():
        dependencies.setdefault(key.host, {})[key.node] = spec.depends_on
    try:
        graph = build_graph(dependencies, all_hosts)
    except GraphError as exc:
        raise PlaybookError([source.problem(path, message) for path, message in exc.problems]) from None
    return graph
