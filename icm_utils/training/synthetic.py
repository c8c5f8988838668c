"""Training the synthetic SCM's vector model (``model.vector.VectorICM``): its config, data
and loop. The loop is the image runs' epoch driver (``loop.run_epoch``) and the warm-up their
``recipes.warmup``; the synthetic runs keep their own config because their data, likelihood and
sizes differ (vectors, a Gaussian likelihood, labels = the true latents)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from icm_utils.core.stats import MIN_SAMPLES
from icm_utils.core.utils import field_errors, seed_everything
from icm_utils.data.graph import GRAPH_KINDS, misspecify
from icm_utils.data.synthetic import SyntheticSCM
from icm_utils.model.prior import label_stats
from icm_utils.model.recipes import RECIPES, Recipe, get_recipe, warmup
from icm_utils.model.vector import MIN_SIGMA, VARIANTS, VectorICM
from icm_utils.training.loop import run_epoch


@dataclass
class SynthConfig:
    """Everything a synthetic run depends on. The data (data_seed) are shared by all seeds."""

    variant: str = "icm"
    recipe: str = "official_joint"  # recipes.RECIPES: flows and warm-up as the image models
    # recipe fields overridden one by one (recipes.RECIPE_FIELDS): an ablation of one ingredient,
    # {"independence": 0.0} is the recipe without its penalty
    recipe_overrides: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    epochs: int = 30
    n_train: int = 2000
    n_test: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    k: int = 1
    hidden: int = 64
    flow_hidden: int = 32
    # floor of the likelihood's std: 1/sigma^2 weighs reconstruction against the prior
    min_sigma: float = MIN_SIGMA
    kind: str = "affine"
    alpha_max: float = 0.1
    beta_max: float = 1.2
    # a short warm-up (not the official 94/101, which exists to let image decoders settle):
    # the label prior is what should identify the blocks, so it acts from early on
    ramp_fraction: float = 0.1
    label_noise: float = 0.0  # std of Gaussian noise on the labels (latents have unit std)
    data_seed: int = 0
    graph: str = "true"  # the graph the model is told (misspec.GRAPH_KINDS); metrics use the truth
    prior_graph: str = "same"  # the prior's graph: "same" as ``graph``, or a GRAPH_KINDS entry

    def validate(self) -> SynthConfig:
        errs = []
        if self.variant not in VARIANTS:
            errs.append(f"variant={self.variant!r} is not one of {VARIANTS}")
        if self.graph not in GRAPH_KINDS:
            errs.append(f"graph={self.graph!r} is not one of {GRAPH_KINDS}")
        if self.prior_graph != "same" and self.prior_graph not in GRAPH_KINDS:
            errs.append(f"prior_graph={self.prior_graph!r} is not 'same' or one of {GRAPH_KINDS}")
        if self.recipe not in RECIPES:
            errs.append(f"recipe={self.recipe!r} is not one of {sorted(RECIPES)}")
        elif not isinstance(self.recipe_overrides, dict):
            errs.append(f"recipe_overrides must be a dict, got {self.recipe_overrides!r}")
        else:
            try:
                self.resolved_recipe()
            except (TypeError, ValueError) as e:
                errs.append(f"recipe_overrides: {e}")
        errs += field_errors(self, positive_ints=("epochs", "n_train", "n_test", "batch_size", "k",
                                                  "hidden", "flow_hidden"),
                             nonneg_ints=("seed", "data_seed"),
                             positive=("lr", "ramp_fraction", "min_sigma"),
                             nonneg_finite=("alpha_max", "beta_max", "label_noise"))
        if isinstance(self.n_test, int) and self.n_test < MIN_SAMPLES:
            errs.append(f"n_test must be >= {MIN_SAMPLES} for the metrics")
        if errs:
            raise ValueError("invalid synthetic config:\n  - " + "\n  - ".join(errs))
        return self

    def resolved_recipe(self) -> Recipe:
        """The recipe with ``recipe_overrides`` applied."""
        return get_recipe(self.recipe, **self.recipe_overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class SynthData:
    x_train: np.ndarray  # (N, obs_dim) float64
    z_train: np.ndarray  # (N, n) true latents
    u_train: np.ndarray  # (N, n) labels (latents + label noise)
    x_test: np.ndarray
    z_test: np.ndarray
    eps_test: np.ndarray | None = None  # the test units' exogenous noises (counterfactuals)


def make_data(scm: SyntheticSCM, cfg: SynthConfig) -> SynthData:
    """Train/test samples of the SCM from data_seed (independent of the training seed)."""
    rng = np.random.default_rng(cfg.data_seed)
    tr, te = scm.sample(cfg.n_train, seed=rng), scm.sample(cfg.n_test, seed=rng)
    u = tr.latents + cfg.label_noise * rng.standard_normal(tr.latents.shape)
    return SynthData(tr.observations, tr.latents, u, te.observations, te.latents, te.exogenous)


def build_vector_model(scm: SyntheticSCM, cfg: SynthConfig, data: SynthData) -> VectorICM:
    mean, std = label_stats(data.u_train)
    return VectorICM(misspecify(scm.graph, cfg.graph), scm.obs_dim, cfg.k, cfg.hidden,
                     cfg.flow_hidden, cfg.kind,
                     use_prior=cfg.variant == "icm", label_mean=mean, label_std=std,
                     recipe=cfg.resolved_recipe(), min_sigma=cfg.min_sigma,
                     prior_graph=None if cfg.prior_graph == "same"
                     else misspecify(scm.graph, cfg.prior_graph))


def synth_warmup(epoch: int, cfg: SynthConfig, model: VectorICM) -> tuple[float, float]:
    """alpha, beta for a 0-based epoch: the config's weights and ramp, the recipe's warm-up kind."""
    return warmup(epoch, cfg.epochs, cfg.alpha_max, cfg.beta_max, cfg.ramp_fraction,
                  kind=model.recipe.warmup)


def train_synthetic(scm: SyntheticSCM, cfg: SynthConfig, data: SynthData | None = None
                    ) -> tuple[VectorICM, pd.DataFrame]:
    """Train one variant with Adam and the alpha/beta warm-up; return (model, per-epoch history).

    Deterministic for a given (cfg, thread count): everything is seeded from cfg.seed.
    """
    cfg.validate()
    data = make_data(scm, cfg) if data is None else data
    threads = torch.get_num_threads()
    # tiny MLPs: thread synchronisation costs more than it saves (25x slower on a busy 2-core
    # machine), and a fixed thread count keeps results bit-reproducible across machines
    torch.set_num_threads(1)
    try:
        return _train(scm, cfg, data)
    finally:
        torch.set_num_threads(threads)


def _train(scm: SyntheticSCM, cfg: SynthConfig, data: SynthData) -> tuple[VectorICM, pd.DataFrame]:
    seed_everything(cfg.seed)
    model = build_vector_model(scm, cfg, data)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    u = torch.as_tensor(data.u_train, dtype=torch.float32)
    gen = torch.Generator().manual_seed(cfg.seed)
    rows = []
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=gen)
        batches = ((x[idx], u[idx]) for idx in perm.split(cfg.batch_size))
        rows.append(run_epoch(model, opt, batches, epoch, lambda e: synth_warmup(e, cfg, model),
                              detail=f"synthetic {cfg.variant}, seed {cfg.seed}"))
    model.eval()
    return model, pd.DataFrame(rows)


@torch.no_grad()
def encode(model: VectorICM, x: np.ndarray) -> np.ndarray:
    """Codes z (N, n, k) as float64 numpy, in eval mode."""
    model.eval()
    return model.encode(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
