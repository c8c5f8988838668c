"""Pictures of counterfactuals: intervention grids beside the simulator, examples of recorded
pairs, and interventional robustness (block movement) as heatmaps."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from icm_utils.data.images import float_images
from icm_utils.evaluation.controls import robustness_controls
from icm_utils.evaluation.counterfactual import (
    CounterfactualSet,
    allowed_movement,
    block_movement,
    model_counterfactuals,
    robustness_score,
)
from icm_utils.evaluation.probe import do_bounds

# the held-out unit the published intervention grids show and the explorer opens on (on
# Pendulum its light stands off the vertical, so its shadow has room to move both ways)
SHOWCASE_UNIT = 7


@torch.no_grad()
def intervention_grid(model, dataset, unit: int, n_values: int = 5, quantiles=(0.05, 0.95)):
    """For one held-out unit: rows = variables, columns = values spanning the training range.

    Returns (model_images (n, n_values, H, W, 3) float, true_images (same, uint8; None without a
    simulator), values (n, n_values)).
    """
    i = int(np.asarray(dataset.test_idx)[unit])
    lo, hi = do_bounds(dataset, *np.quantile(dataset.labels[dataset.train_idx], quantiles, axis=0))
    values = np.linspace(lo, hi, n_values).T                    # (n, n_values)
    x = float_images(dataset.images[i:i + 1])
    res = dataset.images.shape[1]
    model_rows, true_rows = [], []
    for j, name in enumerate(dataset.graph.names):
        m, t = [], []
        for v in values[j]:
            x_cf, _ = model.counterfactual(x, {name: float(v)}, units="label")
            m.append(x_cf[0].permute(1, 2, 0).numpy())
            if dataset.has_simulator:
                t.append(dataset.scm.counterfactual(dataset.exogenous[i:i + 1],
                                                    {name: float(v)}, resolution=res).images[0])
        model_rows.append(m)
        true_rows.append(t)
    return np.array(model_rows), np.array(true_rows) if dataset.has_simulator else None, values


def plot_intervention_grid(model_images, true_images, values, names, title="", units=None):
    """Model counterfactuals above the simulator's (where there is one), one block per
    intervened variable."""
    panels = {"model": model_images}
    if true_images is not None:
        panels["simulator"] = true_images
    return plot_intervention_grids(panels, values, names, title=title, units=units)


def plot_intervention_grids(panels: dict, values, names, title: str = "", units=None):
    """One block per intervened variable (its full name, the values and their unit in the
    block's title), one row per entry of ``panels`` ({row label: (n, m, H, W, 3) images, float
    in [0, 1] or uint8}), gaps between tiles and between blocks."""
    n, m = values.shape
    units = units or {}
    fig = plt.figure(figsize=(1.1 * m + 1.6, (1.1 * len(panels) + 0.45) * n + 0.4))
    blocks = fig.subfigures(n, 1, hspace=0.02)
    for j, sub in enumerate(np.atleast_1d(blocks)):
        unit = f" [{units[names[j]]}]" if names[j] in units else ""
        sub.suptitle(f"do({names[j]}){unit} = " + ", ".join(f"{v:.3g}" for v in values[j]),
                     fontsize=8, y=0.99)
        axes = sub.subplots(len(panels), m, squeeze=False, gridspec_kw={"wspace": 0.06,
                                                                        "hspace": 0.06})
        for r, (tag, ims) in enumerate(panels.items()):
            for c in range(m):
                ax = axes[r, c]
                img = ims[j, c]
                ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(tag, fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 + 0.15 / n)
    return fig


def plot_examples(model, cfset: CounterfactualSet, per_target: int = 2, title: str = ""):
    """For the first ``per_target`` units of each target: the factual image, the model's
    counterfactual and the true one (for data whose truth is recorded pairs, not a simulator)."""
    rows = []  # (target, factual, model, true, value)
    for t, (name, _) in enumerate(cfset.targets):
        units = cfset.unit_index(t)[:per_target]
        value = cfset.do_value(t)
        v = value[:per_target] if np.ndim(value) else value
        x_cf = model_counterfactuals(model, cfset.images[units], {name: v})[0]
        for r in range(len(units)):
            rows.append((name, cfset.images[units[r]], x_cf[r].permute(1, 2, 0).numpy(),
                         cfset.cf_images[t][r], float(v[r]) if np.ndim(v) else float(v)))
    fig, axes = plt.subplots(len(rows), 3, figsize=(5.2, 1.7 * len(rows)), squeeze=False)
    for r, (name, fact, mod, true, v) in enumerate(rows):
        for c, img in enumerate((fact, mod, true)):
            axes[r, c].imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(("factual", "model", "true")[c], fontsize=8)
        axes[r, 0].set_ylabel(f"do({name}\n= {v:.3g})", fontsize=7, rotation=0, ha="right",
                              va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def intervention_figure(model, dataset, cfset: CounterfactualSet, title: str = "", unit: int = 0):
    """The picture of a model's counterfactuals: an intervention grid beside the simulator where
    the dataset has one, examples of the set's recorded pairs where it has those, else the
    model's grid alone; ``title`` gets what the picture compares."""
    if dataset.has_simulator or not cfset.has_true_images:
        model_imgs, true_imgs, values = intervention_grid(model, dataset, unit=unit)
        what = ("model (upper) vs simulator (lower)" if true_imgs is not None
                else "the model's counterfactuals (no simulator: no true images)")
        return plot_intervention_grid(model_imgs, true_imgs, values, dataset.graph.names,
                                      title=f"{title}: {what}" if title else what,
                                      units=dataset.scm.units)
    return plot_examples(model, cfset, title=f"{title}: model vs recorded counterfactuals"
                         if title else "model vs recorded counterfactuals")


def plot_block_movement(movements: Mapping[str, np.ndarray], allowed: np.ndarray,
                        names: Sequence[str], note: str = "", per_row: int = 3):
    """Heatmaps of block movement M[i, j] (how far the block matched to factor i moves when the
    simulator intervenes on j, in units of its spread): the true graph's allowed pattern first,
    then one panel per model, at most ``per_row`` per row, one colour scale for all models."""
    panels = {"allowed by the true graph": allowed, **movements}
    rows = -(-len(panels) // per_row)
    cols = min(per_row, len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 0.8, 3.4 * rows), squeeze=False)
    vmax = max(float(np.max(m)) for m in movements.values()) if movements else 1.0
    short = [n.replace("_", "\n") for n in names]
    im = None
    for k, (ax, (title, m)) in enumerate(zip(axes.flat, panels.items())):
        is_allowed = m is allowed
        shown = ax.imshow(m, cmap="Greys" if is_allowed else "magma_r",
                          vmin=0, vmax=1 if is_allowed else vmax)
        im = im if is_allowed else shown
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:.0f}" if is_allowed else f"{v:.2f}", ha="center", va="center",
                    fontsize=8, color="white" if v > 0.6 * (1 if is_allowed else vmax) else "black")
        ax.set_xticks(range(len(names)), short, fontsize=7)
        # the factor names and the axis label once per row: they would run into the panel left
        ax.set_yticks(range(len(names)), short if k % cols == 0 else [], fontsize=7)
        ax.set_xlabel("intervened variable j", fontsize=8)
        if k % cols == 0:
            ax.set_ylabel("block matched to factor i", fontsize=8)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.7, label="movement (block spreads)")
    if note:
        fig.suptitle(note, fontsize=9)
    return fig


def movement_report(models: Mapping, cfset: CounterfactualSet, graph, names: Sequence[str],
                    seeds: Sequence[int]):
    """Interventional robustness of every model (``models``: {(name, seed): model}) beside the
    control codes', and the heatmaps of its block movement averaged over ``seeds``: (table,
    figure). Without the true counterfactual images there is nothing to encode: an empty table
    and a figure that says so."""
    cols = ["model", "seed", "robustness"]
    if not cfset.has_true_images:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "block movement encodes the true counterfactual images, which these "
                "data do not hold", ha="center", va="center", fontsize=9, wrap=True)
        return pd.DataFrame(columns=cols), fig
    allowed = allowed_movement(graph)
    movement, rows = {}, []
    for name in names:
        per_seed = [block_movement(models[(name, s)], cfset) for s in seeds]
        rows += [{"model": name, "seed": s, "robustness": robustness_score(mv, allowed)}
                 for s, mv in zip(seeds, per_seed)]
        movement[name] = np.mean(per_seed, axis=0)
    fig = plot_block_movement(movement, allowed, graph.names,
                              note="block movement, " + (f"seed {seeds[0]}" if len(seeds) == 1
                                                          else f"mean over seeds {list(seeds)}"))
    k = models[(names[0], seeds[0])].k
    table = pd.concat([pd.DataFrame(rows, columns=cols),
                       robustness_controls(cfset, graph, k)], ignore_index=True)
    return table, fig
