import pytest

from engine.core.graph import NodeKey, build_graph
from engine.errors import GraphError


def test_edges_point_from_upstream_to_dependent() -> None:
    graph = build_graph({"h": {"db": [], "api": ["db"], "web": ["api"]}})
    assert sorted(graph.edges) == [
        (NodeKey("h", "api"), NodeKey("h", "web")),
        (NodeKey("h", "db"), NodeKey("h", "api")),
    ]


def test_a_dangling_dependency_names_the_node_and_the_nearest_match() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"h": {"db": [], "api": ["dbb"]}})
    ((path, message),) = error.value.problems
    assert path == ("checks", "api", "depends_on", 0)
    assert "api depends on 'dbb', which is not a node (did you mean 'db'?)" in message


def test_a_cycle_names_every_node_in_it() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"h": {"a": ["c"], "b": ["a"], "c": ["b"], "d": []}})
    messages = [m for _, m in error.value.problems]
    assert messages == ["dependency cycle: a -> b -> c -> a"]


def test_a_node_depending_on_itself_is_a_cycle() -> None:
    with pytest.raises(GraphError, match="dependency cycle: a -> a"):
        build_graph({"h": {"a": ["a"]}})


def test_a_cross_host_dependency_links_nodes_of_two_hosts() -> None:
    graph = build_graph({"db1": {"postgres": []}, "app1": {"api": ["db1:postgres"]}})
    assert graph.has_edge(NodeKey("db1", "postgres"), NodeKey("app1", "api"))


def test_a_cross_host_dependency_on_a_host_outside_the_run_is_dropped() -> None:
    graph = build_graph({"app1": {"api": ["db1:postgres"]}}, all_hosts=["db1", "app1"])
    assert list(graph.edges) == []


def test_a_cross_host_dependency_on_an_unknown_host_is_an_error() -> None:
    with pytest.raises(GraphError, match="there is no host 'db9'"):
        build_graph({"app1": {"api": ["db9:postgres"]}}, all_hosts=["app1"])


def test_the_topological_order_is_deterministic_smallest_ready_node_first() -> None:
    graph = build_graph({"h": {"web": ["api"], "api": ["db", "cache"], "db": [], "cache": []}})
    assert [k.node for k in graph.topological_order()] == ["cache", "db", "api", "web"]


def test_the_graph_converts_to_a_networkx_digraph_with_the_same_edges() -> None:
    graph = build_graph({"h": {"db": [], "api": ["db"]}})
    assert list(graph.to_networkx().edges) == [(NodeKey("h", "db"), NodeKey("h", "api"))]
