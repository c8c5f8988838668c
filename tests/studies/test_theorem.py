"""The per-node identifiability check: its table, its controls and its verdict."""
from __future__ import annotations

import pandas as pd
import pytest

from icm_utils.studies import theorem


@pytest.fixture(scope="module")
def small():
    scm = theorem.scm_for("8-node")
    return theorem.per_node_mcc(scm, seeds=[0], variants=["icm"], epochs=2, n_train=300,
                                n_test=300)


def test_per_node_table_has_every_node_with_controls(small):
    per, scores = small
    assert set(per["model"]) == {"icm", "control:oracle", "control:null_linear",
                                 "control:null_nonlinear"}
    icm = per[per["model"] == "icm"]
    assert list(icm["node"]) == list("abcdefgh")
    assert list(icm["depth"]) == [0, 0, 1, 2, 1, 3, 4, 5]  # the five-step chain a-c-d-f-g-h
    assert list(icm["role"][:2]) == ["root", "root"] and set(icm["role"][2:]) == {"non-root"}
    oracle = per[per["model"] == "control:oracle"]
    assert oracle["corr"].min() > 0.999 and oracle["own"].all()
    nulls = per[per["model"].str.startswith("control:null")]
    assert nulls["corr"].mean() < 0.8  # an entangled code is far from elementwise
    assert set(scores["graph"]) == {"8-node"}


def test_check_applies_both_targets():
    def rows(corrs):
        return pd.DataFrame({"graph": "g", "model": "icm", "seed": 0, "node": list("abc"),
                             "corr": corrs, "own": True})
    assert theorem.check(rows([0.99, 0.98, 0.97]))["holds"].item()
    bad_node = theorem.check(rows([0.99, 0.99, 0.94]))  # mean 0.973, one node below 0.95
    assert not bad_node["holds"].item() and bad_node["min_node"].item() == "c"
    assert not theorem.check(rows([0.96, 0.96, 0.96]))["holds"].item()  # mean below 0.97
    with pytest.raises(ValueError, match="no rows"):
        theorem.check(rows([1, 1, 1]), model="noprior")


def test_unknown_graph_is_refused():
    with pytest.raises(ValueError, match="unknown graph"):
        theorem.scm_for("9-node")


def test_supervised_reference_inverts_a_linear_mixing_and_matches_the_table_columns():
    scm = theorem.scm_for("6-node", mixing_layers=0)  # x = z @ orthonormal rows: linear
    per = theorem.supervised_reference(scm, seeds=[0], epochs=20, label="6-node")
    assert list(per["node"]) == scm.names and (per["model"] == "supervised").all()
    assert per["corr"].min() > 0.99, per
    assert list(per["role"]) == ["root", "root", "non-root", "non-root", "non-root", "non-root"]
    assert list(per["depth"]) == list(scm.graph.depth) and per["own"].all()


def test_per_node_plot_names_the_target_and_keeps_its_legend_off_the_bars():
    rows = [{"graph": g, "model": m, "seed": s, "node": n, "corr": c}
            for g in ("6-node", "8-node") for s in (0, 1) for n in "ab"
            for m, c in (("icm", 0.97), ("noprior", 0.5), ("control:oracle", 1.0))]
    fig = theorem.plot_per_node(pd.DataFrame(rows))
    assert [ax.get_title() for ax in fig.axes] == ["6-node graph", "8-node graph"]
    assert all(ax.get_legend() is None for ax in fig.axes)  # no legend over the bars
    legend, = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "icm", "noprior", "one seed", "target: every node ≥ 0.95"]
    target = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("target")]
    assert list(target[0].get_ydata()) == [theorem.TARGET_NODE] * 2
    fig.canvas.draw()  # the legend sits below the panels
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).y1 < fig.axes[0].get_window_extent(renderer).y0
