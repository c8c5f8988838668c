"""A vector-observation ICM model for identifiability checks on the synthetic SCM.

Same structure as the image ICM-VAE (models.ICMVAE), with MLPs instead of conv nets:
    eps = enc(x) (posterior mean used deterministically, variance fixed to 1, as the official code)
    z = CausalFlow(eps)                       (the package's mechanisms, reused)
    x ~ N(dec(z), diag(sigma^2))              (Gaussian likelihood, learned per-dim sigma)
    p(z|u) = CausalPrior(u)                   (the package's prior; absent for "noprior")
Loss: the image models' loss path (``loss.FlowLoss``: the same parts, "indep" logged with a
prior, weighed by ``recipes.objective`` under the same recipe), with a Gaussian instead of a
Bernoulli likelihood. Its config and training are ``training.synthetic``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from icm_utils.data.graph import CausalGraph
from icm_utils.model.loss import FlowLoss
from icm_utils.model.mechanisms import CausalFlow
from icm_utils.model.prior import CausalPrior
from icm_utils.model.prior import prior_graph as recipe_prior_graph
from icm_utils.model.recipes import Recipe, get_recipe

VARIANTS = ("icm", "noprior")
# sigma floor: the Gaussian NLL rewards sigma -> 0 without bound once x is fitted, which would
# drown the prior term (and the metrics' comparison) in an ever-growing reconstruction weight
MIN_SIGMA = 0.05


def mlp(d_in: int, d_out: int, hidden: int, layers: int = 2) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ELU()]
        d = hidden
    return nn.Sequential(*mods, nn.Linear(d, d_out))


class VectorICM(FlowLoss, nn.Module):
    """MLP encoder -> CausalFlow -> MLP decoder (Gaussian), optional CausalPrior on labels.
    Loss: ``FlowLoss`` (the image ICM-VAE's parts and objective) with ``gaussian_nll``; a recipe
    with an independence weight trains on "indep" as the image models do."""

    name = "vector_icm"

    def __init__(self, graph: CausalGraph, obs_dim: int, k: int = 1, hidden: int = 64,
                 flow_hidden: int = 32, kind: str = "affine", use_prior: bool = True,
                 label_mean=None, label_std=None, recipe: str | Recipe = "official_joint",
                 min_sigma: float = MIN_SIGMA, prior_graph: CausalGraph | None = None):
        super().__init__()
        self.graph, self.n, self.k, self.obs_dim = graph, graph.n, int(k), int(obs_dim)
        self.recipe = get_recipe(recipe)
        bound = self.recipe.flow_bound
        self.encoder = mlp(self.obs_dim, self.n * self.k, hidden)
        self.mechanism = CausalFlow(graph, self.k, kind=kind, hidden=flow_hidden,
                                    affine_bound=bound)
        # the prior conditions as the recipe says (prior_parents, prior_bound), as the image
        # models' does; prior_graph: its parent conditioning alone told another graph (an ablation)
        self.prior = CausalPrior(prior_graph or recipe_prior_graph(graph, self.recipe.prior_parents),
                                 self.k, label_mean, label_std, kind=kind, hidden=flow_hidden,
                                 affine_bound=self.recipe.prior_flow_bound) if use_prior else None
        self.decoder = mlp(self.n * self.k, self.obs_dim, hidden)
        self.log_sigma = nn.Parameter(torch.zeros(self.obs_dim))
        self.min_log_sigma = math.log(min_sigma)

    def abduct(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise ValueError(f"observations must be (B, {self.obs_dim}), got {tuple(x.shape)}")
        return self.encoder(x).reshape(x.shape[0], self.n, self.k)

    def encode(self, x: Tensor) -> Tensor:
        """Latent causal variables z (B, n, k)."""
        return self.mechanism(self.abduct(x))[0]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z.reshape(z.shape[0], -1))

    def counterfactual(self, x: Tensor, do: dict) -> tuple[Tensor, Tensor]:
        """Abduction (eps = enc(x)), action (z_i := the prior's latent for label value v, given
        the intervened parents), prediction (flow, decode); values in the latents' units."""
        if self.prior is None:
            raise ValueError("counterfactuals in label units need the label prior (variant 'icm')")
        eps = self.abduct(x)
        latent_do = {}
        for name, v in do.items():
            i = self.graph.index(name)
            latent_do[i] = lambda ctx, i=i, v=v: self.prior.label_to_latent(i, v, ctx)
        z_cf = self.mechanism(eps, do=latent_do)[0]
        return self.decode(z_cf), z_cf

    def gaussian_nll(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        """z -> per-sample NLL of x (B,) under N(dec(z), diag(sigma^2)), summed over dims, with
        sigma floored at min_sigma."""
        def nll(z: Tensor) -> Tensor:
            log_sigma = self.log_sigma.clamp(min=self.min_log_sigma)
            return (0.5 * ((x - self.decode(z)) * torch.exp(-log_sigma)).pow(2) + log_sigma
                    + 0.5 * math.log(2 * math.pi)).sum(1)
        return nll

    def loss_parts(self, x: Tensor, u: Tensor | None) -> dict[str, Tensor]:
        """Per-sample parts (B,) of ``FlowLoss.flow_parts`` with the Gaussian NLL."""
        return self.flow_parts(self.abduct(x), u, self.gaussian_nll(x))
