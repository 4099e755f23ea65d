"""The check graph: nodes of every host and their `depends_on` edges (pure logic, no I/O).

Edges point from an upstream node to the node that depends on it, so a topological order
checks upstreams first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.playbook.errors import Path
from engine.registry import nearest

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, order=True)
class NodeKey:
    """A node on one host."""

    host: str
    node: str

    def __str__(self) -> str:
        return f"{self.host}:{self.node}"


class GraphError(ValueError):
    """Dangling dependencies or cycles; each problem is (playbook path, message)."""

    def __init__(self, problems: Sequence[tuple[Path, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


def build_graph(
    dependencies: Mapping[str, Mapping[str, Sequence[str]]], all_hosts: Iterable[str] = ()
) -> nx.DiGraph:
    """A DiGraph of NodeKeys from ``{host: {node: [depends_on...]}}``.

    ``depends_on`` entries name a node of the same host, or ``host:node`` a node of another
    host. A host that is in the inventory (`all_hosts`) but not in this run contributes no
    edge. Raises GraphError naming dangling references and cycles.
    """
    import networkx as nx

    graph = nx.DiGraph()
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
                elif target.host != host and target.host in known_hosts and (target.host not in dependencies):
                    continue  # that host is outside this run (--limit)
                else:
                    problems[(path, _dangling(node, upstream, target, dependencies))] = None
    for cycle in _cycles(graph):
        names = [str(k) if len(dependencies) > 1 else k.node for k in cycle]
        first = cycle[0]
        problems[
            (("checks", first.node, "depends_on"), f"dependency cycle: {' -> '.join([*names, names[0]])}")
        ] = None
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


def _cycles(graph: nx.DiGraph) -> list[list[NodeKey]]:
    """One cycle per strongly connected component that has one, in edge order."""
    import networkx as nx

    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            (only,) = component
            if not graph.has_edge(only, only):
                continue
        edges = nx.find_cycle(graph.subgraph(component))
        cycles.append(sorted_cycle([u for u, _ in edges]))
    return sorted(cycles)


def sorted_cycle(cycle: list[NodeKey]) -> list[NodeKey]:
    """The same cycle, rotated to start at its smallest node (stable messages)."""
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def upstreams(graph: nx.DiGraph, key: NodeKey) -> list[NodeKey]:
    return sorted(graph.predecessors(key))


def dependents(graph: nx.DiGraph, key: NodeKey) -> list[NodeKey]:
    return sorted(graph.successors(key))
