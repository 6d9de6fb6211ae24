"""course.steps.step07_formal_education.graphs: walks, orders and cycles, on made-up graphs and the installed
packages' real dependency graph."""

import graphlib
import sys

import pytest

from course.steps.step07_formal_education import graphs as g


def test_the_installed_dependency_graph_is_real_and_ordered_like_graphlib():
    deps = g.dependency_graph()
    assert "nbgrader" in deps and "jinja2" in deps["nbgrader"]
    assert all(need in deps for needs in deps.values() for need in needs)
    order = g.topological_order(deps)
    position = {name: i for i, name in enumerate(order)}
    assert sorted(order) == sorted(deps)
    assert all(position[need] < position[name] for name in deps for need in deps[name])
    assert set(graphlib.TopologicalSorter(deps).static_order()) == set(order)


def test_kahn_takes_the_smallest_ready_node_and_reports_a_cycle():
    assert g.topological_order({"z": [], "m": ["z"], "a": ["m"], "y": []}) == ["y", "z", "m", "a"]
    with pytest.raises(g.CycleError) as caught:
        g.topological_order({"app": ["lib"], "lib": ["core"], "core": ["lib"]})
    assert caught.value.cycle in (["lib", "core", "lib"], ["core", "lib", "core"])
    assert g.find_cycle({"a": ["b"], "b": []}) is None
    assert g.find_cycle({"a": ["a"]}) == ["a", "a"]


def test_recursion_hits_the_limit_where_the_explicit_stack_does_not():
    deep = g.chain(sys.getrecursionlimit() * 2)
    with pytest.raises(RecursionError):
        g.depth_recursive(deep, 0)
    assert g.depth_iterative(deep, 0) == len(deep)
    assert g.depth_recursive(g.chain(10), 0) == g.depth_iterative(g.chain(10), 0) == 10


def test_bfs_levels_dfs_order_and_shortest_path():
    graph = {"a": ["c", "b"], "b": ["d"], "c": ["d", "e"], "d": ["f"], "e": ["f"]}
    assert g.bfs_levels(graph, "a") == [["a"], ["b", "c"], ["d", "e"], ["f"]]
    assert g.dfs_order(graph, "a") == ["a", "b", "d", "f", "c", "e"]
    assert g.shortest_path(graph, "a", "f") == ["a", "b", "d", "f"]
    assert g.shortest_path(graph, "f", "a") is None and g.shortest_path(graph, "a", "a") == ["a"]
    assert g.reverse(graph)["f"] == ["d", "e"]
    assert g.normalise("Typing_Extensions") == "typing-extensions"
