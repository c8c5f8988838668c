"""The official recipe pinned to the official code's formulas (docs/official_code.md), term by term.

The reference below is written from the formulas, not from the package: the flow loop in
topological order with sigmoid-bounded scale and shift, the prior's second flow on the fixed label
scaling, BCE summed over the image width and averaged over batch, channels and height.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from icm_utils.data.graph import FLOW_GRAPH, PENDULUM_GRAPH
from icm_utils.model.mechanisms import CausalFlow
from icm_utils.model.models import build_model
from icm_utils.model.prior import CausalPrior
from icm_utils.model.recipes import (
    DEFAULT_RECIPE,
    OFFICIAL_LABEL_SCALING,
    RECIPES,
    get_recipe,
    objective,
    recipe_for,
    reconstruction_scale,
    warmup,
)
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import build_for

R, B, K = 32, 5, 3


def official_model(seed=0):
    torch.manual_seed(seed)
    a, b = OFFICIAL_LABEL_SCALING["pendulum"]
    m = build_model("icm_vae", PENDULUM_GRAPH, R, k=K, label_mean=a, label_std=b,
                    recipe="official", width=8, hidden=8).eval()
    with torch.no_grad():  # fixed weights away from the initialisation (zero last layers)
        for p in m.parameters():
            p.copy_(0.3 * torch.randn_like(p))
    return m


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, 3, R, R, generator=g)
    lo = torch.tensor([-36.0, 54.0, 3.0, 2.0])
    hi = torch.tensor([38.7, 132.3, 12.6, 19.6])
    u = lo + (hi - lo) * torch.rand(B, 4, generator=g)
    return x, u


def official_flow(raw_params, eps, graph):
    """z_i = exp(s) eps_i + t in topological order, (s, t) = sigmoid(net(z * mask_i)).

    ``raw_params(z, i)`` gives the net's raw (B, 2k) outputs for node i from the partial z."""
    z = torch.zeros_like(eps)
    logdet = torch.zeros(eps.shape[0])
    for i in [i for level in graph.levels() for i in level]:  # topological order
        p = raw_params(z, i)
        s, t = torch.sigmoid(p[:, :K]), torch.sigmoid(p[:, K:])
        z[:, i] = torch.exp(s) * eps[:, i] + t
        logdet = logdet + s.sum(1)
    return z, logdet


def test_official_loss_matches_the_formulas_term_by_term():
    m = official_model()
    x, u = data()
    alpha, beta = 0.37, 1.1
    terms = m.loss_terms(x, u, alpha, beta)

    eps = m.encoder(x).reshape(B, 4, K)  # the posterior mean, never sampled
    z, logdet = official_flow(lambda z, i: m.mechanism.net(z, [i])[:, 0], eps, PENDULUM_GRAPH)
    # the prior: u_hat = (u - a) / b broadcast over k, pushed through the prior's own flow
    # conditioned on the encoder-side z (all parents final): m_i = exp(s') u_hat_i + t'
    a, b = (torch.tensor(v) for v in OFFICIAL_LABEL_SCALING["pendulum"])
    u_hat = ((u - a) / b)[..., None].expand(B, 4, K)
    p = m.prior.flow.net(z)
    mean = torch.exp(torch.sigmoid(p[..., :K])) * u_hat + torch.sigmoid(p[..., K:])
    logits = m.decoder(z)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
    alpha_term = alpha * (0.5 * eps.pow(2).sum((1, 2)) - logdet).mean()
    beta_term = beta * (0.5 * (z - mean).pow(2).sum((1, 2))).mean()

    torch.testing.assert_close(terms["rec"], rec, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alpha * (terms["kl_eps"] - terms["logdet"]), alpha_term,
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(beta * terms["kl_prior"], beta_term, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(terms["loss"], rec + alpha_term + beta_term, atol=1e-5, rtol=1e-5)
    # the official reduction is the pixel sum / (C * H): 96 here, 384 at 96 px RGBA
    assert reconstruction_scale(x.shape, m.recipe) == 1 / 96
    assert reconstruction_scale((64, 4, 96, 96), m.recipe) == 1 / 384


def test_official_decoder_averages_one_decoder_per_variable():
    m = official_model(1)
    z = torch.randn(4, 4, K)
    d = lambda v: m.decoder(v) - m.decoder.pixel_bias  # noqa: E731
    # additive over blocks: swapping block 2 between two codes swaps only its contribution
    za, zb = z[:2].clone(), z[2:].clone()
    za2, zb2 = za.clone(), zb.clone()
    za2[:, 2], zb2[:, 2] = zb[:, 2], za[:, 2]
    torch.testing.assert_close(d(za) + d(zb), d(za2) + d(zb2), atol=1e-5, rtol=1e-4)
    # averaged, not summed: the same weights composed by "sum" give n times the logits
    summed = build_model("icm_vae", PENDULUM_GRAPH, R, k=K, label_mean=[0] * 4, label_std=[1] * 4,
                         recipe="official", decoder="sum", width=8, hidden=8).eval()
    summed.load_state_dict(m.state_dict())
    torch.testing.assert_close(summed.decoder(z) - m.decoder.pixel_bias, 4 * d(z),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3])
@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_sigmoid_slopes_stay_in_1_e_whatever_the_weights(scale, kind):
    torch.manual_seed(int(scale))
    flow = CausalFlow(FLOW_GRAPH, K, kind=kind, affine_bound="sigmoid")
    prior = CausalPrior(FLOW_GRAPH, K, kind=kind, affine_bound="sigmoid")
    with torch.no_grad():
        for p in [*flow.parameters(), *prior.parameters()]:
            p.copy_(scale * torch.randn_like(p))
    z = 5 * torch.randn(64, 4, K)
    for net in (flow, prior.flow):
        with torch.no_grad():
            s, t = net.scale_shift(net.conditioner(z))
        assert float(s.min()) >= 0 and float(s.max()) <= 1
        assert float(t.min()) >= 0 and float(t.max()) <= 1
    if kind == "affine":
        # the slope of every block on its own noise: exp(s) in [1, e]
        eps = torch.randn(64, 4, K)
        jac = torch.autograd.functional.jacobian(lambda e: flow(e.reshape(1, 4, K))[0].sum(0),
                                                 eps[:1].reshape(-1)).reshape(4, K, 4, K)
        diag = torch.stack([jac[i, :, i, :].diagonal() for i in range(4)])
        assert float(diag.min()) >= 1 - 1e-6 and float(diag.max()) <= math.e + 1e-5
        # and the prior's slope on its label (u_hat): d m_i / d u_hat_i = exp(s') in [1, e]
        u1, u2 = torch.zeros(64, 4), torch.ones(64, 4)
        with torch.no_grad():
            slope = prior.mean(u2, z) - prior.mean(u1, z)
        assert float(slope.min()) >= 1 - 1e-6 and float(slope.max()) <= math.e + 1e-5


def test_scale_bound_keeps_official_slopes_and_frees_the_shift():
    torch.manual_seed(0)
    flow = CausalFlow(FLOW_GRAPH, K, affine_bound="scale")
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(30 * torch.randn_like(p))
    with torch.no_grad():
        s, t = flow.scale_shift(flow.conditioner(5 * torch.randn(64, 4, K)))
    assert 0 <= float(s.min()) and float(s.max()) <= 1
    assert float(t.abs().max()) > 10  # a parent can move its child far; sigmoid: less than 1


def test_tanh_bound_of_the_elbo_recipe_can_flatten_the_prior():
    # the contrast the official bound removes: s = 3 tanh(s/3) reaches slopes of e^-3 = 0.05
    prior = CausalPrior(FLOW_GRAPH, K, affine_bound="tanh")
    with torch.no_grad():
        prior.flow.net.b3[:, :K] = -100.0  # raw log-slope (s comes first, then t)
    with torch.no_grad():
        slope = prior.mean(torch.ones(2, 4), torch.zeros(2, 4, K)) - prior.mean(
            torch.zeros(2, 4), torch.zeros(2, 4, K))
    assert float(slope.max()) < 0.06


def test_objective_weights_reconstruction_and_terms():
    parts = {"rec": torch.tensor([384.0, 768.0]), "kl_eps": torch.tensor([2.0, 4.0]),
             "logdet": torch.tensor([1.0, 1.0]), "kl_prior": torch.tensor([3.0, 5.0])}
    out = objective(parts, alpha=0.5, beta=2.0, rec_scale=1 / 384)
    # rec (1.5) + 0.5 * (3 - 1) + 2 * 4
    assert out["loss"].item() == pytest.approx(1.5 + 1.0 + 8.0)
    assert out["rec"].item() == pytest.approx(1.5)
    beta_only = objective(parts, alpha=9.0, beta=2.0, weights={"kl_eps": ("beta", 1.0)})
    assert beta_only["loss"].item() == pytest.approx(576.0 + 2 * 3.0)


def test_recipes_and_overrides():
    assert RECIPES["official"].to_dict() == {
        "name": "official", "reconstruction": "width", "flow_bound": "sigmoid", "decoder": "mean",
        "warmup": "official", "label_scaling": "official", "alpha_max": 0.1, "beta_max": 1.2,
        # beyond the paper, off in the official recipe (prior flow as the mechanism's, parents)
        "prior_bound": "same", "prior_parents": "graph", "independence": 0.0,
        "independence_of": "labels", "independence_measure": "cka_floor"}
    r = get_recipe("official", decoder="joint")
    assert r.decoder == "joint" and r.name == "official[decoder=joint]"
    assert get_recipe("official", decoder="mean") is RECIPES["official"]
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        get_recipe("nope")
    with pytest.raises(ValueError, match="flow_bound must be one of"):
        get_recipe("official", flow_bound="relu")
    with pytest.raises(ValueError, match="unknown recipe fields"):
        get_recipe("official", lr=3)
    with pytest.raises(ValueError, match="recipe='nope'"):
        TrainConfig(recipe="nope").validate()
    with pytest.raises(ValueError, match="decoder must be one of"):
        TrainConfig(hparams={"decoder": "tiled"}).validate()
    assert warmup(2, 101) == pytest.approx((0.1 / 93, 1.2 / 93))
    # a run's weights: the recipe's unless TrainConfig sets them
    from icm_utils.training.config import warmup_weights

    assert warmup_weights(100, TrainConfig(epochs=101)) == pytest.approx((0.1, 1.2))
    assert warmup_weights(100, TrainConfig(epochs=101, alpha_max=2.0)) == pytest.approx((2.0, 1.2))
    with pytest.raises(ValueError, match="alpha_max must be a finite number"):
        get_recipe({**RECIPES["official"].to_dict(), "alpha_max": -1})


def test_recipe_for_one_name_or_one_per_model():
    assert recipe_for("elbo", "beta_vae") == "elbo"
    choice = {"icm_vae": "independent_noise"}
    assert recipe_for(choice, "icm_vae") == "independent_noise"
    assert recipe_for(choice, "causal_vae") == DEFAULT_RECIPE == "official_joint"


def test_runs_build_with_the_recipe_and_its_label_scaling():
    class DS:  # the two attributes build_for reads, without generating images
        graph, labels, train_idx = PENDULUM_GRAPH, torch.randn(10, 4).numpy() * 7 + 40, range(10)

        def label_stats(self):
            u = self.labels
            return u.mean(0), u.std(0)

    official = build_for(TrainConfig(resolution=32, recipe="official", hparams={"width": 8}), DS())
    assert official.recipe == RECIPES["official"]
    default = build_for(TrainConfig(resolution=32, hparams={"width": 8}), DS())
    assert default.recipe == RECIPES["official_joint"] and default.recipe.decoder == "joint"
    assert official.config["label_mean"] == list(OFFICIAL_LABEL_SCALING["pendulum"][0])
    assert official.config["label_std"] == list(OFFICIAL_LABEL_SCALING["pendulum"][1])
    learned = build_for(TrainConfig(resolution=32, recipe="official",
                                    hparams={"width": 8, "label_scaling": "learned"}), DS())
    assert learned.recipe.label_scaling == "learned"
    assert learned.config["label_mean"] == pytest.approx(DS.labels.mean(0).tolist(), rel=1e-5)
    elbo = build_for(TrainConfig(resolution=32, recipe="elbo", hparams={"width": 8}), DS())
    assert elbo.recipe.decoder == "joint" and elbo.mechanism.affine_bound == "tanh"
