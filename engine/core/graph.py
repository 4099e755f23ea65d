"""The check graph: nodes of every host and their `depends_on` edges (pure logic, no I/O).

Edges point from an upstream node to the node that depends on it, so a topological order
checks upstreams first.

`DependencyGraph` answers what the run loop asks (in-degree, successors, predecessors, a
topological order) from plain dicts, because importing networkx costs more than a whole
run of a small playbook (0.15-0.25 s here; `bench/engine.py` measures it). networkx is
used where its algorithms earn their import: naming every cycle of an invalid graph, and
`to_networkx()` for analysis and export.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

from engine.core.registry import nearest
from engine.errors import GraphError
from engine.playbook.errors import Path

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, order=True)
class NodeKey:
    """A node on one host."""

    host: str
    node: str

    def __str__(self) -> str:
        return f"{self.host}:{self.node}"


class DependencyGraph:
    """A directed acyclic graph of NodeKeys, upstream -> dependent (a DiGraph's vocabulary)."""

    def __init__(self) -> None:
        self._successors: dict[NodeKey, set[NodeKey]] = {}
        self._predecessors: dict[NodeKey, set[NodeKey]] = {}

    def add_node(self, key: NodeKey) -> None:
        self._successors.setdefault(key, set())
        self._predecessors.setdefault(key, set())

    def add_edge(self, upstream: NodeKey, dependent: NodeKey) -> None:
        self.add_node(upstream)
        self.add_node(dependent)
        self._successors[upstream].add(dependent)
        self._predecessors[dependent].add(upstream)

    def __iter__(self) -> Iterator[NodeKey]:
        return iter(self._successors)

    def __contains__(self, key: object) -> bool:
        return key in self._successors

    def __len__(self) -> int:
        return len(self._successors)

    def successors(self, key: NodeKey) -> list[NodeKey]:
        return sorted(self._successors[key])

    def predecessors(self, key: NodeKey) -> list[NodeKey]:
        return sorted(self._predecessors[key])

    def in_degree(self, key: NodeKey) -> int:
        return len(self._predecessors[key])

    def has_edge(self, upstream: NodeKey, dependent: NodeKey) -> bool:
        return dependent in self._successors.get(upstream, ())

    @property
    def edges(self) -> list[tuple[NodeKey, NodeKey]]:
        return sorted((u, d) for u, dependents in self._successors.items() for d in dependents)

    def topological_order(self) -> list[NodeKey]:
        """Upstreams first; among nodes ready at the same time, the smallest key first (a
        deterministic order for reports)."""
        waiting = {key: len(upstreams) for key, upstreams in self._predecessors.items()}
        ready = [key for key, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            key = heapq.heappop(ready)
            order.append(key)
            for dependent in self._successors[key]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    heapq.heappush(ready, dependent)
        return order

    def has_cycle(self) -> bool:
        try:
            TopologicalSorter({k: list(v) for k, v in self._predecessors.items()}).prepare()
        except CycleError:
            return True
        return False

    def to_networkx(self) -> nx.DiGraph:
        """The same graph as a networkx DiGraph, for analysis and export."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._successors)
        graph.add_edges_from(self.edges)
        return graph


def build_graph(
    dependencies: Mapping[str, Mapping[str, Sequence[str]]], all_hosts: Iterable[str] = ()
) -> DependencyGraph:
    """The graph of ``{host: {node: [depends_on...]}}``.

    ``depends_on`` entries name a node of the same host, or ``host:node`` a node of another
    host. A host that is in the inventory (`all_hosts`) but not in this run contributes no
    edge. Raises GraphError naming dangling references and every cycle.
    """
    graph = DependencyGraph()
    problems: dict[tuple[Path, str], None] = {}
    known_hosts = set(all_hosts) | set(dependencies)
    for host, nodes in dependencies.items():
        for node in nodes:
            graph.add_node(NodeKey(host, node))
    for host, nodes in dependencies.items():
        for node, upstreams in nodes.items():
            for index, upstream in enumerate(upstreams):
                path: Path = ("checks", node, "depends_on", index)
                target = _resolve(host, upstream)
                if target in graph:
                    graph.add_edge(target, NodeKey(host, node))
                elif target.host != host and target.host in known_hosts and target.host not in dependencies:
                    continue  # that host is outside this run (--limit)
                else:
                    problems[(path, _dangling(node, upstream, target, dependencies))] = None
    if graph.has_cycle():
        for cycle in _cycles(graph):
            names = [str(k) if len(dependencies) > 1 else k.node for k in cycle]
            message = f"dependency cycle: {' -> '.join([*names, names[0]])}"
            problems[(("checks", cycle[0].node, "depends_on"), message)] = None
    if problems:
        raise GraphError(list(problems))
    return graph


def _resolve(host: str, reference: str) -> NodeKey:
    if ":" in reference:
        other_host, _, node = reference.rpartition(":")
        return NodeKey(other_host, node)
    return NodeKey(host, reference)


def _dangling(
    node: str, reference: str, target: NodeKey, dependencies: Mapping[str, Mapping[str, Sequence[str]]]
) -> str:
    if target.host not in dependencies:
        return f"{node} depends on {reference}, but there is no host {target.host!r}"
    known = sorted(dependencies[target.host])
    suggestion = nearest(target.node, known)
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    return f"{node} depends on {reference!r}, which is not a node{hint}; nodes: {', '.join(known)}"


def _cycles(graph: DependencyGraph) -> list[list[NodeKey]]:
    """One cycle per strongly connected component that has one, in edge order."""
    import networkx as nx

    digraph = graph.to_networkx()
    cycles = []
    for component in nx.strongly_connected_components(digraph):
        if len(component) == 1:
            (only,) = component
            if not digraph.has_edge(only, only):
                continue
        edges = nx.find_cycle(digraph.subgraph(component))
        cycles.append(_rotated([u for u, _ in edges]))
    return sorted(cycles)


def _rotated(cycle: list[NodeKey]) -> list[NodeKey]:
    """The same cycle, starting at its smallest node (stable messages)."""
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]
