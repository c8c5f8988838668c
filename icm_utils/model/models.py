"""ICM-VAE and its baselines behind one interface (`CausalModel`), built by name.

Each model returns its loss parts per sample (``loss_parts``): the Bernoulli NLL summed over
pixels, KL(q(eps|x) || N(0, I)), log|det dz/deps| and sum_i KL(N(z_i, I) || N(m_i, I)). The
model's recipe (``recipes``) turns them into the loss with the one function ``recipes.objective``:
    rec * scale + alpha * [kl_eps - logdet] + beta * kl_prior,
where the official recipe's scale is 1 / (C * H) (docs/official_code.md). As in the official
code the encoder's posterior variance is fixed to 1 and its mean is used deterministically, so
KL(q(eps|x) || N(0, I)) = 0.5 ||mu||^2 (up to a constant). beta_vae alone learns a variance and
samples (reparameterisation) in training mode; icm_vae and icm_vae_spline do so too with
``posterior_noise=sigma > 0`` (q = N(mu, sigma^2 I), the KL changes only by a constant).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from icm_utils.data.graph import CausalGraph
from icm_utils.model.base import CausalModel
from icm_utils.model.loss import FlowLoss
from icm_utils.model.mechanisms import CausalFlow, LinearSCM
from icm_utils.model.nets import ConvEncoder, OfficialMLPEncoder, bernoulli_nll
from icm_utils.model.prior import CausalPrior, LabelMeanPrior, prior_graph
from icm_utils.model.recipes import (
    DEFAULT_RECIPE,
    RECIPE_FIELDS,
    Recipe,
    get_recipe,
)

HPARAM_DEFAULTS = {"width": 32, "hidden": 32, "bins": 8, "bound": 4.0,
                   "arch": "conv", "posterior_noise": 0.0, "decoder_width": None,
                   "objects": None, "object_regions": True}
# "objects": the variables that draw each object of the scene, for decoder="objects"; the
# training layer fills it in from the dataset's renderer (data.scm.ImageSCM.objects), and with
# "object_regions" (the default) confines each slot to where its object appears in training
# arch="official": the official code's MLP encoder and per-variable MLP decoders (nets.Official*)
# in place of the conv nets, for measuring the official architecture on the same footing.
ARCHS = ("conv", "official")


@dataclass(frozen=True)
class ModelSpec:
    """One row of the model table: what a model is built from and which hparams it reads."""

    mechanism: str | None  # "affine" or "spline" causal flow, "linear" SCM, None (no mechanism)
    prior: str | None  # "flow": ICM-VAE's causal prior; "label_mean": CausalVAE's; None: no labels
    hparams: tuple[str, ...]

    @property
    def uses_labels(self) -> bool:
        return self.prior is not None


# The one list of models: adding a model is adding a row (and, for a new family, a class).
DECODER_HPARAMS = ("width", "decoder_width", "objects", "object_regions")  # every image model's
MODEL_SPECS: dict[str, ModelSpec] = {
    "icm_vae": ModelSpec("affine", "flow", (*DECODER_HPARAMS, "hidden", "arch", "posterior_noise")),
    "icm_vae_spline": ModelSpec("spline", "flow", (*DECODER_HPARAMS, "hidden", "bins", "bound",
                                                   "posterior_noise")),
    "icm_vae_noprior": ModelSpec("affine", None, (*DECODER_HPARAMS, "hidden")),
    "beta_vae": ModelSpec(None, None, DECODER_HPARAMS),
    "causal_vae": ModelSpec("linear", "label_mean", DECODER_HPARAMS),
}
MODEL_NAMES = tuple(MODEL_SPECS)


class ICMVAE(FlowLoss, CausalModel):
    """Encoder -> eps; mechanism eps -> z (causal flow or linear SCM); decoder z -> x; prior p(z|u).

    Covers icm_vae (affine flow), icm_vae_spline, icm_vae_noprior (prior=None: no beta term,
    labels unused) and causal_vae (linear SCM + label-mean prior). Loss parts: ``loss.FlowLoss``
    (shared with the synthetic vector model) with the Bernoulli NLL of the image.
    """

    def __init__(self, name, graph, resolution, k, label_mean, label_std, hparams, recipe,
                 mechanism: nn.Module, prior: nn.Module | None):
        super().__init__(name, graph, resolution, k, label_mean, label_std, hparams, recipe)
        if self.arch == "official":
            self.encoder = OfficialMLPEncoder(self.resolution, 3, self.n * self.k, mean_only=True)
        else:
            self.encoder = ConvEncoder(self.resolution, self.n * self.k, hparams["width"])
        self.mechanism, self.prior = mechanism, prior
        self.uses_labels = prior is not None

    def abduct(self, x: Tensor) -> Tensor:
        x = self.check_images(x)
        return self.encoder(x).reshape(x.shape[0], self.n, self.k)

    def encode(self, x: Tensor) -> Tensor:
        return self.mechanism(self.abduct(x))[0]

    def loss_parts(self, x: Tensor, u: Tensor | None) -> dict[str, Tensor]:
        eps = self.abduct(x)
        self._data_init(x)
        if u is not None:
            u = self.check_labels(u, x.shape[0])
        sigma = float(self.hparams.get("posterior_noise", 0.0))
        if sigma > 0 and self.training:
            # Sample q(eps|x) = N(mu, sigma^2 I) as the ELBO asks, where the official code uses
            # the mean: without noise a block can carry other factors at tiny amplitude, almost
            # free under the unit-variance prior KL, and the decoder amplifies them back.
            eps = eps + sigma * torch.randn_like(eps)
        return self.flow_parts(eps, u, lambda z: bernoulli_nll(self.decoder(z), x))

    def counterfactual(self, x: Tensor, do: Mapping, units: str = "label") -> tuple[Tensor, Tensor]:
        """Abduction (eps from x), action (do on the mechanism), prediction (flow, decode)."""
        eps = self.abduct(x)
        z = self.mechanism(eps)[0]
        z_cf = self.mechanism(eps, do=self._latent_do(do, units, z))[0]
        return self.decode(z_cf), z_cf


class BetaVAE(CausalModel):
    """Plain beta-VAE: no labels, no graph; learned posterior variance; latent n*k dims.

    kl_eps holds KL(q(z|x) || N(0, I)) and is weighted by beta (alpha is unused).
    """

    uses_labels = False
    uses_graph = False
    loss_weights = {"kl_eps": ("beta", 1.0)}

    def __init__(self, name, graph, resolution, k, label_mean, label_std, hparams, recipe):
        super().__init__(name, graph, resolution, k, label_mean, label_std, hparams, recipe)
        self.encoder = ConvEncoder(self.resolution, 2 * self.n * self.k, hparams["width"])
        self.prior = None

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.check_images(x)
        mu, logvar = self.encoder(x).reshape(x.shape[0], 2, self.n, self.k).unbind(1)
        return mu, logvar.clamp(-10, 10)  # clamp: exp(logvar) must stay finite early on

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]

    abduct = encode

    def loss_parts(self, x: Tensor, u: Tensor | None) -> dict[str, Tensor]:
        mu, logvar = self.posterior(x)
        self._data_init(x)
        if u is not None:
            self.check_labels(u, x.shape[0])
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        rec = bernoulli_nll(self.decoder(z), x)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum((1, 2))
        zero = torch.zeros_like(rec)
        return {"rec": rec, "kl_eps": kl, "logdet": zero, "kl_prior": zero}

    def counterfactual(self, x: Tensor, do: Mapping, units: str = "label") -> tuple[Tensor, Tensor]:
        """Set the matched block only: a beta-VAE has no mechanism to propagate through."""
        z = self.encode(x)
        blocks = list(z.unbind(1))
        for j, v in self._latent_do(do, units, z).items():
            v = torch.as_tensor(v, dtype=z.dtype, device=z.device)
            b = z.shape[0]
            blocks[j] = v.expand(b, self.k) if v.ndim < 2 else v.reshape(b, self.k)
        z_cf = torch.stack(blocks, 1)
        return self.decode(z_cf), z_cf


def hparam_errors(hparams: Mapping) -> list[str]:
    """Problems with hparam names and values (checked by TrainConfig.validate before any run)."""
    unknown = set(hparams) - set(HPARAM_DEFAULTS) - set(RECIPE_FIELDS)
    if unknown:
        return [f"unknown hparams {sorted(unknown)}; known: {sorted(HPARAM_DEFAULTS)} and the "
                f"recipe fields {list(RECIPE_FIELDS)}"]
    errors = []
    try:
        get_recipe(DEFAULT_RECIPE, **{f: hparams[f] for f in RECIPE_FIELDS if f in hparams})
    except ValueError as e:
        errors.append(str(e))
    if hparams.get("arch", "conv") not in ARCHS:
        errors.append(f"arch must be one of {ARCHS}, got {hparams['arch']!r}")
    objects = hparams.get("objects")
    if objects is not None and (not isinstance(objects, (list, tuple)) or not objects or any(
            not isinstance(o, (list, tuple)) or not o or not all(isinstance(v, str) for v in o)
            for o in objects)):
        errors.append(f"objects must be a non-empty list of non-empty lists of variable names, "
                      f"got {objects!r}")
    noise = hparams.get("posterior_noise", 0.0)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
        errors.append(f"posterior_noise must be a finite number >= 0, got {noise!r}")
    return errors


def build_model(name: str, graph: CausalGraph, resolution: int, k: int = 4, label_mean=None,
                label_std=None, recipe: str | Recipe | Mapping = DEFAULT_RECIPE,
                **hparams) -> CausalModel:
    """Build a model by name (MODEL_NAMES) under a recipe (recipes.RECIPES; hparams named as a
    recipe field override it, e.g. decoder="joint"). Pass label_mean/label_std (the label
    scaling: prior.label_stats of the training labels, or the recipe's official constants) to
    label-supervised models; they default to 0/1 (no normalisation)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    if not isinstance(graph, CausalGraph):
        raise ValueError(f"graph must be a CausalGraph, got {type(graph).__name__}")
    errors = hparam_errors(hparams)
    if errors:
        raise ValueError("; ".join(errors))
    recipe = get_recipe(recipe, **{f: hparams.pop(f) for f in RECIPE_FIELDS if f in hparams})
    spec = MODEL_SPECS[name]
    unused = set(hparams) - set(spec.hparams)
    if unused:
        warnings.warn(f"{name} ignores hparams {sorted(unused)}", stacklevel=2)
    if label_mean is None and spec.uses_labels:
        warnings.warn(f"{name}: no label_mean/label_std given, labels enter the prior "
                      f"unnormalised; pass prior.label_stats(train_labels)", stacklevel=2)
    hp = {key: hparams.get(key, HPARAM_DEFAULTS[key]) for key in spec.hparams}
    args = (name, graph, resolution, k, label_mean, label_std, hp, recipe)
    if spec.mechanism is None:
        return BetaVAE(*args)
    flow_kw: dict = {}
    if spec.mechanism != "linear":
        flow_kw = {"hidden": hp["hidden"], "affine_bound": recipe.flow_bound}
        if spec.mechanism == "spline":
            flow_kw.update(bins=hp["bins"], bound=hp["bound"])
    # the prior is built (and seeded-initialised) before the mechanism: the order every trained
    # run and pretrained checkpoint was made with, so a seed gives the same starting weights
    if spec.prior == "label_mean":
        prior = LabelMeanPrior(graph, k, label_mean, label_std)
    elif spec.prior == "flow":
        prior = CausalPrior(prior_graph(graph, recipe.prior_parents), k, label_mean, label_std,
                            kind=spec.mechanism,
                            **{**flow_kw, "affine_bound": recipe.prior_flow_bound})
    else:
        prior = None
    if spec.mechanism == "linear":
        mechanism = LinearSCM(graph, k)
    else:
        mechanism = CausalFlow(graph, k, kind=spec.mechanism, **flow_kw)
    return ICMVAE(*args, mechanism=mechanism, prior=prior)


def model_from_config(config: dict) -> CausalModel:
    """Rebuild an (untrained) model from `model.config`; then load_state_dict."""
    missing = {"name", "graph", "resolution", "k"} - set(config)
    if missing:
        raise ValueError(f"model config lacks {sorted(missing)}")
    hparams = dict(config.get("hparams", {}))
    recipe = config.get("recipe")
    if recipe is None:  # checkpoints from before recipes: the "elbo" recipe with their decoder
        recipe = get_recipe("elbo", decoder=hparams.pop("decoder", "joint")).to_dict()
    return build_model(config["name"], CausalGraph.from_dict(config["graph"]), config["resolution"],
                       config["k"], config.get("label_mean"), config.get("label_std"),
                       recipe=recipe, **hparams)
