"""Training recipes and the one objective every model trains on.

A recipe fixes what the official code fixes beyond the architecture: how the reconstruction
term is reduced, the output range of the flows' scale and shift nets, the decoder's
composition, the alpha/beta warm-up and how labels are scaled for the prior
(docs/official_code.md lists each item with the official code's behaviour).

- ``official``: every item as the official code computes it (tests/model/test_recipes.py pins the
  loss to the official formulas term by term).
- ``official_joint``: the official recipe with one joint decoder in place of the averaged
  per-variable decoders: the default, because the ablation (results/ablation/, README) measured
  lower counterfactual errors on the intervened variable and its descendants with it.
- ``elbo``: the textbook per-image ELBO (pixel sum), soft-bounded flows, one joint decoder, the
  workbook's earlier defaults; kept as an ablation.

Models return their loss parts per sample (``CausalModel.loss_parts``); ``objective`` alone
weighs and combines them, for image and vector models alike.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

from icm_utils.model.independence import MEASURES as INDEPENDENCE_MEASURES
from icm_utils.model.independence import TARGETS as INDEPENDENCE_TARGETS
from icm_utils.model.mechanisms import AFFINE_BOUNDS as FLOW_BOUNDS
from icm_utils.model.nets import DECODER_KINDS as DECODERS

RECONSTRUCTIONS = ("width", "sum")
WARMUPS = ("official", "linear", "none")
LABEL_SCALINGS = ("official", "learned")
PRIOR_PARENTS = ("graph", "none")

# The official code's fixed label scaling u_hat = (u - a) / b, converted to this workbook's label
# units. Pendulum: the official a, b act on the peers' file-name integers: angle index i (theta =
# 0.9 i degrees; a, b = 0, 44), light index j (0.9 j degrees; 100, 40), shadow length and position
# in scene units (6.5, 3.5), (10, 5). Water flow: file names hold r = 30 * ball radius (20, 15),
# hole = 3 * hole height (10.5, 4.5), int(water height) (2, 2) and int(10 * flow) (59.5, 26.5);
# the column order is assumed to follow the graph's variable order, as the prior's scale array.
OFFICIAL_LABEL_SCALING: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "pendulum": ((0.0, 90.0, 6.5, 10.0), (39.6, 36.0, 3.5, 5.0)),
    "flow": ((20 / 30, 10.5 / 3, 2.0, 5.95), (15 / 30, 4.5 / 3, 2.0, 2.65)),
    # CausalCircuit: a = 0, b = 1 for every variable (experiments/train_circuit.py): the stored
    # latents in [0, 1] enter the prior as they are
    "circuit": ((0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0)),
}


@dataclass(frozen=True)
class Recipe:
    """What a training run fixes besides the networks; recorded in every model's config."""

    name: str
    reconstruction: str  # "width": BCE summed over the width, mean over C and H; "sum": pixel sum
    flow_bound: str  # "sigmoid": s, t in (0, 1) (slopes in (1, e)); "scale": s in (0, 1), t free;
    # "tanh": s = 3 tanh(s/3), t free
    decoder: str  # "mean": one decoder per block, logits averaged; "joint": one decoder; "sum";
    # "compose": one decoder per block painting a layer, layers composed by softmax masks
    warmup: str  # "official": alpha, beta = final * (e-1)/(R-1); "linear": final * e/(R-1);
    # "none": the final weights from the first epoch (an ablation: eps is never unregularised)
    label_scaling: str  # "official": fixed constants per dataset; "learned": training mean/std
    alpha_max: float = 0.1  # final weights of the warm-up (official 0.1 and 1.2); a run's
    beta_max: float = 1.2  # TrainConfig.alpha_max/beta_max override them
    # Beyond the paper (docs/counterfactuals.md); the defaults keep the official behaviour.
    prior_bound: str = "same"  # the prior flow's bound: "same" as flow_bound, or one of FLOW_BOUNDS
    prior_parents: str = "graph"  # "graph": m_i depends on z_pa(i) (official); "none": on u_i alone
    independence: float = 0.0  # weight of the noise-independence penalty, on top of beta
    independence_of: str = "labels"  # eps_k made independent of its parents' "labels" or "latents"
    independence_measure: str = "cka_floor"  # independence.MEASURES

    def __post_init__(self):
        for w in ("alpha_max", "beta_max", "independence"):
            v = getattr(self, w)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:
                raise ValueError(f"recipe {w} must be a finite number >= 0, got {v!r}")
        for field, allowed in (("reconstruction", RECONSTRUCTIONS), ("flow_bound", FLOW_BOUNDS),
                               ("decoder", DECODERS), ("warmup", WARMUPS),
                               ("label_scaling", LABEL_SCALINGS),
                               ("prior_bound", ("same",) + FLOW_BOUNDS),
                               ("prior_parents", PRIOR_PARENTS),
                               ("independence_of", INDEPENDENCE_TARGETS),
                               ("independence_measure", INDEPENDENCE_MEASURES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"recipe {field} must be one of {allowed}, "
                                 f"got {getattr(self, field)!r}")

    @property
    def prior_flow_bound(self) -> str:
        return self.flow_bound if self.prior_bound == "same" else self.prior_bound

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RECIPES: dict[str, Recipe] = {
    "official": Recipe("official", "width", "sigmoid", "mean", "official", "official"),
    "official_joint": Recipe("official_joint", "width", "sigmoid", "joint", "official", "official"),
    "elbo": Recipe("elbo", "sum", "tanh", "joint", "linear", "learned"),
    # beyond the paper (docs/counterfactuals.md): official_joint whose flows may shift a block
    # freely (s in (0, 1), t unbounded), whose prior ties each block to its own label only, and
    # whose abducted noise is made independent of its parents' labels
    "independent_noise": Recipe("independent_noise", "width", "scale", "joint", "official",
                                "official", prior_parents="none", independence=1.0),
}
DEFAULT_RECIPE = "official_joint"
# the recipe the workbook recommends for ICM-VAE (beyond the paper: docs/counterfactuals.md); the
# main job, the shipped checkpoints and the studies of counterfactuals train with it
RECOMMENDED_RECIPE = "independent_noise"
# recipe fields a run may override one by one (ablations), e.g. hparams={"decoder": "joint"};
# the weights are overridden by TrainConfig.alpha_max / beta_max instead
RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe)
                      if f.name not in ("name", "alpha_max", "beta_max"))


def recipe_for(choice: str | Mapping[str, str], model: str) -> str:
    """A notebook's RECIPE for one model: one recipe name for every model, or {model: name}
    (a model it does not name trains on DEFAULT_RECIPE)."""
    return choice.get(model, DEFAULT_RECIPE) if isinstance(choice, Mapping) else choice


def get_recipe(recipe: str | Recipe | Mapping = DEFAULT_RECIPE, **overrides) -> Recipe:
    """A Recipe from its name (RECIPES), a Recipe, or its dict; ``overrides`` replace fields."""
    if isinstance(recipe, Recipe):
        base = recipe
    elif isinstance(recipe, Mapping):
        base = Recipe(**recipe)
    elif recipe in RECIPES:
        base = RECIPES[recipe]
    else:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    unknown = set(overrides) - set(RECIPE_FIELDS)
    if unknown:
        raise ValueError(f"unknown recipe fields {sorted(unknown)}; known: {RECIPE_FIELDS}")
    changed = {k: v for k, v in overrides.items() if getattr(base, k) != v}
    if not changed:
        return base
    tag = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return dataclasses.replace(base, name=f"{base.name}[{tag}]", **changed)


def official_scaling(recipe: Recipe, dataset: str) -> tuple[list[float], list[float]] | None:
    """(a, b) of u_hat = (u - a) / b when the recipe asks for the official constants and the
    dataset has them; None means: use the training labels' mean and std (learned)."""
    if recipe.label_scaling == "official" and dataset in OFFICIAL_LABEL_SCALING:
        a, b = OFFICIAL_LABEL_SCALING[dataset]
        return list(a), list(b)
    return None


def warmup(epoch: float, total_epochs: int, alpha_max: float = 0.1, beta_max: float = 1.2,
           ramp_fraction: float = 94 / 101, kind: str = "official") -> tuple[float, float]:
    """(alpha, beta) for a 0-based ``epoch``, rising linearly to their maxima over
    R = round(ramp_fraction * total_epochs) epochs.

    "official": the official loop sets the weights after each epoch e to final * e / (R - 1), so
    epoch e trains with final * (e - 1) / (R - 1): zero for epochs 0 and 1, the maxima from epoch
    R on (with 101 epochs, R = 94). "linear": final * e / (R - 1), one epoch earlier. "none":
    the maxima from epoch 0 (no warm-up; ``ramp_fraction`` is ignored).
    """
    if total_epochs <= 0 or not 0 < ramp_fraction <= 1:
        raise ValueError(f"need total_epochs > 0 and 0 < ramp_fraction <= 1, got "
                         f"{total_epochs}, {ramp_fraction}")
    if kind not in WARMUPS:
        raise ValueError(f"warm-up kind must be one of {WARMUPS}, got {kind!r}")
    if kind == "none":
        return alpha_max, beta_max
    span = max(1, round(ramp_fraction * total_epochs) - 1)
    step = epoch - 1 if kind == "official" else epoch
    f = min(1.0, max(0.0, step / span))
    return alpha_max * f, beta_max * f


def reconstruction_scale(x_shape, recipe: Recipe) -> float:
    """Factor on the per-sample NLL summed over all elements of one observation.

    "width" is the official reduction, BCE summed over the last axis (the image width) and
    averaged over every other one: per sample the element sum / (C * H) for (B, C, H, W) images,
    and the plain sum for (B, D) vectors (no axis to average over).
    """
    if recipe.reconstruction == "sum":
        return 1.0
    return 1.0 / math.prod(int(s) for s in x_shape[1:-1])


# (weight name, factor) of each loss part; a model may declare its own (beta_vae weighs its
# posterior KL by beta; a recipe with an independence penalty adds ("beta", independence) for
# "indep"). Parts not listed are reported but not trained on.
DEFAULT_WEIGHTS: dict[str, tuple[str, float]] = {
    "kl_eps": ("alpha", 1.0), "logdet": ("alpha", -1.0), "kl_prior": ("beta", 1.0)}
TERMS = ("rec", "kl_eps", "logdet", "kl_prior", "indep")


def objective(parts: Mapping[str, Tensor], alpha: float, beta: float, rec_scale: float = 1.0,
              weights: Mapping[str, tuple[str, float]] = DEFAULT_WEIGHTS) -> dict[str, Tensor]:
    """Batch loss from per-sample parts (B,): rec * rec_scale + weighted KL/logdet parts.

    Returns {"loss": mean over the batch, and each term's batch mean (rec already scaled)}.
    """
    w = {"alpha": float(alpha), "beta": float(beta)}
    rec = parts["rec"] * rec_scale
    loss = rec
    for term, (name, sign) in weights.items():
        loss = loss + sign * w[name] * parts[term]
    out = {"loss": loss.mean(), "rec": rec.mean()}
    out.update({t: parts[t].mean() for t in TERMS if t != "rec" and t in parts})
    return out
