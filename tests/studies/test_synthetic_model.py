"""The vector ICM model on the synthetic SCM: reuse, training, oracle and identifiability (~25 s).

Thresholds were measured on the preset SCM (n_train=1000, 20 epochs, seeds 0-3):
mean R^2 of variable i's block from (factor i + its ancestors): icm (block i) 0.78-0.87,
noprior (Hungarian-matched block) 0.47-0.61;
Spearman MCC: icm 0.58-0.83, an untrained encoder 0.47-0.63, independent noise codes < 0.15.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from icm_utils.data.graph import PENDULUM_GRAPH
from icm_utils.data.synthetic import preset
from icm_utils.evaluation import metrics
from icm_utils.evaluation.codes import RunCodes
from icm_utils.evaluation.factor_sets import (
    FACTOR_SETS,
    explained_by_factor_sets,
    factor_set_table,
)
from icm_utils.model.loss import FlowLoss, RecipeLoss
from icm_utils.model.mechanisms import CausalFlow
from icm_utils.model.models import ICMVAE, build_model
from icm_utils.model.prior import CausalPrior
from icm_utils.model.recipes import TERMS, get_recipe, objective
from icm_utils.model.vector import VectorICM
from icm_utils.studies.synthetic_model import synthetic_identifiability
from icm_utils.training import synthetic as synthetic_training
from icm_utils.training.synthetic import (
    SynthConfig,
    build_vector_model,
    encode,
    make_data,
    train_synthetic,
)

SMALL = dict(n_train=1000, n_test=500)


@pytest.fixture(scope="module")
def scm():
    return preset(seed=0)


@pytest.fixture(scope="module")
def data(scm):
    return make_data(scm, SynthConfig(**SMALL))


@pytest.fixture(scope="module")
def trained(scm, data):
    """(variant -> (model, history)) after 20 epochs, seed 0."""
    return {v: train_synthetic(scm, SynthConfig(variant=v, epochs=20, **SMALL), data)
            for v in ("icm", "noprior")}


def test_reuses_package_flow_and_prior(scm, data):
    m = build_vector_model(scm, SynthConfig(**SMALL), data)
    assert isinstance(m.mechanism, CausalFlow) and isinstance(m.prior, CausalPrior)
    assert m.mechanism.graph == scm.graph and m.prior.graph == scm.graph
    # the prior normalises labels with the training labels' statistics
    np.testing.assert_allclose(m.prior.label_mean.numpy(), data.u_train.mean(0), atol=1e-6)
    assert build_vector_model(scm, SynthConfig(variant="noprior", **SMALL), data).prior is None
    z = m.encode(torch.zeros(5, scm.obs_dim))
    assert z.shape == (5, scm.graph.n, 1)
    with pytest.raises(ValueError, match="needs labels"):
        m.loss_terms(torch.zeros(5, scm.obs_dim), None, 0.1, 1.0)
    with pytest.raises(ValueError, match="observations"):
        m.encode(torch.zeros(5, 3))
    # the prior alone can be told another graph (theorem diagnosis); the flow keeps the model's
    m = build_vector_model(scm, SynthConfig(prior_graph="empty", **SMALL), data)
    assert m.mechanism.graph == scm.graph and m.prior.graph.edges == [] and m.graph == scm.graph
    m = build_vector_model(scm, SynthConfig(graph="empty", prior_graph="true", **SMALL), data)
    assert m.mechanism.graph.edges == [] and m.prior.graph == scm.graph


def test_the_prior_conditions_as_the_recipe_says_as_in_the_image_models(scm, data):
    # independent_noise: each latent's prior mean from its own label only, with the recipe's
    # prior bound; the flow keeps the graph. The image models build theirs the same way.
    cfg = SynthConfig(recipe="independent_noise", **SMALL)
    m = build_vector_model(scm, cfg, data)
    recipe = get_recipe("independent_noise")
    assert m.mechanism.graph == scm.graph and m.prior.graph.edges == []
    assert m.prior.flow.affine_bound == recipe.prior_flow_bound
    image = build_model("icm_vae", scm.graph, 32, k=1, recipe="independent_noise")
    assert image.prior.graph.edges == [] and image.prior.flow.affine_bound == recipe.prior_flow_bound
    # the official recipe conditions on the parents; an explicit prior graph still wins
    assert build_vector_model(scm, SynthConfig(**SMALL), data).prior.graph == scm.graph
    m = build_vector_model(scm, SynthConfig(recipe="independent_noise", prior_graph="true",
                                            **SMALL), data)
    assert m.prior.graph == scm.graph


def test_k_dims_per_block(scm):
    m = VectorICM(scm.graph, scm.obs_dim, k=3)
    out = m.loss_terms(torch.randn(8, scm.obs_dim), torch.randn(8, 6), 0.1, 1.0)
    assert m.encode(torch.randn(8, scm.obs_dim)).shape == (8, 6, 3)
    assert torch.isfinite(out["loss"])


def test_vector_and_image_models_share_one_loss_path(scm):
    # one parts function and one loss_terms: neither model overrides them
    assert isinstance(VectorICM(scm.graph, scm.obs_dim), FlowLoss)
    for cls in (VectorICM, ICMVAE):
        assert cls.flow_parts is FlowLoss.flow_parts and cls.loss_terms is RecipeLoss.loss_terms
        assert cls.loss_weights is FlowLoss.loss_weights
    torch.manual_seed(0)
    vec = VectorICM(scm.graph, scm.obs_dim, k=2)
    img = build_model("icm_vae", PENDULUM_GRAPH, 32, k=2, label_mean=[0.0] * 4, label_std=[1.0] * 4,
                      width=8, hidden=8)
    x, u = torch.randn(8, scm.obs_dim), torch.randn(8, scm.graph.n)
    parts = vec.loss_parts(x, u)
    image_parts = img.loss_parts(torch.rand(8, 3, 32, 32), torch.randn(8, 4))
    assert set(parts) == set(image_parts) == set(TERMS)  # "indep" logged by both
    # the vector model's parts are the shared function's with its Gaussian NLL
    shared = vec.flow_parts(vec.abduct(x), u, vec.gaussian_nll(x))
    for name in TERMS:
        assert torch.equal(parts[name], shared[name]), name
    # logged, not trained, while the recipe's independence weight is 0: no graph behind it
    assert not parts["indep"].requires_grad and parts["kl_prior"].requires_grad
    terms = vec.loss_terms(x, u, 0.1, 1.0)
    assert torch.equal(terms["loss"], objective(parts, 0.1, 1.0)["loss"])  # 1-d x: rec scale 1
    assert set(VectorICM(scm.graph, scm.obs_dim, use_prior=False).loss_parts(x, None)) == set(
        TERMS) - {"indep"}


def test_vector_model_trains_on_the_independence_penalty_as_the_image_models(scm):
    torch.manual_seed(0)
    m = VectorICM(scm.graph, scm.obs_dim, recipe="independent_noise")
    x, u = torch.randn(16, scm.obs_dim), torch.randn(16, scm.graph.n)
    parts = m.loss_parts(x, u)
    assert parts["indep"].requires_grad and m.loss_weights["indep"] == ("beta", 1.0)
    with_indep = m.loss_terms(x, u, 0.1, 2.0)["loss"]
    without = objective(parts, 0.1, 2.0)["loss"]
    assert torch.allclose(with_indep - without, 2.0 * parts["indep"].mean())


def test_training_runs_the_shared_epoch_driver(scm, monkeypatch):
    real, rows = synthetic_training.run_epoch, []

    def spy(*args, **kwargs):
        rows.append(real(*args, **kwargs))
        return rows[-1]

    monkeypatch.setattr(synthetic_training, "run_epoch", spy)
    cfg = SynthConfig(epochs=3, n_train=100, n_test=100, ramp_fraction=1.0)
    _, hist = train_synthetic(scm, cfg)
    assert hist.to_dict("records") == rows and list(hist["epoch"]) == [1, 2, 3]
    # the official warm-up over R = 3 epochs: final * (e - 1) / (R - 1)
    assert list(hist["beta"]) == pytest.approx([0.0, 0.0, 0.6])
    assert {"indep", "seconds"} <= set(hist.columns)


def test_data_are_exact_and_shared_across_seeds(scm, data):
    assert data.x_train.shape == (1000, 10) and data.z_test.shape == (500, 6)
    np.testing.assert_array_equal(data.u_train, data.z_train)  # no label noise by default
    again = make_data(scm, SynthConfig(seed=5, **SMALL))  # training seed: same data
    np.testing.assert_array_equal(again.x_test, data.x_test)
    noisy = make_data(scm, SynthConfig(label_noise=0.5, **SMALL))
    assert 0.4 < np.std(noisy.u_train - noisy.z_train) < 0.6


def test_loss_decreases_and_threads_restored(trained):
    threads = torch.get_num_threads()
    for _, hist in trained.values():
        assert len(hist) == 20 and np.isfinite(hist["loss"]).all()
        assert hist["loss"].iloc[-1] < hist["loss"].iloc[0] - 1.0
        assert hist["rec"].iloc[-1] < hist["rec"].iloc[0]
    assert torch.get_num_threads() == threads


def test_training_is_deterministic(scm, data):
    cfg = SynthConfig(epochs=2, **SMALL)
    a = encode(train_synthetic(scm, cfg, data)[0], data.x_test)
    b = encode(train_synthetic(scm, cfg, data)[0], data.x_test)
    np.testing.assert_array_equal(a, b)
    c = encode(train_synthetic(scm, dataclasses.replace(cfg, seed=1), data)[0], data.x_test)
    assert not np.allclose(a, c)


def test_oracle_codes_score_one(scm, data):
    truth = data.z_test[:, :, None]
    assert metrics.mcc(truth, data.z_test, method="spearman", level="block") == pytest.approx(1)
    inverted = scm.mixing.inverse(data.x_test)[:, :, None]  # the exact inverse of the mixing
    assert metrics.mcc(inverted, data.z_test, level="block") == pytest.approx(1, abs=1e-9)
    monotone = np.tanh(inverted) * 3 + 1  # elementwise reparameterisation: Spearman unchanged
    assert metrics.mcc(monotone, data.z_test, method="spearman",
                       level="block") == pytest.approx(1)
    r2 = explained_by_factor_sets(RunCodes("s", "oracle", 0, truth, data.z_test, scm.names),
                                  scm.graph)
    assert list(r2["set"].unique()) == list(FACTOR_SETS)
    assert r2["r2"].min() > 0.95


def test_prior_identifies_blocks_up_to_their_ancestors(scm, data, trained):
    z_icm = encode(trained["icm"][0], data.x_test)
    assert metrics.mcc(z_icm, data.z_test, method="spearman", level="block") > 0.5
    noise = np.random.default_rng(0).normal(size=z_icm.shape)
    assert metrics.mcc(noise, data.z_test, method="spearman", level="block") < 0.15

    def ancestral_r2(v):
        rc = RunCodes("s", v, 0, encode(trained[v][0], data.x_test), data.z_test, scm.names,
                      aligned=v == "icm")  # noprior: blocks in any order, so matched
        t = factor_set_table([rc], scm.graph)
        return t.loc[t["set"] == "own+ancestors", "r2"].mean()

    icm, noprior = ancestral_r2("icm"), ancestral_r2("noprior")
    assert icm > 0.7  # measured 0.78-0.87
    assert icm > noprior + 0.15  # measured gaps 0.26-0.36


def test_synthetic_identifiability_tidy_table(scm):
    df, codes = synthetic_identifiability(scm, seeds=(0, 1), epochs=1, n_train=200, n_test=100,
                                          control_kinds=("oracle", "null_linear"))
    assert list(df.columns) == ["dataset", "model", "seed", "metric", "value"]
    assert set(df["model"]) == {"icm", "noprior", "control:oracle", "control:null_linear"}
    assert (df["dataset"] == "synthetic").all() and set(df["seed"]) == {"0", "1", "0-1"}
    per_run = {"dci_disentanglement", "dci_completeness", "dci_informativeness", "irs",
               "mcc_pearson", "mcc_spearman", "own_factor_r2", "exclusivity", "train_seconds"}
    models = df[~df["model"].str.startswith("control:")]
    assert set(models.loc[models["seed"] == "0", "metric"]) == per_run
    assert set(df.loc[df["seed"] == "0-1", "metric"]) == {"mcc_between_seeds",
                                                          "agreement_between_seeds"}
    assert len(models) == 2 * (2 * len(per_run) + 2)
    assert len(df) - len(models) == 2 * (2 * (len(per_run) - 1) + 2)  # no train_seconds
    assert [(c.model, c.seed) for c in codes] == [("icm", 0), ("icm", 1), ("noprior", 0),
                                                  ("noprior", 1)]
    assert codes[0].codes.shape == (100, 6, 1)


def test_config_validation():
    with pytest.raises(ValueError, match="variant"):
        SynthConfig(variant="nope").validate()
    with pytest.raises(ValueError, match="epochs"):
        SynthConfig(epochs=0).validate()
    with pytest.raises(ValueError, match="label_noise"):
        SynthConfig(label_noise=-1.0).validate()
    with pytest.raises(ValueError, match="n_test"):
        SynthConfig(n_test=5).validate()
    with pytest.raises(ValueError, match="prior_graph"):
        SynthConfig(prior_graph="nope").validate()
    with pytest.raises(ValueError, match="recipe_overrides: unknown recipe fields"):
        SynthConfig(recipe_overrides={"independance": 0.0}).validate()
    with pytest.raises(ValueError, match="recipe_overrides: recipe flow_bound must be one of"):
        SynthConfig(recipe_overrides={"flow_bound": "nope"}).validate()


def test_recipe_overrides_take_one_ingredient_away(scm, data):
    cfg = SynthConfig(recipe="independent_noise", recipe_overrides={"independence": 0.0}, **SMALL)
    r = cfg.validate().resolved_recipe()
    assert (r.independence, r.prior_parents, r.flow_bound) == (0.0, "none", "scale")
    m = build_vector_model(scm, cfg, data)
    assert m.recipe == r and "indep" not in m.loss_weights
    assert SynthConfig(recipe="independent_noise").resolved_recipe() == get_recipe(
        "independent_noise")


def test_counterfactuals_keep_non_descendants_and_are_read_exactly():
    import torch

    from icm_utils.data.synthetic import preset
    from icm_utils.studies.synthetic_model import counterfactual_errors
    from icm_utils.training.synthetic import SynthConfig, make_data, train_synthetic

    scm = preset(0)
    cfg = SynthConfig(epochs=2, n_train=300, n_test=200)
    data = make_data(scm, cfg)
    model, _ = train_synthetic(scm, cfg, data)
    x = torch.as_tensor(data.x_test[:50], dtype=torch.float32)
    with torch.no_grad():
        z = model.encode(x)
        _, z_cf = model.counterfactual(x, {"c": 0.5})
    keep = [scm.graph.index(v) for v in scm.names
            if v != "c" and scm.graph.index(v) not in scm.graph.descendants("c")]
    assert torch.equal(z_cf[:, keep], z[:, keep])  # only c and its descendants move
    rows = counterfactual_errors(model, scm, data)
    err = rows.groupby(["model", "role"])["factor_error"].mean()
    assert err["control:simulator"].max() < 1e-8  # the mixing's inverse reads the truth exactly
    assert err[("control:do_nothing", "non-descendant")] < 1e-8
    assert err[("control:do_nothing", "intervened")] > 0.5
    assert set(rows["role"]) == {"intervened", "descendant", "non-descendant"}
