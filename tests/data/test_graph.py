import numpy as np
import pytest

from icm_utils.data.graph import FLOW_GRAPH, PENDULUM_GRAPH, CausalGraph, GraphError


def test_pendulum_graph_structure():
    g = PENDULUM_GRAPH
    assert g.n == 4
    assert g.parents("shadow_length") == [0, 1]
    assert g.descendants("pendulum_angle") == {2, 3}
    assert g.ancestors("shadow_position") == {0, 1}
    assert g.levels() == [[0, 1], [2, 3]]
    assert g.roots() == [0, 1]


def test_chain_levels_topological_order_and_ancestor_matrix():
    g = CausalGraph(["c", "b", "a"], [("a", "b"), ("b", "c")])
    assert g.order == [2, 1, 0]
    assert g.depth == [2, 1, 0]
    assert g.levels() == [[2], [1], [0]]
    m = g.ancestor_matrix()
    assert m[2, 0] == 1 and m[1, 0] == 1 and m[2, 1] == 1 and m.sum() == 3


def test_flow_graph_has_three_levels():
    assert FLOW_GRAPH.levels() == [[0, 1], [2], [3]]
    assert FLOW_GRAPH.descendants("ball_size") == {2, 3}
    assert FLOW_GRAPH.descendants("water_flow") == set()


@pytest.mark.parametrize("names,edges,match", [
    (["a", "b"], [("a", "b"), ("b", "a")], "cycle"),
    (["a", "b"], [("a", "a")], "self loop"),
    (["a", "b"], [("a", "z")], "unknown variable 'z'"),
    (["a", "a"], [], "duplicate"),
    ([], [], "at least one"),
    (["a", "b"], [("a",)], "pair"),
])
def test_invalid_graphs_raise_clear_errors(names, edges, match):
    with pytest.raises(GraphError, match=match):
        CausalGraph(names, edges)


def test_adjacency_shape_mismatch_and_roundtrip():
    with pytest.raises(GraphError, match="shape"):
        CausalGraph.from_adjacency(["a", "b", "c"], np.zeros((2, 2)))
    g = CausalGraph.from_adjacency(["a", "b", "c"], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    assert g.edges == [("a", "b"), ("a", "c"), ("b", "c")]
    assert CausalGraph.from_dict(g.to_dict()) == g
    assert g != PENDULUM_GRAPH
    with pytest.raises(GraphError, match="unknown variable 'q'"):
        g.index("q")
