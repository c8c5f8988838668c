"""Counterfactuals scored against the simulator's ground truth.

For held-out units (their exogenous values are known), each target variable and value:
the model's counterfactual (abduction -> action -> prediction) is compared with the
simulator's true counterfactual image and labels. A probe (a small CNN trained on real
images -> labels) reads factor values off the model's counterfactual images, so every model,
with or without labels, is scored on the same scale (``icm_utils.evaluation.probe``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from icm_utils.core.stats import match_blocks
from icm_utils.data.circuit_data import CircuitPairs, load_pairs
from icm_utils.data.images import float_images
from icm_utils.evaluation.probe import Probe, do_bounds
from icm_utils.training.runs import encode_images


# ---------------------------------------------------------------- the evaluation set
@dataclass
class CounterfactualSet:
    """Factual units and, per intervention (a target: variable and value), the true
    counterfactuals of the units it applies to: rendered by a simulator for every unit at one
    value (``make_counterfactual_set``), or recorded pairs whose units and values differ per
    target (``pairs_set``: CausalCircuit's pre- and post-intervention images)."""

    images: np.ndarray          # (U,H,W,3) factual images
    labels: np.ndarray          # (U,n) factual labels
    exogenous: np.ndarray       # (U,e); (U,0) for data without a simulator
    targets: list[tuple[str, float]]          # (variable, value; for pairs the mean value)
    cf_images: list[np.ndarray | None]        # per target: (U_t,H,W,3); None: not known
    cf_labels: list[np.ndarray]               # per target: (U_t,n); NaN where not known
    units: list[np.ndarray] | None = None     # per target: its factual units (None: all U)
    values: list[np.ndarray] | None = None    # per target: the value set on each (None: one)

    @property
    def has_true_images(self) -> bool:
        """Whether the true counterfactual images are known (a simulator or recorded pairs)."""
        return all(i is not None for i in self.cf_images)

    def unit_index(self, t: int) -> np.ndarray:
        """The factual units of target ``t`` (indices into ``images``)."""
        return np.arange(len(self.images)) if self.units is None else self.units[t]

    def do_value(self, t: int) -> float | np.ndarray:
        """The value target ``t`` sets: one float, or one per unit (``unit_index(t)``)."""
        return self.targets[t][1] if self.values is None else self.values[t]

    def factual_images(self, t: int) -> np.ndarray:
        return self.images if self.units is None else self.images[self.units[t]]

    def head(self, n: int) -> CounterfactualSet:
        """The first ``n`` units of every target (a cheaper set for slower scores)."""
        if self.units is None:
            return CounterfactualSet(self.images[:n], self.labels[:n], self.exogenous[:n],
                                     self.targets,
                                     [None if i is None else i[:n] for i in self.cf_images],
                                     [lab[:n] for lab in self.cf_labels])
        keep = [u[:n] for u in self.units]
        used = np.unique(np.concatenate(keep))
        return CounterfactualSet(self.images[used], self.labels[used], self.exogenous[used],
                                 self.targets, [i[:n] for i in self.cf_images],
                                 [lab[:n] for lab in self.cf_labels],
                                 [np.searchsorted(used, u) for u in keep],
                                 [v[:n] for v in self.values])


def intervention_values(train_labels: np.ndarray, quantiles=(0.1, 0.5, 0.9)) -> np.ndarray:
    """(len(quantiles), n) values per variable, inside the range seen in training."""
    return np.quantile(train_labels, quantiles, axis=0)


# the values each variable is set to: these quantiles of its training labels
QUANTILES = (0.1, 0.5, 0.9)


def make_counterfactual_set(dataset, n_units: int = 100, quantiles=QUANTILES,
                            seed: int = 0) -> CounterfactualSet:
    """Draw held-out units from the dataset's test split and render their true counterfactuals."""
    idx = _held_out(dataset, n_units, seed)
    exo = dataset.exogenous[idx]
    vals = _values(dataset, quantiles)
    targets, cf_i, cf_l = [], [], []
    for j, name in enumerate(dataset.graph.names):
        for v in vals[:, j]:
            s = dataset.scm.counterfactual(exo, {name: float(v)}, resolution=dataset.images.shape[1])
            targets.append((name, float(v)))
            cf_i.append(s.images)
            cf_l.append(s.labels)
    return CounterfactualSet(dataset.images[idx], dataset.labels[idx], exo, targets, cf_i, cf_l)


def pairs_set(pairs: CircuitPairs) -> CounterfactualSet:
    """Recorded (pre, post)-intervention pairs as a CounterfactualSet: the pre-intervention
    images are the factual units; each intervened variable is a target whose units are its
    pairs, each set to its own post-intervention value, with the post images as the truth."""
    targets, units, values, cf_i, cf_l = [], [], [], [], []
    for j, name in enumerate(pairs.graph.names):
        u = np.flatnonzero(pairs.targets == j)
        if len(u):
            v = pairs.post_labels[u, j]
            targets.append((name, float(v.mean())))
            units.append(u)
            values.append(v)
            cf_i.append(pairs.post_images[u])
            cf_l.append(pairs.post_labels[u])
    return CounterfactualSet(pairs.pre_images, pairs.pre_labels, np.zeros((len(pairs), 0)),
                             targets, cf_i, cf_l, units, values)


def known_counterfactual_labels(graph, labels: np.ndarray, j: int, value) -> np.ndarray:
    """What the graph alone tells of the counterfactual labels (U, n) after do(j = value): the
    intervened variable takes the value, every non-descendant keeps its factual value, the
    descendants are not known (NaN)."""
    out = np.array(labels, dtype=np.float64, ndmin=2)
    out[:, j] = value
    out[:, sorted(graph.descendants(j))] = np.nan
    return out


def _held_out(dataset, n_units: int, seed: int) -> np.ndarray:
    """``n_units`` test units drawn from ``seed`` (sorted): every set's factual units."""
    if n_units <= 0:
        raise ValueError(f"n_units must be positive, got {n_units}")
    test = np.asarray(dataset.test_idx)
    return np.sort(np.random.default_rng(seed).choice(test, min(n_units, len(test)),
                                                      replace=False))


def _values(dataset, quantiles) -> np.ndarray:
    """The interventions' values: quantiles of the training labels, inside do()'s range."""
    return np.clip(intervention_values(dataset.labels[dataset.train_idx], quantiles),
                   *do_bounds(dataset, -np.inf, np.inf))


def known_truth_set(dataset, n_units: int = 100, quantiles=(0.1, 0.5, 0.9), seed: int = 0
                    ) -> CounterfactualSet:
    """For data without a simulator or recorded interventions (a user's folder): held-out units
    and the interventions of ``make_counterfactual_set``, with only what the graph tells of the
    truth: the intervened variable takes the value set, every non-descendant keeps its factual
    value; the descendants' values (NaN) and the true images (None) are not known."""
    idx = _held_out(dataset, n_units, seed)
    vals = _values(dataset, quantiles)
    targets, cf_l = [], []
    for j, name in enumerate(dataset.graph.names):
        for v in vals[:, j]:
            targets.append((name, float(v)))
            cf_l.append(known_counterfactual_labels(dataset.graph, dataset.labels[idx], j, v))
    return CounterfactualSet(dataset.images[idx], dataset.labels[idx], dataset.exogenous[idx],
                             targets, [None] * len(targets), cf_l)


def counterfactual_set(dataset, n_units: int = 100, seed: int = 0) -> CounterfactualSet:
    """The held-out counterfactuals every model is scored on: rendered by the dataset's
    simulator (``make_counterfactual_set``: ``n_units`` test units x 12 interventions); for
    downloaded data with recorded interventions (CausalCircuit), its test pairs, at most
    ``n_units`` per intervened variable; for other data (a user's folder), what the graph tells
    without a simulator (``known_truth_set``)."""
    if dataset.has_simulator:
        return make_counterfactual_set(dataset, n_units=n_units, seed=seed)
    if dataset.has_pairs:
        return pairs_set(load_pairs(dataset, "test", n_per_variable=n_units, seed=seed))
    return known_truth_set(dataset, n_units=n_units, seed=seed)


@torch.no_grad()
def model_counterfactuals(model, images: np.ndarray, do: dict, batch_size: int = 256):
    """Model counterfactual images (U,3,H,W float) and latents for uint8 factual images; a
    ``do`` value is a float or one value per image."""
    model.eval()
    xs, zs = [], []
    for i in range(0, len(images), batch_size):
        x = float_images(images[i:i + batch_size])
        d = {k: torch.as_tensor(v[i:i + batch_size], dtype=torch.float32) if np.ndim(v) else v
             for k, v in do.items()}
        x_cf, z_cf = model.counterfactual(x, d, units="label")
        xs.append(x_cf.cpu())
        zs.append(z_cf.cpu())
    return torch.cat(xs), torch.cat(zs)


def evaluate_counterfactuals(model, cfset: CounterfactualSet, probe: Probe, label_std: np.ndarray,
                             model_name: str = "", seed: int = 0, graph=None) -> pd.DataFrame:
    """Tidy rows: per target and per variable, the probe-read factor error on the model's
    counterfactual, in units of the label's std, with the variable's role (intervened,
    descendant, non-descendant) in ``graph`` (the true graph; default the model's, which differs
    only for a model told a wrong graph); plus the image error to the true counterfactual."""
    images = (model_counterfactuals(model, cfset.factual_images(t), {name: cfset.do_value(t)})[0]
              for t, (name, _) in enumerate(cfset.targets))  # one target at a time
    return score_counterfactual_images(images, cfset, probe, label_std, graph or model.graph,
                                       model_name, seed)


def score_counterfactual_images(images, cfset: CounterfactualSet, probe: Probe,
                                label_std: np.ndarray, graph, model_name: str = "",
                                seed: int = 0) -> pd.DataFrame:
    """``evaluate_counterfactuals``' rows for given counterfactual images, one (U,3,H,W) float
    tensor or (U,H,W,3) uint8 array per target (any iterable): the one scoring path of models
    and controls."""
    rows = []
    for (name, value), x_cf, true_img, true_lab in zip(cfset.targets, images, cfset.cf_images,
                                                       cfset.cf_labels, strict=True):
        role = roles(graph, graph.index(name))
        on = intervened_on(graph, name)
        if isinstance(x_cf, np.ndarray):
            x_cf = float_images(x_cf)
        img_mse = (float("nan") if true_img is None  # no true image: not scored
                   else float(((x_cf - float_images(true_img)) ** 2).mean()))
        read = probe.predict(x_cf)
        err = np.abs(read - true_lab) / label_std  # NaN where the true value is not known
        for i, var in enumerate(graph.names):
            rows.append({"model": model_name, "seed": seed, "target": name, "value": value,
                         "intervened_on": on, "variable": var, "role": role[i],
                         "factor_error": float(err[:, i].mean()), "image_mse": img_mse})
    return pd.DataFrame(rows)


@torch.no_grad()
def probe_shift(model, cfset: CounterfactualSet, probe: Probe, label_std, graph,
                model_name: str = "", seed: int = 0) -> pd.DataFrame:
    """How far each variable, read by the probe, moves from the factual image to the model's
    counterfactual (mean |change| / std), per target and role: what a model does to the
    descendants where their true values are not known (shown, not scored)."""
    rows = []
    for t, (name, value) in enumerate(cfset.targets):
        x0 = cfset.factual_images(t)
        x_cf = model_counterfactuals(model, x0, {name: cfset.do_value(t)})[0]
        shift = np.abs(probe.predict(x_cf) - probe.predict(x0)) / np.asarray(label_std)
        role = roles(graph, graph.index(name))
        rows += [{"model": model_name, "seed": seed, "target": name, "value": value,
                  "variable": var, "role": role[i], "probe_shift": float(shift[:, i].mean())}
                 for i, var in enumerate(graph.names)]
    return pd.DataFrame(rows)


def probe_error(probe: Probe, images: np.ndarray, labels: np.ndarray, label_std,
                names=None) -> pd.Series:
    """The probe's own mean |error| / std per variable on real images (the noise floor)."""
    err = np.abs(probe.predict(images) - labels) / np.asarray(label_std)
    return pd.Series(err.mean(0), index=names, name="probe_error")


def role_summary(df: pd.DataFrame, by_target: bool = False) -> pd.DataFrame:
    """Mean factor error per model, seed and role (one column per role) and the image error.
    ``by_target``: one row per kind of intervened variable too (column ``intervened_on``: "root"
    or "non-root"), since interventions on roots and on caused variables answer different
    questions (a caused variable's intervention leaves the data's support)."""
    keys = ["model", "seed"] + (["intervened_on"] if by_target else [])
    if by_target and "intervened_on" not in df.columns:
        raise ValueError("these scores have no 'intervened_on' column; re-score them")
    per_seed = df.groupby([*keys, "role"], as_index=False)["factor_error"].mean()
    img = df.groupby(keys, as_index=False)["image_mse"].mean()
    # dropna=False: a role whose errors are all unknown (NaN) keeps its column
    out = per_seed.pivot_table(index=keys, columns="role", values="factor_error", dropna=False)
    out = out.reset_index().merge(img, on=keys)
    out.columns.name = None
    return out


def intervened_on(graph, name: str) -> str:
    """ "root" if variable ``name`` has no parents in ``graph``, else "non-root"."""
    return "non-root" if graph.parents(graph.index(name)) else "root"


# ---------------------------------------------------------------- soundness
SOUNDNESS_REPEATS = 5  # null interventions in a row of ``composition_x<repeats>``
SOUNDNESS_COLUMNS = ("composition", f"composition_x{SOUNDNESS_REPEATS}", "reversibility",
                     "reconstruction_mse")


@torch.no_grad()
def soundness(model, cfset: CounterfactualSet, model_name: str = "", seed: int = 0, graph=None,
              repeats: int = SOUNDNESS_REPEATS, batch_size: int = 256) -> pd.DataFrame:
    """Axiomatic soundness of the model's counterfactuals (Monteiro et al., ICLR 2023), as image
    MSE to the model's own reconstruction, per target (variable, value):

    - composition: a null intervention, do(v = its own abducted value) in latent units, returns
      the reconstruction; ``composition_x5``: the same null intervention applied ``repeats``
      times, each to the previous output (drift of abduction -> prediction);
    - reversibility: intervene (v := value), then intervene back to the unit's factual label on
      the counterfactual image: the result should be the first reconstruction.
    ``reconstruction_mse`` (to the factual image) is the scale these are read against; for the
    do-nothing and simulator controls all three are 0 by construction."""
    graph = graph or model.graph
    model.eval()
    n = len(cfset.images)
    batches = [(b, float_images(cfset.images[b:b + batch_size])) for b in range(0, n, batch_size)]
    recs = [model.reconstruct(x) for _, x in batches]  # every score is read against these
    rec_all = torch.cat(recs)

    def mse_sum(a: Tensor, c: Tensor) -> float:  # summed over units, so batches add up
        return float(((a - c) ** 2).mean()) * len(a)

    recon = sum(mse_sum(r, x) for (_, x), r in zip(batches, recs)) / n
    null: dict[str, tuple[float, float]] = {}  # per variable: the value plays no part
    for name in dict.fromkeys(t for t, _ in cfset.targets):
        block = model.latent_index(graph.index(name))
        first = repeated = 0.0
        for (_, x), rec in zip(batches, recs):
            y = x
            for r in range(repeats):
                y = model.counterfactual(y, {name: model.encode(y)[:, block]}, units="latent")[0]
                if r == 0:
                    first += mse_sum(y, rec)
            repeated += mse_sum(y, rec)
        null[name] = (first / n, repeated / n)
    rows = []
    for t, (name, value) in enumerate(cfset.targets):
        i = graph.index(name)
        units, do = cfset.unit_index(t), cfset.do_value(t)
        rev = 0.0
        for b in range(0, len(units), batch_size):
            u = units[b:b + batch_size]
            x = float_images(cfset.images[u])
            v = torch.as_tensor(do[b:b + batch_size], dtype=x.dtype) if np.ndim(do) else do
            x_cf = model.counterfactual(x, {name: v}, units="label")[0]
            back = torch.as_tensor(cfset.labels[u, i], dtype=x.dtype)
            rev += mse_sum(model.counterfactual(x_cf, {name: back}, units="label")[0],
                           rec_all[u])
        rows.append({"model": model_name, "seed": seed, "target": name, "value": value,
                     "intervened_on": intervened_on(graph, name), "composition": null[name][0],
                     f"composition_x{repeats}": null[name][1],
                     "reversibility": rev / len(units), "reconstruction_mse": recon})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- interventional robustness
@torch.no_grad()
def block_movement(model, cfset: CounterfactualSet, batch_size: int = 256) -> np.ndarray:
    """M[i, j]: mean |change| of the learned block matched to factor i (in units of its spread)
    when the simulator intervenes on variable j, from encoding the factual and the TRUE
    counterfactual images. The true graph allows movement only where i is j or descends from j."""
    if not cfset.has_true_images:
        raise ValueError("block movement encodes the true counterfactual images, which these "
                         "data do not hold (no simulator, no recorded interventions)")
    z0 = encode_images(model, cfset.images, batch_size)            # (U,n,k)
    z1s = [encode_images(model, img, batch_size) for img in cfset.cf_images]
    return movement_from_codes(z0, z1s, cfset, model.graph)


def movement_from_codes(z0: np.ndarray, z1s: list[np.ndarray], cfset: CounterfactualSet,
                        graph) -> np.ndarray:
    """``block_movement`` from codes of the factual units (U,n,k) and of each target's true
    counterfactuals: the one path of models' encodings and of control codes."""
    # Matched for every model, supervised or not, so all are judged on the same footing; on the
    # factual and counterfactual units together, which vary every factor (and are U*(T+1) > U).
    perm = match_blocks(np.concatenate([z0, *z1s]), np.concatenate([cfset.labels, *cfset.cf_labels]))[0]
    z0 = z0[:, perm]
    scale = z0.reshape(len(z0), graph.n, -1).std(0).mean(-1) + 1e-8     # (n,)
    m = np.zeros((graph.n, graph.n))
    count = np.zeros(graph.n)
    for t, ((name, _), z1) in enumerate(zip(cfset.targets, z1s, strict=True)):
        j = graph.index(name)
        m[:, j] += np.linalg.norm(z1[:, perm] - z0[cfset.unit_index(t)], axis=-1).mean(0) / scale
        count[j] += 1
    return m / np.maximum(count, 1)


def allowed_movement(graph) -> np.ndarray:
    """A[i, j] = 1 where intervening on j may move factor i (i == j or i descends from j)."""
    return np.eye(graph.n) + graph.ancestor_matrix().T


def robustness_score(movement: np.ndarray, allowed: np.ndarray) -> float:
    """Share of all block movement that the true graph allows (1 = perfectly robust)."""
    total = movement.sum()
    return float((movement * allowed).sum() / total) if total > 0 else float("nan")


# ---------------------------------------------------------------- counterfactual controls
COUNTERFACTUAL_ROLES = ("intervened", "descendant", "non-descendant")


def roles(graph, j: int) -> list[str]:
    """The role of every variable under an intervention on variable j: "intervened",
    "descendant" (in the given graph) or "non-descendant" (COUNTERFACTUAL_ROLES)."""
    desc = graph.descendants(j)
    return ["intervened" if i == j else "descendant" if i in desc else "non-descendant"
            for i in range(graph.n)]
