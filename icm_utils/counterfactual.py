"""Counterfactuals scored against the simulator's ground truth.

For held-out units (their exogenous values are known), each target variable and value:
the model's counterfactual (abduction -> action -> prediction) is compared with the
simulator's true counterfactual image and labels. A probe (a small CNN trained on real
images -> labels) reads factor values off the model's counterfactual images, so every model,
with or without labels, is scored on the same scale (``icm_utils.probe``; re-exported here).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .controls import (
    COUNTERFACTUAL_ROLES,
    DO_NOTHING,
    MIN_GAP,
    SIMULATOR,
    counterfactual_gaps,
    label,
    roles,
)
from .metrics import match_blocks
from .probe import Probe, do_bounds, fit_probe, interventional_images, train_probe  # noqa: F401
from .train import images_to_tensor


# ---------------------------------------------------------------- the evaluation set
@dataclass
class CounterfactualSet:
    """Factual units and, for each (variable, value), the simulator's true counterfactuals."""

    images: np.ndarray          # (U,H,W,3) factual images
    labels: np.ndarray          # (U,n) factual labels
    exogenous: np.ndarray       # (U,e)
    targets: list[tuple[str, float]]          # (variable, value) pairs
    cf_images: list[np.ndarray]               # per target: (U,H,W,3)
    cf_labels: list[np.ndarray]               # per target: (U,n)


def intervention_values(train_labels: np.ndarray, quantiles=(0.1, 0.5, 0.9)) -> np.ndarray:
    """(len(quantiles), n) values per variable, inside the range seen in training."""
    return np.quantile(train_labels, quantiles, axis=0)


def make_counterfactual_set(dataset, n_units: int = 100, quantiles=(0.1, 0.5, 0.9),
                            seed: int = 0) -> CounterfactualSet:
    """Draw held-out units from the dataset's test split and render their true counterfactuals."""
    if n_units <= 0:
        raise ValueError(f"n_units must be positive, got {n_units}")
    rng = np.random.default_rng(seed)
    test = np.asarray(dataset.test_idx)
    idx = np.sort(rng.choice(test, min(n_units, len(test)), replace=False))
    exo = dataset.exogenous[idx]
    vals = np.clip(intervention_values(dataset.labels[dataset.train_idx], quantiles),
                   *do_bounds(dataset, -np.inf, np.inf))
    targets, cf_i, cf_l = [], [], []
    for j, name in enumerate(dataset.graph.names):
        for v in vals[:, j]:
            s = dataset.scm.counterfactual(exo, {name: float(v)}, resolution=dataset.images.shape[1])
            targets.append((name, float(v)))
            cf_i.append(s.images)
            cf_l.append(s.labels)
    return CounterfactualSet(dataset.images[idx], dataset.labels[idx], exo, targets, cf_i, cf_l)


@torch.no_grad()
def model_counterfactuals(model, images: np.ndarray, do: dict, batch_size: int = 256):
    """Model counterfactual images (U,3,H,W float) and latents for uint8 factual images."""
    model.eval()
    xs, zs = [], []
    for i in range(0, len(images), batch_size):
        x = images_to_tensor(images[i:i + batch_size]).float().div_(255)
        x_cf, z_cf = model.counterfactual(x, do, units="label")
        xs.append(x_cf.cpu())
        zs.append(z_cf.cpu())
    return torch.cat(xs), torch.cat(zs)


def evaluate_counterfactuals(model, cfset: CounterfactualSet, probe: Probe, label_std: np.ndarray,
                             model_name: str = "", seed: int = 0, graph=None) -> pd.DataFrame:
    """Tidy rows: per target and per variable, the probe-read factor error on the model's
    counterfactual, in units of the label's std, with the variable's role (intervened,
    descendant, non-descendant) in ``graph`` (the true graph; default the model's, which differs
    only for a model told a wrong graph); plus the image error to the true counterfactual."""
    images = (model_counterfactuals(model, cfset.images, {name: value})[0]  # one at a time
              for name, value in cfset.targets)
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
        if isinstance(x_cf, np.ndarray):
            x_cf = images_to_tensor(x_cf).float() / 255
        true = images_to_tensor(true_img).float() / 255
        img_mse = float(((x_cf - true) ** 2).mean())
        read = probe.predict(x_cf)
        err = np.abs(read - true_lab) / label_std
        for i, var in enumerate(graph.names):
            rows.append({"model": model_name, "seed": seed, "target": name, "value": value,
                         "variable": var, "role": role[i], "factor_error": float(err[:, i].mean()),
                         "image_mse": img_mse})
    return pd.DataFrame(rows)


def probe_error(probe: Probe, images: np.ndarray, labels: np.ndarray, label_std,
                names=None) -> pd.Series:
    """The probe's own mean |error| / std per variable on real images (the noise floor)."""
    err = np.abs(probe.predict(images) - labels) / np.asarray(label_std)
    return pd.Series(err.mean(0), index=names, name="probe_error")


def role_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean factor error per model, seed and role; then mean/std over seeds."""
    per_seed = df.groupby(["model", "seed", "role"], as_index=False)["factor_error"].mean()
    img = df.groupby(["model", "seed"], as_index=False)["image_mse"].mean()
    out = per_seed.pivot_table(index=["model", "seed"], columns="role", values="factor_error")
    out = out.reset_index().merge(img, on=["model", "seed"])
    return out


# ---------------------------------------------------------------- interventional robustness
@torch.no_grad()
def block_movement(model, cfset: CounterfactualSet, batch_size: int = 256) -> np.ndarray:
    """M[i, j]: mean |change| of the learned block matched to factor i (in units of its spread)
    when the simulator intervenes on variable j, from encoding the factual and the TRUE
    counterfactual images. The true graph allows movement only where i is j or descends from j."""
    from .sweep import encode_images

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
    for (name, _), z1 in zip(cfset.targets, z1s, strict=True):
        j = graph.index(name)
        m[:, j] += np.linalg.norm(z1[:, perm] - z0, axis=-1).mean(0) / scale
        count[j] += 1
    return m / np.maximum(count, 1)


def allowed_movement(graph) -> np.ndarray:
    """A[i, j] = 1 where intervening on j may move factor i (i == j or i descends from j)."""
    return np.eye(graph.n) + graph.ancestor_matrix().T


def robustness_score(movement: np.ndarray, allowed: np.ndarray) -> float:
    """Share of all block movement that the true graph allows (1 = perfectly robust)."""
    total = movement.sum()
    return float((movement * allowed).sum() / total) if total > 0 else float("nan")


# ---------------------------------------------------------------- pictures
@torch.no_grad()
def intervention_grid(model, dataset, unit: int, n_values: int = 5, quantiles=(0.05, 0.95)):
    """For one held-out unit: rows = variables, columns = values spanning the training range.

    Returns (model_images (n, n_values, H, W, 3) float, true_images (same, uint8), values (n, n_values)).
    """
    i = int(np.asarray(dataset.test_idx)[unit])
    lo, hi = do_bounds(dataset, *np.quantile(dataset.labels[dataset.train_idx], quantiles, axis=0))
    values = np.linspace(lo, hi, n_values).T                    # (n, n_values)
    x = images_to_tensor(dataset.images[i:i + 1]).float() / 255
    res = dataset.images.shape[1]
    model_rows, true_rows = [], []
    for j, name in enumerate(dataset.graph.names):
        m, t = [], []
        for v in values[j]:
            x_cf, _ = model.counterfactual(x, {name: float(v)}, units="label")
            m.append(x_cf[0].permute(1, 2, 0).numpy())
            t.append(dataset.scm.counterfactual(dataset.exogenous[i:i + 1], {name: float(v)},
                                                resolution=res).images[0])
        model_rows.append(m)
        true_rows.append(t)
    return np.array(model_rows), np.array(true_rows), values


def plot_intervention_grid(model_images, true_images, values, names, title=""):
    """Model counterfactuals above the simulator's, one row pair per intervened variable."""
    import matplotlib.pyplot as plt

    n, m = values.shape
    fig, axes = plt.subplots(2 * n, m, figsize=(1.15 * m + 1.5, 2.3 * n))
    for j in range(n):
        for c in range(m):
            for r, (ims, tag) in enumerate(((model_images, "model"), (true_images, "true"))):
                ax = axes[2 * j + r, c]
                ax.imshow(ims[j, c])
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(f"{tag}\ndo({names[j][:12]})", fontsize=7)
                if r == 0:
                    ax.set_title(f"{values[j, c]:.1f}", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def check_target(summary: pd.DataFrame, probe_err: float, model: str = "icm_vae",
                 baseline: str = "beta_vae", min_gap: float = MIN_GAP) -> dict:
    """The workbook's counterfactual target, from the role summary (means over seeds), judged
    only on roles where the controls are apart (``controls.counterfactual_gaps``): a criterion
    on a role that doing nothing passes about as well as the simulator reads "not
    discriminative", and "no controls" when the summary lacks the control rows. For each
    discriminative role, ``<role>_error_removed`` places the model between doing nothing (0)
    and the simulator's true counterfactual (1)."""
    gaps = counterfactual_gaps(summary, min_gap).set_index("metric")["discriminative"]

    def unusable(role: str) -> str | None:
        if role not in gaps.index:
            return "no controls"
        return None if gaps[role] else "not discriminative"

    mean = summary.groupby("model")[list(COUNTERFACTUAL_ROLES)].mean()
    out = {}
    if model in mean.index and baseline in mean.index:
        out["descendant_ratio"] = float(mean.loc[model, "descendant"] / mean.loc[baseline, "descendant"])
        out["descendants_at_most_a_third"] = (unusable("descendant")
                                              or out["descendant_ratio"] <= 1 / 3)
    if model in mean.index:
        out["non_descendant_error"] = float(mean.loc[model, "non-descendant"])
        out["probe_error"] = float(probe_err)
        out["non_descendants_within_probe_error"] = (unusable("non-descendant")
                                                     or out["non_descendant_error"] <= probe_err)
        for role in COUNTERFACTUAL_ROLES:
            if unusable(role) is None:
                nothing = mean.loc[label(DO_NOTHING), role]
                sim = mean.loc[label(SIMULATOR), role]
                out[f"{role}_error_removed"] = float((nothing - mean.loc[model, role])
                                                     / (nothing - sim))
    return out
