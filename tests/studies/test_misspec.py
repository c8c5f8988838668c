"""Misspecified graphs: each kind differs from the truth exactly as documented; the study's
figure shows graphs and controls with error bars, its legend off the bars."""
from __future__ import annotations

import pandas as pd
import pytest

from icm_utils.data.graph import GRAPH_KINDS, CausalGraph, describe, misspecify
from icm_utils.data.graph import PENDULUM_GRAPH as PENDULUM
from icm_utils.data.synthetic import LARGE_GRAPH, PRESET_GRAPH
from icm_utils.studies import misspec


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


def test_counterfactual_error_figure_has_error_bars_and_a_legend_off_the_bars():
    rows = [{"model": m, "seed": s, "role": r, "factor_error": e + 0.1 * s}
            for m, e in (("icm_vae[true]", 0.5), ("icm_vae[empty]", 0.7), ("control:do_nothing", 1.2),
                         ("beta_vae", 0.9))
            for s in (0, 1, 2) for r in ("intervened", "descendant", "non-descendant")]
    fig = misspec.plot_counterfactual_error(pd.DataFrame(rows), "toy")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["control:do_nothing", "icm_vae[empty]", "icm_vae[true]"]  # graphs and controls only
    # the legend sits right of the axes (anchored at x = 1 in axes coordinates)
    assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1
    assert len(ax.lines) == 9  # one error bar per bar: 3 rows x 3 roles
