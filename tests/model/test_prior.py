"""Causal disentanglement prior: closed-form KL, label normalisation, parent-only dependence."""
import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian
from torch.distributions import Normal, kl_divergence

from icm_utils.data.graph import FLOW_GRAPH, PENDULUM_GRAPH
from icm_utils.model.prior import CausalPrior, LabelMeanPrior, label_stats

MEAN, STD = [1.0, -2.0, 10.0, 0.5], [2.0, 0.5, 4.0, 1.0]


def randomised(prior, std=0.3):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in prior.parameters():
            p.add_(std * torch.randn_like(p))
    return prior


def test_label_stats_match_numpy_and_guard_constant_columns():
    rng = np.random.default_rng(0)
    u = rng.normal([1, 2, 3], [1, 2, 3], size=(500, 3))
    u[:, 2] = 7.0
    mean, std = label_stats(torch.as_tensor(u))
    np.testing.assert_allclose(mean, u.mean(0))
    np.testing.assert_allclose(std[:2], u.std(0)[:2])
    assert std[2] == 1.0
    with pytest.raises(ValueError, match="NaN"):
        label_stats(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="shape"):
        label_stats(np.zeros(5))


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_identity_prior_mean_is_normalised_label_and_kl_is_closed_form(kind):
    # identity flow at init (the tanh bound; the sigmoid bound starts at slope e^0.5, shift 0.5)
    prior = CausalPrior(PENDULUM_GRAPH, 3, MEAN, STD, kind=kind, affine_bound="tanh")
    u = torch.randn(7, 4) * 3
    z = torch.randn(7, 4, 3)
    u_hat = (u - torch.tensor(MEAN)) / torch.tensor(STD)
    target = u_hat[..., None].expand(7, 4, 3)
    torch.testing.assert_close(prior.mean(u, z), target, atol=1e-5, rtol=0)
    ref = kl_divergence(Normal(z, 1.0), Normal(target, 1.0)).sum((1, 2))
    torch.testing.assert_close(prior.kl(z, u), ref, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_kl_matches_torch_distributions_for_a_trained_looking_prior(kind):
    prior = randomised(CausalPrior(FLOW_GRAPH, 2, MEAN, STD, kind=kind))
    u, z = torch.randn(5, 4), torch.randn(5, 4, 2)
    ref = kl_divergence(Normal(z, 1.0), Normal(prior.mean(u, z), 1.0)).sum((1, 2))
    torch.testing.assert_close(prior.kl(z, u), ref, atol=1e-4, rtol=1e-5)
    assert prior.kl(z, u).shape == (5,)


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_mean_i_depends_only_on_own_label_and_parent_blocks(kind):
    g = FLOW_GRAPH
    prior = randomised(CausalPrior(g, 2, MEAN, STD, kind=kind)).double()
    u, z = torch.randn(1, 4, dtype=torch.float64), torch.randn(1, 4, 2, dtype=torch.float64)
    du = jacobian(lambda v: prior.mean(v.reshape(1, 4), z).reshape(4, 2), u.reshape(-1))
    np.testing.assert_array_equal(du.abs().sum(1).numpy() > 0, np.eye(4) > 0)
    dz = jacobian(lambda v: prior.mean(u, v.reshape(1, 4, 2)).reshape(4, 2), z.reshape(-1))
    dz = dz.reshape(4, 2, 4, 2).abs().sum((1, 3)).numpy()
    np.testing.assert_array_equal(dz > 0, g.adjacency.T > 0)


def test_label_to_latent_is_the_prior_mean_of_that_variable():
    prior = randomised(CausalPrior(PENDULUM_GRAPH, 4, MEAN, STD))
    u, z = torch.randn(6, 4), torch.randn(6, 4, 4)
    m = prior.mean(u, z)
    for i in range(4):
        torch.testing.assert_close(prior.label_to_latent(i, u[:, i], z), m[:, i])
    torch.testing.assert_close(prior.label_to_latent("pendulum_angle", 1.0, z)[0],
                               prior.label_to_latent(0, torch.full((6,), 1.0), z)[0])


def test_normalisation_lives_in_buffers_and_is_validated():
    prior = CausalPrior(PENDULUM_GRAPH, 4, MEAN, STD)
    sd = prior.state_dict()
    assert torch.equal(sd["label_mean"], torch.tensor(MEAN))
    assert torch.equal(sd["label_std"], torch.tensor(STD))
    with pytest.raises(ValueError, match="4 entries"):
        CausalPrior(PENDULUM_GRAPH, 4, [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        CausalPrior(PENDULUM_GRAPH, 4, MEAN, [1.0, 0.0, 1.0, 1.0])


def test_label_mean_prior():
    prior = LabelMeanPrior(PENDULUM_GRAPH, 2, MEAN, STD)
    u, z = torch.randn(3, 4), torch.randn(3, 4, 2)
    u_hat = (u - torch.tensor(MEAN)) / torch.tensor(STD)
    torch.testing.assert_close(prior.kl(z, u), 0.5 * (z - u_hat[..., None]).pow(2).sum((1, 2)))
    torch.testing.assert_close(prior.label_to_latent(2, u[:, 2], z), u_hat[:, 2:3].expand(3, 2))
