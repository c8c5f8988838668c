import numpy as np
import pandas as pd
import pytest
import torch

from icm_utils.data.datasets import load_dataset
from icm_utils.data.images import images_to_tensor
from icm_utils.evaluation import controls
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.counterfactual_table import (
    check_target,
    score_counterfactuals,
    score_soundness,
)
from icm_utils.evaluation.probe import train_probe
from icm_utils.model.models import build_model

RES = 32


@pytest.fixture(scope="module")
def ds():
    return load_dataset("pendulum", resolution=RES)


@pytest.fixture(scope="module")
def cfset(ds):
    return cf.make_counterfactual_set(ds, n_units=12, seed=0)


@pytest.fixture(scope="module")
def probe(ds):
    idx = ds.train_idx[:256]
    return train_probe(ds.images[idx], ds.labels[idx], epochs=1, seed=0)


class Oracle(torch.nn.Module):
    """A 'model' that knows the simulator: its counterfactuals are the true ones, and it encodes an
    image as its true labels (k=1). The evaluation must give it a perfect score."""

    def __init__(self, ds, cfset):
        super().__init__()
        self.graph = ds.graph
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.cfset = cfset
        self.table = {im.tobytes(): lab for im, lab in zip(ds.images, ds.labels)}
        for ims, labs in zip(cfset.cf_images, cfset.cf_labels):
            self.table.update({im.tobytes(): lab for im, lab in zip(ims, labs)})

    def counterfactual(self, x, do, units="label"):
        (name, value), = do.items()
        t = self.cfset.targets.index((name, value))
        x_cf = images_to_tensor(self.cfset.cf_images[t]).float() / 255
        return x_cf, torch.zeros(len(x_cf), self.graph.n, 1)

    def encode(self, x):
        ims = (x.permute(0, 2, 3, 1) * 255).round().byte().numpy()
        return torch.as_tensor(np.stack([self.table[im.tobytes()] for im in ims]))[:, :, None]


class LookupProbe:
    """A probe that reads every simulator image exactly (its true labels), for the rule's test."""

    def __init__(self, oracle):
        self.oracle = oracle

    def predict(self, x):
        if isinstance(x, np.ndarray):
            x = images_to_tensor(x).float() / 255
        return self.oracle.encode(x)[:, :, 0].numpy()


def test_counterfactual_set_obeys_the_graph(ds, cfset):
    n = ds.graph.n
    assert len(cfset.targets) == 3 * n and cfset.images.shape == (12, RES, RES, 3)
    assert set(np.flatnonzero(np.isin(cfset.exogenous[:, 0], ds.exogenous[ds.test_idx, 0]))) \
        == set(range(12))  # held-out units
    for (name, value), labs in zip(cfset.targets, cfset.cf_labels):
        j = ds.graph.index(name)
        np.testing.assert_allclose(labs[:, j], value, rtol=1e-6)
        for i in set(range(n)) - ds.graph.descendants(j) - {j}:
            np.testing.assert_array_equal(labs[:, i], cfset.labels[:, i])


def test_oracle_scores_perfectly(ds, cfset, probe):
    std = ds.label_stats()[1]
    oracle = Oracle(ds, cfset)
    df = cf.evaluate_counterfactuals(oracle, cfset, probe, std, "oracle")
    assert len(df) == len(cfset.targets) * ds.graph.n
    assert df["image_mse"].max() == 0.0
    # the oracle's factor error is exactly the probe's own error on the true counterfactuals
    floor = np.mean([np.abs(probe.predict(im) - lab) / std for im, lab in
                     zip(cfset.cf_images, cfset.cf_labels)])
    assert df["factor_error"].mean() == pytest.approx(floor, rel=1e-5)
    s = cf.role_summary(df)
    assert set(s.columns) >= {"intervened", "descendant", "non-descendant", "image_mse"}

    move = cf.block_movement(oracle, cfset)
    allowed = cf.allowed_movement(ds.graph)
    assert np.all(move[allowed == 0] == 0) and move[0, 0] > 0
    assert cf.robustness_score(move, allowed) == 1.0


def test_allowed_movement_and_scores_on_known_matrices(ds):
    a = cf.allowed_movement(ds.graph)
    np.testing.assert_array_equal(a, [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 1]])
    assert cf.robustness_score(np.ones((4, 4)), a) == pytest.approx(8 / 16)


def test_probe_learns_something_and_bad_sizes_refused(ds, probe):
    idx = ds.test_idx[:200]
    err = cf.probe_error(probe, ds.images[idx], ds.labels[idx], ds.label_stats()[1], ds.graph.names)
    assert list(err.index) == ds.graph.names
    assert err["pendulum_angle"] < 0.5  # one epoch already beats predicting the mean (~0.87)
    with pytest.raises(ValueError, match="n_units"):
        cf.make_counterfactual_set(ds, n_units=0)


# ---------------------------------------------------------------- controls
def test_counterfactual_controls_bracket_the_models(ds, cfset, probe):
    std = ds.label_stats()[1]
    df = controls.counterfactual_controls(cfset, probe, std, ds.graph)
    nothing, sim = (df[df["model"] == controls.label(k)] for k in (controls.DO_NOTHING,
                                                                   controls.SIMULATOR))
    assert len(nothing) == len(sim) == len(cfset.targets) * ds.graph.n
    # the simulator is scored by the very path a model takes: the Oracle model's rows
    model = cf.evaluate_counterfactuals(Oracle(ds, cfset), cfset, probe, std, "oracle")
    np.testing.assert_allclose(sim["factor_error"], model["factor_error"], rtol=1e-6)
    assert sim["image_mse"].max() == 0 and nothing["image_mse"].min() > 0
    # the oracle row is within the probe's own error on real images
    idx = ds.test_idx[:200]
    own = cf.probe_error(probe, ds.images[idx], ds.labels[idx], std).mean()
    assert sim["factor_error"].mean() < 1.5 * own
    # doing nothing leaves non-descendants as they are: their error is the probe's on the
    # (real) factual images, exactly
    per_var = (np.abs(probe.predict(cfset.images) - cfset.labels) / std).mean(0)
    nd = nothing[nothing["role"] == "non-descendant"]
    assert len(nd) > 0
    np.testing.assert_allclose(nd["factor_error"], per_var[[ds.graph.index(v) for v in
                                                            nd["variable"]]], rtol=1e-6)
    # with an exact probe (a one-epoch probe reads little but the angle) the rule separates
    # the roles doing nothing gets wrong from the one it gets right
    exact = controls.counterfactual_controls(cfset, LookupProbe(Oracle(ds, cfset)), std, ds.graph)
    gaps = controls.counterfactual_gaps(cf.role_summary(exact)).set_index("metric")
    assert gaps.loc["intervened", "discriminative"] and gaps.loc["descendant", "discriminative"]
    assert gaps.loc["non-descendant", "gap"] == 0  # doing nothing is perfect there
    assert not gaps.loc["non-descendant", "discriminative"]


def test_check_target_uses_only_discriminative_roles(ds, cfset, probe):
    std = ds.label_stats()[1]
    ctrl = controls.counterfactual_controls(cfset, LookupProbe(Oracle(ds, cfset)), std, ds.graph)
    good = ctrl[ctrl["model"] == "control:simulator"].assign(model="icm_vae")
    lazy = ctrl[ctrl["model"] == "control:do_nothing"].assign(model="beta_vae")
    summary = cf.role_summary(pd.concat([ctrl, good, lazy], ignore_index=True))
    v = check_target(summary, probe_err=1.0)
    assert v["non_descendants_within_probe_error"] == "not discriminative"
    assert v["descendants_at_most_a_third"] is (v["descendant_ratio"] <= 1 / 3)
    assert v["intervened_error_removed"] == pytest.approx(1.0)
    assert "non-descendant_error_removed" not in v
    bare = check_target(cf.role_summary(pd.concat([good, lazy])), probe_err=1.0)
    assert bare["non_descendants_within_probe_error"] == "no controls"
    assert bare["descendants_at_most_a_third"] == "no controls"


def test_robustness_controls(ds, cfset):
    r = controls.robustness_controls(cfset, ds.graph, k=4).groupby("model")["robustness"].mean()
    assert r["control:oracle"] == pytest.approx(1.0)
    assert r["control:null_linear"] < 0.8 and r["control:null_nonlinear"] < 0.8


def test_scores_split_by_root_and_non_root_targets(ds, cfset, probe):
    """Every score row says whether a root or a caused variable was intervened on, and the split
    summary's rows are the unsplit one's, separated (the mean over kinds weighted by rows)."""
    _, std = ds.label_stats()
    scores = score_counterfactuals({("oracle", 0): Oracle(ds, cfset)}, cfset, probe, std,
                                   ds.graph)
    kinds = scores.drop_duplicates("target").set_index("target")["intervened_on"].to_dict()
    assert kinds == {"pendulum_angle": "root", "light_position": "root",
                     "shadow_length": "non-root", "shadow_position": "non-root"}
    assert set(scores["model"]) == {"oracle", "control:do_nothing", "control:simulator"}
    split = cf.role_summary(scores, by_target=True)
    whole = cf.role_summary(scores).set_index("model")
    for model, g in split.groupby("model"):
        # a caused Pendulum variable has no descendant: that cell is empty, not 0
        assert g.set_index("intervened_on").loc["non-root", "descendant"] != 0
        assert g["intervened"].mean() == pytest.approx(whole.loc[model, "intervened"])
    with pytest.raises(ValueError, match="intervened_on"):
        cf.role_summary(scores.drop(columns="intervened_on"), by_target=True)


def test_soundness_known_answers(ds, cfset):
    """A flow model's null intervention recomputes the factual latents exactly, so one
    application returns its reconstruction (composition 0); reversibility and repeated
    composition are what the three steps give when done by hand; the controls are zeros."""
    torch.manual_seed(0)
    mean, std = ds.label_stats()
    model = build_model("icm_vae", ds.graph, RES, label_mean=mean, label_std=std).eval()
    rows = score_soundness({("icm_vae", 0): model}, cfset, ds.graph, n_units=6)
    mine = rows[rows["model"] == "icm_vae"]
    assert len(mine) == len(cfset.targets)
    assert (mine["composition"] == 0).all()
    x = torch.as_tensor(cfset.images[:6]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        rec = model.reconstruct(x)
        name, value = cfset.targets[4]
        i = ds.graph.index(name)
        there = model.counterfactual(x, {name: value})[0]
        back = model.counterfactual(there, {name: torch.as_tensor(cfset.labels[:6, i])})[0]
        y = x
        for _ in range(5):
            y = model.counterfactual(y, {name: model.encode(y)[:, i]}, units="latent")[0]
    row = mine.iloc[4]
    assert row["reversibility"] == pytest.approx(float(((back - rec) ** 2).mean()), rel=1e-5)
    assert row["composition_x5"] == pytest.approx(float(((y - rec) ** 2).mean()), rel=1e-5)
    assert (mine["reconstruction_mse"] > 0).all()
    ctrl = rows[rows["model"].str.startswith("control:")]
    assert (ctrl[list(cf.SOUNDNESS_COLUMNS)] == 0).all().all()
