"""Misspecified graphs: each kind differs from the truth exactly as documented."""
from __future__ import annotations

import pytest

from icm_utils.data.graph import GRAPH_KINDS, CausalGraph, describe, misspecify
from icm_utils.data.graph import PENDULUM_GRAPH as PENDULUM
from icm_utils.data.synthetic import LARGE_GRAPH, PRESET_GRAPH


@pytest.mark.parametrize("graph", [PENDULUM, PRESET_GRAPH, LARGE_GRAPH])
def test_each_kind_changes_the_graph_as_documented(graph):
    true = set(graph.edges)
    assert misspecify(graph, "true") == graph
    rev = set(misspecify(graph, "reversed").edges)
    assert len(rev) == len(true) and len(rev - true) == 1
    (a, b), = rev - true
    assert (b, a) in true and true - rev == {(b, a)}
    dropped = set(misspecify(graph, "dropped").edges)
    assert dropped < true and len(true - dropped) == 1
    assert misspecify(graph, "empty").edges == []
    complete = misspecify(graph, "complete")
    assert len(complete.edges) == graph.n * (graph.n - 1) // 2  # every pair, one direction
    assert true <= set(complete.edges)  # a supergraph of the truth
    for kind in GRAPH_KINDS:  # same variables in the same order: block i is still variable i
        assert misspecify(graph, kind).names == graph.names


def test_pendulum_choices_are_the_first_edge():
    assert describe(PENDULUM, "reversed") == (
        "reversed: -pendulum_angle->shadow_length, +shadow_length->pendulum_angle (4 edges)")
    assert describe(PENDULUM, "dropped") == "dropped: -pendulum_angle->shadow_length (3 edges)"
    assert describe(PENDULUM, "true") == "true: as the truth (4 edges)"


def test_bad_kinds_are_refused():
    with pytest.raises(ValueError, match="not one of"):
        misspecify(PENDULUM, "flipped")
    with pytest.raises(ValueError, match="needs an edge"):
        misspecify(CausalGraph(["a", "b"]), "reversed")
    # reversing the first edge a->c would close the cycle a->b->c->a: the next edge is reversed
    tri = CausalGraph(["a", "b", "c"], [("a", "c"), ("a", "b"), ("b", "c")])
    assert set(misspecify(tri, "reversed").edges) == {("a", "c"), ("b", "a"), ("b", "c")}


def test_train_config_accepts_graph_kinds_and_keeps_runs_apart(tmp_path):
    from icm_utils.training.config import TrainConfig
    from icm_utils.training.runs import run_dir_for, same_config

    with pytest.raises(ValueError, match="graph="):
        TrainConfig(graph="upside-down").validate()
    a, b = TrainConfig(), TrainConfig(graph="empty")
    assert run_dir_for(tmp_path, a) != run_dir_for(tmp_path, b)
    assert run_dir_for(tmp_path, b).parent.name == "icm_vae-graph_empty"
    # a run saved before the field existed is the same run as graph="true"
    old = {k: v for k, v in a.to_dict().items() if k != "graph"}
    assert same_config(old, a) and not same_config(old, b)
