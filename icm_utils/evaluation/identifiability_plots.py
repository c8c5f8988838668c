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
from icm_utils.evaluation.analysis import AGREEMENT, BETWEEN, CLAIM_METRICS
from icm_utils.evaluation.codes import RunCodes, blocks_of, first_seed, pick


def importance_matrix(rc: RunCodes, level: str = "block", seed: int = 0) -> pd.DataFrame:
    """DCI importance (latents x factors) of one run, labelled for a heatmap."""
    r = metrics.dci(rc.codes, rc.factors, level=level, seed=seed).importance
    prefix = "block" if level == "block" else "dim"
    return pd.DataFrame(r, index=[f"{prefix} {j}" for j in range(r.shape[0])],
                        columns=rc.names)


def _importance_title(level: str) -> str:
    """What the importance heatmaps show, as their figure's title."""
    unit = "latent block" if level == "block" else "latent dim"
    return (f"DCI importance of each {unit} (rows) for predicting each factor (columns):\n"
            "gradient-boosted-tree importances, each column normalised to sum to 1")


def _importance_panel(ax, rc: RunCodes, level: str, seed: int) -> None:
    """One run's importance heatmap; an all-zero matrix (no tree split on the code, e.g. a
    collapsed constant code) is left blank and titled "no factor predicted"."""
    mat = importance_matrix(rc, level, seed)
    empty = not mat.to_numpy().any()
    sns.heatmap(mat, ax=ax, vmin=0, vmax=1, cmap="viridis", fmt=".2f", cbar=False,
                annot=not empty and mat.shape[0] <= 8, annot_kws={"fontsize": 7},
                mask=mat.to_numpy() == 0 if empty else None)
    title = f"{rc.dataset} · {rc.model} · seed {rc.seed}"
    if empty:
        ax.set_facecolor("0.92")  # a grey panel, not a grid of 0.00
        why = "constant code" if np.ptp(rc.codes) == 0 else "all importances 0"
        title += f"\nno factor predicted ({why})"
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.tick_params(axis="y", labelsize=7, labelrotation=0)


def plot_importance(run_codes: Sequence[RunCodes], level: str = "block", seed: int = 0,
                    ncols: int = 4):
    """One seaborn heatmap of DCI importances per (dataset, model), lowest seed; returns fig."""
    runs = first_seed(run_codes)
    if not runs:
        raise ValueError("no runs to plot")
    ncols = min(ncols, len(runs))
    nrows = -(-len(runs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows + 0.4),
                             squeeze=False)
    for ax, rc in zip(axes.flat, runs, strict=False):
        _importance_panel(ax, rc, level, seed)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    fig.suptitle(_importance_title(level), fontsize=10)
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


# Panel titles of plot_metric_bars; a "_dim" metric adds ", dim level"; others show their name.
METRIC_TITLES = {
    "own_factor_r2": "own-factor R²\n(block predicted by its factor)",
    "exclusivity": "exclusivity\n(own factor's share of the R²)",
    AGREEMENT: "seed agreement\n(matched block beyond the others)",
    "mcc_spearman": "MCC, Spearman\n(blocks vs true factors)",
    "dci_disentanglement": "DCI disentanglement\n(one factor per block)",
    "dci_completeness": "DCI completeness\n(one block per factor)",
    "dci_informativeness": "DCI informativeness\n(held-out R² of the factors)",
    "irs": "IRS\n(robustness to other factors)",
    BETWEEN: "MCC between seeds\n(Spearman, seed pairs)",
}
SCORE_LABEL = "score, 0 to 1\n(higher is better)"
PANELS_PER_ROW = 4


def metric_title(metric: str) -> str:
    """A metric's readable panel title (METRIC_TITLES; "_dim" metrics say "dim level")."""
    dim = metric.endswith("_dim")
    base = metric.removesuffix("_dim")
    lines = METRIC_TITLES.get(base, base).split("\n")
    lines[0] += ", dim level" if dim else ""
    return "\n".join(lines)


def _dataset_legend(fig, axes, n_used: int) -> None:
    """One legend of the datasets: in the first unused panel, else right of the top row."""
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[:n_used]:
        if ax.get_legend():
            ax.get_legend().remove()
    if len(labels) < 2:
        return
    if n_used < axes.size:
        spare = axes.flat[n_used]
        spare.set_visible(True)
        spare.axis("off")
        spare.legend(handles, labels, title="dataset", loc="center")
    else:
        axes.flat[axes.shape[1] - 1].legend(handles, labels, title="dataset", fontsize=8,
                                            loc="upper left", bbox_to_anchor=(1.02, 1))


def plot_metric_bars(df: pd.DataFrame, metric_names: Sequence[str] = CLAIM_METRICS,
                     per_row: int = PANELS_PER_ROW):
    """Mean ± sd over seeds per model, one panel per metric (seaborn), ``per_row`` panels a
    row; returns fig."""
    sub = df[df["metric"].isin(metric_names)]
    names = [m for m in metric_names if m in set(sub["metric"])]
    if not names:
        raise ValueError(f"none of {list(metric_names)} in the table")
    ncol = min(per_row, len(names))
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.7 * ncol, 3.7 * nrow), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for i, (ax, m) in enumerate(zip(axes.flat, names)):
        sns.barplot(data=sub[sub["metric"] == m], x="model", y="value", hue="dataset",
                    errorbar="sd", ax=ax)
        ax.set_title(metric_title(m), fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("")
        # anchored at the tick's end so long names (control:null_nonlinear) never collide
        plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor", fontsize=7)
        ax.set_ylabel(SCORE_LABEL if i % ncol == 0 else "", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    _dataset_legend(fig, axes, len(names))
    datasets = ", ".join(dict.fromkeys(sub["dataset"]))
    fig.suptitle(f"Identifiability scores on {datasets}: bars are means over seeds (seed pairs "
                 "for the between-seed scores), black lines ± 1 sd", fontsize=10)
    fig.tight_layout()
    return fig
