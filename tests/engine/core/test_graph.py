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


def test_a_cross_host_dependency_on_a_misspelt_node_of_a_host_in_the_run_is_an_error() -> None:
    with pytest.raises(GraphError) as error:
        build_graph(
            {"db1": {"postgres": []}, "app1": {"api": ["db1:postgrse"]}}, all_hosts=["db1", "app1"]
        )
    ((path, message),) = error.value.problems
    assert path == ("checks", "api", "depends_on", 0)
    assert message == "api depends on 'db1:postgrse', which is not a node (did you mean 'postgres'?); nodes: postgres"


def test_a_dangling_dependency_with_no_near_name_lists_the_nodes_without_a_guess() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"h": {"db": [], "cache": [], "api": ["zzzzzz"]}})
    ((_, message),) = error.value.problems
    assert message == "api depends on 'zzzzzz', which is not a node; nodes: api, cache, db"


def test_every_dangling_dependency_is_reported_at_its_index() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"h": {"db": [], "api": ["db", "nope1", "nope2"]}})
    assert [path for path, _ in error.value.problems] == [
        ("checks", "api", "depends_on", 1),
        ("checks", "api", "depends_on", 2),
    ]


def test_a_cycle_across_hosts_names_each_node_with_its_host() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"a1": {"x": ["b1:y"]}, "b1": {"y": ["a1:x"]}})
    ((path, message),) = error.value.problems
    assert path == ("checks", "x", "depends_on")
    assert message == "dependency cycle: a1:x -> b1:y -> a1:x"


def test_two_separate_cycles_are_both_named() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"h": {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": []}})
    assert [m for _, m in error.value.problems] == [
        "dependency cycle: a -> b -> a",
        "dependency cycle: c -> d -> c",
    ]


def test_the_graph_answers_successors_predecessors_and_in_degree() -> None:
    graph = build_graph({"h": {"db": [], "cache": [], "api": ["db", "cache"], "web": ["api"]}})
    db, cache, api, web = (NodeKey("h", n) for n in ("db", "cache", "api", "web"))
    assert graph.successors(db) == [api]
    assert graph.predecessors(api) == [cache, db]
    assert (graph.in_degree(api), graph.in_degree(db), graph.in_degree(web)) == (2, 0, 1)
    assert (db in graph, NodeKey("h", "nope") in graph, len(graph)) == (True, False, 4)
    assert sorted(graph) == [api, cache, db, web]
    assert not graph.has_edge(api, db)
    assert not graph.has_cycle()


def test_a_node_key_prints_as_host_colon_node() -> None:
    assert str(NodeKey("db1", "postgres")) == "db1:postgres"


def test_a_reference_with_several_colons_splits_at_the_last_one() -> None:
    graph = build_graph({"[::1]": {"db": []}, "h": {"api": ["[::1]:db"]}})
    assert graph.has_edge(NodeKey("[::1]", "db"), NodeKey("h", "api"))


def test_the_topological_order_across_hosts_puts_every_upstream_first() -> None:
    graph = build_graph({"db1": {"postgres": []}, "app1": {"api": ["db1:postgres"], "cron": []}})
    assert [str(k) for k in graph.topological_order()] == ["app1:cron", "db1:postgres", "app1:api"]


def test_has_edge_from_a_node_not_in_the_graph_is_false() -> None:
    graph = build_graph({"h": {"db": []}})
    assert not graph.has_edge(NodeKey("h", "nope"), NodeKey("h", "db"))


def test_a_dependency_outside_the_run_does_not_hide_the_next_dangling_one() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"app1": {"api": ["db1:postgres", "cahce"], "cache": []}}, all_hosts=["db1", "app1"])
    ((path, message),) = error.value.problems
    assert path == ("checks", "api", "depends_on", 1)
    assert "(did you mean 'cache'?)" in message


def test_a_cycle_among_acyclic_nodes_on_both_sides_is_named() -> None:
    with pytest.raises(GraphError) as error:
        build_graph({"h": {"u": [], "a": ["b", "u"], "b": ["a"], "c": ["a"], "d": ["c"]}})
    assert error.value.problems == [(("checks", "a", "depends_on"), "dependency cycle: a -> b -> a")]
