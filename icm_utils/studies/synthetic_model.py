"""A vector-observation ICM model for identifiability checks on the synthetic SCM.

Same structure as the image ICM-VAE (models.ICMVAE), with MLPs instead of conv nets:
    eps = enc(x) (posterior mean used deterministically, variance fixed to 1, as the official code)
    z = CausalFlow(eps)                       (the package's mechanisms, reused)
    x ~ N(dec(z), diag(sigma^2))              (Gaussian likelihood, learned per-dim sigma)
    p(z|u) = CausalPrior(u)                   (the package's prior; absent for "noprior")
Loss: the image models' loss path (model.loss.FlowLoss: the same parts, "indep" logged with a
prior, weighed by recipes.objective under the same recipe), with a Gaussian instead of a
Bernoulli likelihood; trained by the image models' epoch driver (training.loop.run_epoch). Labels u
are the true latents, optionally with Gaussian label noise, so the truth the metrics compare
against is exact.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from icm_utils.core.stats import MIN_SAMPLES
from icm_utils.core.utils import field_errors, seed_everything
from icm_utils.data.graph import GRAPH_KINDS, CausalGraph, misspecify
from icm_utils.data.synthetic import SyntheticSCM
from icm_utils.evaluation.analysis import TIDY_COLUMNS, RunCodes, control_codes, score_codes
from icm_utils.evaluation.counterfactual import roles
from icm_utils.model.loss import FlowLoss
from icm_utils.model.mechanisms import CausalFlow
from icm_utils.model.prior import CausalPrior, label_stats
from icm_utils.model.recipes import RECIPES, get_recipe, warmup
from icm_utils.training.loop import run_epoch

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
                 label_mean=None, label_std=None, recipe: str = "official_joint",
                 min_sigma: float = MIN_SIGMA, prior_graph: CausalGraph | None = None):
        super().__init__()
        self.graph, self.n, self.k, self.obs_dim = graph, graph.n, int(k), int(obs_dim)
        self.recipe = get_recipe(recipe)
        bound = self.recipe.flow_bound
        self.encoder = mlp(self.obs_dim, self.n * self.k, hidden)
        self.mechanism = CausalFlow(graph, self.k, kind=kind, hidden=flow_hidden,
                                    affine_bound=bound)
        # prior_graph: the prior's parent conditioning alone told another graph (an ablation)
        self.prior = CausalPrior(prior_graph or graph, self.k, label_mean, label_std, kind=kind,
                                 hidden=flow_hidden, affine_bound=bound) if use_prior else None
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


@dataclass
class SynthConfig:
    """Everything a synthetic run depends on. The data (data_seed) are shared by all seeds."""

    variant: str = "icm"
    recipe: str = "official_joint"  # recipes.RECIPES: flows and warm-up as the image models
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
                     recipe=cfg.recipe, min_sigma=cfg.min_sigma,
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


def synthetic_codes(scm: SyntheticSCM, variants: Sequence[str] = VARIANTS,
                    seeds: Sequence[int] = (0, 1), epochs: int = 30, **cfg_kwargs
                    ) -> tuple[list[RunCodes], list[tuple]]:
    """Train every (variant, seed) on the same data; return their test codes (model=variant)
    and a tidy row of "train_seconds" per run."""
    base = SynthConfig(epochs=epochs, **cfg_kwargs).validate()
    data = make_data(scm, base)
    codes, secs = [], []
    for v in variants:
        for s in seeds:
            cfg = dataclasses.replace(base, variant=v, seed=s).validate()
            t0 = time.perf_counter()
            model, _ = train_synthetic(scm, cfg, data)
            secs.append(("synthetic", v, str(s), "train_seconds", time.perf_counter() - t0))
            codes.append(RunCodes("synthetic", v, s, encode(model, data.x_test), data.z_test,
                                  scm.names, aligned=model.prior is not None))
    return codes, secs


def synthetic_identifiability(scm: SyntheticSCM, variants: Sequence[str] = VARIANTS,
                              seeds: Sequence[int] = (0, 1), epochs: int = 30,
                              metric_seed: int = 0,
                              control_kinds: Sequence[str] | None = None, **cfg_kwargs
                              ) -> tuple[pd.DataFrame, list[RunCodes]]:
    """Train every (variant, seed) on the same data and score the test codes against the exact
    latents. Returns a tidy DataFrame (dataset="synthetic", model=variant, seed, metric, value)
    and the models' codes. Metrics: analysis.score_codes at block level (k=1: a block is a dim,
    so MCC is dim-level MCC) with the between-seed scores per pair of seeds, plus
    "train_seconds" per run; and the same scores of the controls (analysis.control_codes on the
    same test units, model "control:<kind>", seeds 0 and 1): ``control_kinds`` None for every
    kind, () for none.
    """
    codes, secs = synthetic_codes(scm, variants, seeds, epochs, **cfg_kwargs)
    ctrl = control_codes(codes, **({} if control_kinds is None else {"kinds": control_kinds}))
    df = score_codes(codes + ctrl, level="block", seed=metric_seed, dim_metrics=())
    df = pd.concat([df, pd.DataFrame(secs, columns=TIDY_COLUMNS)], ignore_index=True)
    return df, codes


@torch.no_grad()
def counterfactual_errors(model: VectorICM, scm: SyntheticSCM, data: SynthData, name: str = "icm",
                          seed: int = 0, quantiles=(0.1, 0.5, 0.9)) -> pd.DataFrame:
    """Counterfactual factor errors on the test units, read EXACTLY: the model's counterfactual
    observation is mapped back to latents by the mixing's inverse, and compared with the SCM's
    counterfactual of the same units (their own noises: every non-root needs abduction).
    Tidy rows as counterfactual.score_counterfactual_images (roles in the TRUE graph), plus the
    controls "control:do_nothing" (the factual observation) and "control:simulator" (0 by
    construction, shown for the table's shape)."""
    g, std = scm.graph, data.z_train.std(0)
    values = np.quantile(data.z_train, quantiles, axis=0)
    x = torch.as_tensor(data.x_test, dtype=torch.float32)
    model.eval()
    rows = []
    for j, var in enumerate(g.names):
        role = roles(g, j)
        for v in values[:, j]:
            true = scm.counterfactual(data.eps_test, {var: float(v)}).latents
            x_cf = model.counterfactual(x, {var: float(v)})[0].double().numpy()
            for who, obs in ((name, x_cf), ("control:do_nothing", data.x_test),
                             ("control:simulator", scm.mixing(true))):
                err = np.abs(scm.mixing.inverse(obs) - true) / std
                rows += [{"model": who, "seed": seed, "target": var, "value": float(v),
                          "variable": w, "factor_error": float(err[:, i].mean()),
                          "role": role[i]}
                         for i, w in enumerate(g.names)]
    return pd.DataFrame(rows)
