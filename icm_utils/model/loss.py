"""The one loss path of every model: per-sample parts, weighed by ``recipes.objective``.

``RecipeLoss.loss_terms`` turns a model's ``loss_parts`` into the training loss under its recipe
and loss weights (image models through ``base.CausalModel``, the synthetic vector model
directly). ``FlowLoss.flow_parts`` computes the parts of the flow models, which differ only in
their encoder and likelihood: given the abducted noise eps (B, n, k) and the reconstruction NLL
of the observation decoded from z,
    z, logdet = mechanism(eps); rec = nll(z); kl_eps = 0.5 ||eps||^2; kl_prior = prior.kl(z, u)
(zeros without a prior), plus "indep", the noise's dependence on its parents (models with a
label prior; trained on only when ``recipe.independence`` > 0).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from icm_utils.data.graph import CausalGraph
from icm_utils.model.independence import noise_dependence
from icm_utils.model.recipes import DEFAULT_WEIGHTS, Recipe, objective, reconstruction_scale

# a batch dependence needs this many samples (independence.dependence); smaller batches skip it
MIN_DEPENDENCE_BATCH = 4


class RecipeLoss:
    """Mixin: ``loss_terms`` from the model's ``loss_parts``, recipe and ``loss_weights``."""

    recipe: Recipe
    loss_weights: Mapping[str, tuple[str, float]] = DEFAULT_WEIGHTS

    def loss_parts(self, x: Tensor, u: Tensor | None) -> dict[str, Tensor]:
        """Per-sample loss parts (B,) named as ``recipes.TERMS``."""
        raise NotImplementedError

    def loss_terms(self, x: Tensor, u: Tensor | None, alpha: float, beta: float) -> dict:
        """The training loss under this model's recipe: {"loss", and each term's batch mean}."""
        return objective(self.loss_parts(x, u), alpha, beta,
                         reconstruction_scale(x.shape, self.recipe), self.loss_weights)


class FlowLoss(RecipeLoss):
    """Mixin for models eps -> z = mechanism(eps) -> x with an optional label prior p(z|u)."""

    name: str
    graph: CausalGraph
    n: int
    mechanism: nn.Module
    prior: nn.Module | None

    def flow_parts(self, eps: Tensor, u: Tensor | None, nll: Callable[[Tensor], Tensor]
                   ) -> dict[str, Tensor]:
        """Per-sample parts (B,) from the abducted noise eps (B, n, k), labels u (checked by the
        model; required with a prior) and nll(z) (B,), the observation's NLL given latents z."""
        if self.prior is not None and u is None:
            raise ValueError(f"{self.name} is supervised: loss_terms needs labels u (B, {self.n})")
        z, logdet = self.mechanism(eps)
        rec = nll(z)
        kl_eps = 0.5 * eps.pow(2).sum((1, 2))
        kl_prior = self.prior.kl(z, u) if self.prior is not None else torch.zeros_like(rec)
        parts = {"rec": rec, "kl_eps": kl_eps, "logdet": logdet, "kl_prior": kl_prior}
        if self.prior is not None and eps.shape[0] >= MIN_DEPENDENCE_BATCH:
            parts["indep"] = self.noise_dependence(eps, z, u).expand_as(rec)
        return parts

    def noise_dependence(self, eps: Tensor, z: Tensor, u: Tensor) -> Tensor:
        """The recipe's dependence of each non-root noise block on its parents (a batch scalar;
        ``independence``). Logged for every labelled flow model; trained on (weighted by beta
        times ``recipe.independence``) only when that weight is positive."""
        r = self.recipe
        causes = self.prior.normalise(u) if r.independence_of == "labels" else z.detach()
        parents = [self.graph.parents(i) for i in range(self.n)]
        # no graph for the logged-only measure: it must not cost memory or touch the gradients
        with torch.set_grad_enabled(torch.is_grad_enabled() and r.independence > 0):
            return noise_dependence(eps, causes, parents, r.independence_measure)

    @property
    def loss_weights(self) -> Mapping[str, tuple[str, float]]:
        lam = self.recipe.independence
        return {**DEFAULT_WEIGHTS, "indep": ("beta", lam)} if lam > 0 else DEFAULT_WEIGHTS
