"""Figures of the identifiability analysis: DCI importance heatmaps, factor-vs-block scatter
plots and metric bars (control rows included when the table has them)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from icm_utils.core.stats import block_corr
from icm_utils.evaluation import metrics
from icm_utils.evaluation.analysis import CLAIM_METRICS
from icm_utils.evaluation.codes import RunCodes, blocks_of, first_seed, pick


def importance_matrix(rc: RunCodes, level: str = "block", seed: int = 0) -> pd.DataFrame:
    """DCI importance (latents x factors) of one run, labelled for a heatmap."""
    r = metrics.dci(rc.codes, rc.factors, level=level, seed=seed).importance
    prefix = "block" if level == "block" else "dim"
    return pd.DataFrame(r, index=[f"{prefix} {j}" for j in range(r.shape[0])],
                        columns=rc.names)


def plot_importance(run_codes: Sequence[RunCodes], level: str = "block", seed: int = 0,
                    ncols: int = 4):
    """One seaborn heatmap of DCI importances per (dataset, model), lowest seed; returns fig."""
    runs = first_seed(run_codes)
    if not runs:
        raise ValueError("no runs to plot")
    ncols = min(ncols, len(runs))
    nrows = -(-len(runs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False)
    for ax, rc in zip(axes.flat, runs, strict=False):
        mat = importance_matrix(rc, level, seed)
        sns.heatmap(mat, ax=ax, vmin=0, vmax=1, cmap="viridis", annot=mat.shape[0] <= 8,
                    fmt=".2f", cbar=False, annot_kws={"fontsize": 7})
        ax.set_title(f"{rc.dataset} · {rc.model} · seed {rc.seed}", fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.tick_params(axis="y", labelsize=7, labelrotation=0)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    fig.suptitle("DCI importance: which latent predicts which factor (columns sum to 1)")
    fig.tight_layout()
    return fig


def block_projection(block: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Best linear projection of a block (N, k) onto a factor (N,): least-squares fit with
    intercept, in the factor's units. Its Pearson corr with the factor is their multiple corr."""
    block = np.asarray(block, float).reshape(len(block), -1)
    design = np.c_[block, np.ones(len(block))]
    coef, *_ = np.linalg.lstsq(design, np.asarray(factor, float), rcond=None)
    return design @ coef


def plot_block_scatter(run_codes: Sequence[RunCodes], max_points: int = 400,
                       method: str = "spearman"):
    """Rows: (dataset, model) at its lowest seed; columns: factors. Each panel plots the true
    factor against the best linear projection of its block (block i for aligned runs, else the
    matched one); returns fig."""
    runs = first_seed(run_codes)
    if not runs:
        raise ValueError("no runs to plot")
    nf = max(rc.factors.shape[1] for rc in runs)
    fig, axes = plt.subplots(len(runs), nf, figsize=(2.3 * nf, 2.2 * len(runs)), squeeze=False)
    for row, rc in zip(axes, runs, strict=True):
        block = blocks_of(rc)
        corr = block_corr(rc.codes, rc.factors, method=method)[np.arange(len(block)), block]
        pts = pick(np.arange(len(rc.factors)), max_points)
        for i, ax in enumerate(row):
            if i >= rc.factors.shape[1]:
                ax.axis("off")
                continue
            f = rc.factors[:, i]
            proj = block_projection(rc.codes[:, block[i]], f)
            ax.scatter(f[pts], proj[pts], s=4, alpha=0.5)
            lo, hi = f.min(), f.max()
            ax.plot([lo, hi], [lo, hi], "k:", lw=1)
            ax.set_title(f"{rc.names[i]} ← block {block[i]}\n|{method[0]}| = {corr[i]:.2f}",
                         fontsize=8)
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_ylabel(f"{rc.model}\n(seed {rc.seed})", fontsize=8)
    fig.supxlabel("true factor")
    fig.supylabel("linear projection of the factor's block", x=-0.01)
    fig.tight_layout()
    return fig


def plot_metric_bars(df: pd.DataFrame, metric_names: Sequence[str] = CLAIM_METRICS):
    """Mean ± std over seeds per model, one panel per metric (seaborn); returns fig."""
    sub = df[df["metric"].isin(metric_names)]
    names = [m for m in metric_names if m in set(sub["metric"])]
    if not names:
        raise ValueError(f"none of {list(metric_names)} in the table")
    # at most 3 panels a row: one strip of 8 panels was a 2455 x 343 picture with colliding ticks
    ncol = min(3, len(names))
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.4 * nrow), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, m in zip(axes.flat, names):
        sns.barplot(data=sub[sub["metric"] == m], x="model", y="value", hue="dataset",
                    errorbar="sd", ax=ax)
        ax.set_title(m, fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("")
        # anchored at the tick's end so long names (control:null_nonlinear) never collide
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor", fontsize=7)
        ax.set_ylabel("score (mean ± sd over seeds)", fontsize=8)
        if ax.get_legend() and (ax is not axes.flat[ncol - 1] or sub["dataset"].nunique() == 1):
            ax.get_legend().remove()
    if axes.flat[ncol - 1].get_legend():
        sns.move_legend(axes.flat[ncol - 1], "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig
