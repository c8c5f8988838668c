"""Identifiability analysis of trained runs: codes, tidy metric tables, summaries and plots.

Tidy tables have one row per (dataset, model, seed, metric) with a float ``value``; ``seed`` is a
string so that between-seed scores ("0-1") share the column with per-run ones ("0").

Levels. Block level (the default) scores each of a model's n blocks of k dims as one causal
variable, which is how ICM-VAE's latent is laid out. For models whose blocks mean nothing
(beta_vae: n*k exchangeable dims grouped in order) block scores flatter them, because a block's
best linear combination may pick up any factor; the dim-level scores in ``DIM_METRICS`` (suffix
``_dim``) are the fair comparison there. DCI informativeness is omitted at dim level: the same
regressor sees every dim at both levels, so it is identical.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .paths import ensure_dir

COLUMNS = ["dataset", "model", "seed", "metric", "value"]
DIM_METRICS = ("dci_disentanglement", "dci_completeness", "irs", "mcc_spearman")
BETWEEN = "mcc_between_seeds"  # Spearman MCC between two seeds' representations
# Metrics the paper's claims are about (higher supports them).
CLAIM_METRICS = ("mcc_spearman", "dci_disentanglement", "irs", BETWEEN)
CLAIM_METRICS_WITH_DIM = CLAIM_METRICS + tuple(f"{m}_dim" for m in CLAIM_METRICS)


@dataclass
class RunCodes:
    """One run's representation of a split next to the true factors."""

    dataset: str
    model: str
    seed: int
    codes: np.ndarray  # (N, n_blocks, k)
    factors: np.ndarray  # (N, n_factors)
    names: list[str]  # factor names
    aligned: bool = False  # block i is variable i by construction (a label prior ties them)


# ---------------------------------------------------------------- encoding runs
def _pick(idx: np.ndarray, max_samples: int | None) -> np.ndarray:
    if max_samples is None or max_samples >= len(idx):
        return idx
    return idx[np.linspace(0, len(idx) - 1, max_samples).round().astype(int)]  # spread, seedless


def encode_runs(root: Path | str, cfgs: Iterable, split: str = "test",
                max_samples: int | None = None) -> list[RunCodes]:
    """Encode a split of each finished run's dataset (unfinished runs are skipped, with a
    warning naming them). ``max_samples`` keeps that many evenly spaced units of the split."""
    from .sweep import encode_images, is_done, load_run, load_training_data

    out, missing, cache = [], [], {}
    for cfg in cfgs:
        if not is_done(root, cfg):
            missing.append(f"{cfg.dataset}/{cfg.model}/seed{cfg.seed}")
            continue
        key = (cfg.dataset, cfg.resolution, cfg.data_mode, cfg.noise_std, cfg.data_seed,
               cfg.n_random)
        if key not in cache:  # one dataset load per data configuration, not per run
            cache[key] = load_training_data(cfg)[0]
        ds = cache[key]
        idx = _pick(ds.indices(split), max_samples)
        model, _ = load_run(root, cfg)
        z = encode_images(model, ds.images[idx])
        out.append(RunCodes(cfg.dataset, cfg.model, cfg.seed, z,
                            ds.labels[idx].astype(np.float64), ds.names,
                            aligned=bool(model.uses_labels)))
    if missing:
        warnings.warn(f"skipping unfinished runs: {missing}", RuntimeWarning, stacklevel=2)
    return out


# ---------------------------------------------------------------- tidy metric tables
def score_codes(run_codes: Sequence[RunCodes], level: str = "block", seed: int = 0,
                dim_metrics: Sequence[str] = DIM_METRICS) -> pd.DataFrame:
    """Tidy scores of already encoded runs: evaluate_all at ``level``, the ``dim_metrics`` at
    dim level (suffix ``_dim``, only when level="block"), and ``mcc_between_seeds`` (Spearman, at
    ``level``; also ``_dim`` when dim metrics are asked for) for every pair of seeds of a
    (dataset, model), with seed "a-b"."""
    if level not in metrics.LEVELS:
        raise ValueError(f"level must be one of {metrics.LEVELS}, got {level!r}")
    unknown = set(dim_metrics) - set(DIM_METRICS)
    if unknown:
        raise ValueError(f"unknown dim metrics {sorted(unknown)}; choose from {DIM_METRICS}")
    dims = list(dim_metrics) if level == "block" else []
    rows = []
    for rc in run_codes:
        ident = (rc.dataset, rc.model, str(rc.seed))
        for m, v in metrics.evaluate_all(rc.codes, rc.factors, seed=seed, level=level).items():
            rows.append((*ident, m, float(v)))
        if dims:
            scores = metrics.evaluate_all(rc.codes, rc.factors, seed=seed, level="dim")
            rows += [(*ident, f"{m}_dim", float(scores[m])) for m in dims]
    groups: dict[tuple[str, str], list[RunCodes]] = {}
    for rc in run_codes:
        groups.setdefault((rc.dataset, rc.model), []).append(rc)
    for (ds, model), runs in groups.items():
        for a, b in combinations(sorted(runs, key=lambda r: r.seed), 2):
            if a.codes.shape[0] != b.codes.shape[0]:
                raise ValueError(f"{ds}/{model}: seeds {a.seed} and {b.seed} were encoded on "
                                 f"different samples; between-seed MCC needs the same units")
            pair = f"{a.seed}-{b.seed}"
            rows.append((ds, model, pair, BETWEEN, metrics.mcc_between(
                a.codes, b.codes, method="spearman", level=level)))
            if dims:
                rows.append((ds, model, pair, f"{BETWEEN}_dim", metrics.mcc_between(
                    a.codes, b.codes, method="spearman", level="dim")))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"seed": str, "value": float})


def evaluate_runs(root: Path | str, cfgs: Iterable, split: str = "test", level: str = "block",
                  seed: int = 0, *, dim_metrics: Sequence[str] = DIM_METRICS,
                  max_samples: int | None = None,
                  run_codes: Sequence[RunCodes] | None = None) -> pd.DataFrame:
    """Tidy (dataset, model, seed, metric, value) scores of every finished run on ``split``.

    ``seed`` seeds the metrics' regressors and splits (not the runs). Pass ``run_codes`` from
    ``encode_runs`` to reuse representations already computed (plots need them too).
    """
    if run_codes is None:
        run_codes = encode_runs(root, cfgs, split, max_samples)
    return score_codes(run_codes, level, seed, dim_metrics)


def summary_table(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Mean and sample std over seeds per (dataset, model, metric), with a display string
    "mean ± std" ("mean" alone when one seed gives no spread)."""
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"a tidy table needs columns {COLUMNS}; missing {sorted(missing)}")
    g = df.groupby(["dataset", "model", "metric"], sort=False)["value"]
    out = g.agg(n="count", mean="mean", std="std").reset_index()

    def fmt(r) -> str:
        if np.isnan(r["std"]):
            return f"{r['mean']:.{digits}f}"
        return f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}"

    out["display"] = out.apply(fmt, axis=1) if len(out) else pd.Series(dtype=str)
    return out


def wide_summary(summary: pd.DataFrame, metrics_order: Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """The display strings as a (dataset, model) x metric table for notebooks."""
    wide = summary.pivot(index=["dataset", "model"], columns="metric", values="display")
    cols = [m for m in (metrics_order or wide.columns) if m in wide.columns]
    return wide[cols].rename_axis(columns=None)


def write_results(df: pd.DataFrame, out_dir: Path | str, name: str = "identifiability"
                  ) -> tuple[Path, Path]:
    """Write ``<name>_tidy.csv`` (dataset, model, seed, metric, value) and
    ``<name>_summary.csv`` (dataset, model, metric, n, mean, std, display); return both paths."""
    out = ensure_dir(out_dir)
    tidy, summ = out / f"{name}_tidy.csv", out / f"{name}_summary.csv"
    df[COLUMNS].to_csv(tidy, index=False)
    summary_table(df).to_csv(summ, index=False)
    return tidy, summ


def read_tidy(path: Path | str) -> pd.DataFrame:
    """Read a tidy CSV back with ``seed`` as a string ("0" and "0-1" alike)."""
    return pd.read_csv(path, dtype={"seed": str, "value": float})


# ---------------------------------------------------------------- claims
def settings_adequate(epochs: int, n_seeds: int, n_train: int | None,
                      min_epochs: int = 20, min_seeds: int = 3, min_train: int = 2000
                      ) -> tuple[bool, list[str]]:
    """Whether a run set is large enough to judge the paper's claims, and why not."""
    why = []
    if epochs < min_epochs:
        why.append(f"{epochs} epoch(s) < {min_epochs}")
    if n_seeds < min_seeds:
        why.append(f"{n_seeds} seed(s) < {min_seeds}")
    if n_train is not None and n_train < min_train:
        why.append(f"{n_train} training images < {min_train}")
    return not why, why


def compare_models(df: pd.DataFrame, model: str, baselines: Sequence[str] | None = None,
                   metric_names: Sequence[str] = CLAIM_METRICS_WITH_DIM, z: float = 2.0
                   ) -> pd.DataFrame:
    """``model`` against its best baseline per (dataset, metric); higher is better for all.

    verdict: "higher"/"lower" when |difference| > z * sqrt(se_a^2 + se_b^2) (standard errors
    over seeds), "within noise" otherwise, "no spread" when either has a single value (one seed,
    or one pair of seeds for between-seed scores). Metrics missing for either side are skipped.
    """
    s = summary_table(df)
    rows = []
    for (ds, metric), g in s[s["metric"].isin(metric_names)].groupby(["dataset", "metric"]):
        own = g[g["model"] == model]
        base = g[(g["model"] != model) & (g["model"].isin(baselines) if baselines else True)]
        if own.empty or base.empty:
            continue
        a, b = own.iloc[0], base.loc[base["mean"].idxmax()]
        diff = a["mean"] - b["mean"]
        se = np.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
        if np.isnan(se):
            verdict = "no spread"
        elif abs(diff) > z * se:
            verdict = "higher" if diff > 0 else "lower"
        else:
            verdict = "within noise"
        rows.append({"dataset": ds, "metric": metric, "model": model, "mean": a["mean"],
                     "best_baseline": b["model"], "baseline_mean": b["mean"],
                     "difference": diff, "verdict": verdict})
    return pd.DataFrame(rows)


def claims_markdown(cmp: pd.DataFrame, adequate: bool, reasons: Sequence[str] = ()) -> str:
    """Markdown sentences built only from a ``compare_models`` table."""
    lines = []
    if not adequate:
        lines.append("**These settings are too small to judge the paper's claims** ("
                     + "; ".join(reasons) + "). The numbers below only show the pipeline works.")
    if cmp.empty:
        return "\n".join(lines + ["No comparison available (one model, or no baseline)."])
    for r in cmp.itertuples():
        lines.append(f"- {r.dataset}, `{r.metric}`: {r.model} {r.mean:.2f} vs best baseline "
                     f"{r.best_baseline} {r.baseline_mean:.2f} (difference {r.difference:+.2f}): "
                     f"**{r.verdict}**.")
    return "\n".join(lines)


# ---------------------------------------------------------------- matching and projections
def per_factor_mcc(run_codes: Sequence[RunCodes], method: str = "spearman") -> pd.DataFrame:
    """Tidy (dataset, model, seed, factor, block, corr): block-level MCC split by factor."""
    rows = []
    for rc in run_codes:
        block, corr = metrics.match_blocks(rc.codes, rc.factors, method=method)
        rows += [(rc.dataset, rc.model, str(rc.seed), name, int(b), float(c))
                 for name, b, c in zip(rc.names, block, corr, strict=True)]
    return pd.DataFrame(rows, columns=["dataset", "model", "seed", "factor", "block", "corr"])


def _blocks_of(rc: RunCodes) -> np.ndarray:
    if rc.aligned:
        return np.arange(rc.factors.shape[1])
    return metrics.match_blocks(rc.codes, rc.factors, method="spearman")[0]


def block_projection(block: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Best linear projection of a block (N, k) onto a factor (N,): least-squares fit with
    intercept, in the factor's units. Its Pearson corr with the factor is their multiple corr."""
    block = np.asarray(block, float).reshape(len(block), -1)
    design = np.c_[block, np.ones(len(block))]
    coef, *_ = np.linalg.lstsq(design, np.asarray(factor, float), rcond=None)
    return design @ coef


FACTOR_SETS = ("own", "own+parents", "own+ancestors", "all")


def explained_by_factor_sets(rc: RunCodes, graph, block_of: Sequence[int] | None = None,
                             seed: int = 0, n_estimators: int = 50) -> pd.DataFrame:
    """Held-out R^2 of each factor's block predicted from sets of true factors (2-fold CV,
    gradient-boosted trees; variance-weighted over a block's k dims).

    Tells *how* a block is identified: R^2 from "own" near R^2 from "all" means the block is a
    function of its own factor (elementwise identifiability); a gap closed by "own+ancestors"
    means the block mixes its factor with its causes (identified up to a reparameterisation
    that respects the causal order). ``block_of[i]``: the block of factor i (default i, the
    supervised models' layout). Returns (factor, set, r2) rows.
    """
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    n = rc.factors.shape[1]
    block_of = list(range(n)) if block_of is None else list(block_of)
    if graph.n != n or len(block_of) != n:
        raise ValueError(f"graph ({graph.n} nodes), factors ({n}) and block_of "
                         f"({len(block_of)}) must agree")
    cv = KFold(2, shuffle=True, random_state=seed)
    rows = []
    for i in range(n):
        sets = {"own": [i], "own+parents": [i, *graph.parents(i)],
                "own+ancestors": [i, *sorted(graph.ancestors(i))], "all": list(range(n))}
        y = rc.codes[:, block_of[i]].reshape(len(rc.codes), -1)
        var = y.var(0)
        for name in FACTOR_SETS:
            x = rc.factors[:, sets[name]]
            r2 = []
            for d in range(y.shape[1]):
                pred = cross_val_predict(GradientBoostingRegressor(
                    n_estimators=n_estimators, max_depth=3, random_state=seed), x, y[:, d], cv=cv)
                r2.append(1 - np.mean((y[:, d] - pred) ** 2) / var[d] if var[d] > 0 else 0.0)
            rows.append((rc.names[i], name, float(np.average(r2, weights=var + 1e-300))))
    return pd.DataFrame(rows, columns=["factor", "set", "r2"])


def factor_set_table(run_codes: Sequence[RunCodes], graph, seed: int = 0,
                     first_seed_only: bool = True) -> pd.DataFrame:
    """``explained_by_factor_sets`` for each run, with dataset, model, seed, block and the
    factor's role ("root" or "non-root") columns. Factor i's block: block i for aligned runs
    (the prior's block of variable i), else the one Hungarian matching gives (as in MCC)."""
    runs = _first_seed(run_codes) if first_seed_only else list(run_codes)
    roots = {graph.names[i] for i in graph.roots()}
    out = []
    for rc in runs:
        block_of = _blocks_of(rc)
        t = explained_by_factor_sets(rc, graph, block_of=block_of, seed=seed)
        t.insert(1, "block", np.repeat(block_of, len(FACTOR_SETS)))
        t.insert(0, "seed", str(rc.seed))
        t.insert(0, "model", rc.model)
        t.insert(0, "dataset", rc.dataset)
        t["role"] = np.where(t["factor"].isin(roots), "root", "non-root")
        out.append(t)
    return pd.concat(out, ignore_index=True)


def identification_pattern(table: pd.DataFrame) -> pd.DataFrame:
    """Mean R^2 per (model, role) and factor set, from ``factor_set_table``."""
    wide = table.pivot_table(index=["model", "role"], columns="set", values="r2", aggfunc="mean")
    return wide[[c for c in FACTOR_SETS if c in wide.columns]].rename_axis(columns=None)


# ---------------------------------------------------------------- plots
def plot_factor_sets(table: pd.DataFrame):
    """Bars of held-out R^2 per factor and factor set, one panel per model; returns fig."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.2), squeeze=False,
                             sharey=True)
    for ax, m in zip(axes[0], models, strict=True):
        sns.barplot(data=table[table["model"] == m], x="factor", y="r2", hue="set",
                    hue_order=list(FACTOR_SETS), ax=ax)
        ax.set_title(f"{m}: each factor's block predicted from true factors", fontsize=9)
        ax.set_ylim(min(0.0, table["r2"].min()), 1.05)
        ax.set_ylabel("held-out R²")
        if ax is not axes[0, -1] and ax.get_legend():
            ax.get_legend().remove()
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig

def importance_matrix(rc: RunCodes, level: str = "block", seed: int = 0) -> pd.DataFrame:
    """DCI importance (latents x factors) of one run, labelled for a heatmap."""
    r = metrics.dci(rc.codes, rc.factors, level=level, seed=seed).importance
    prefix = "block" if level == "block" else "dim"
    return pd.DataFrame(r, index=[f"{prefix} {j}" for j in range(r.shape[0])],
                        columns=rc.names)


def _first_seed(run_codes: Sequence[RunCodes]) -> list[RunCodes]:
    """One run per (dataset, model): the lowest seed. Seeds are not averaged because blocks of
    unsupervised models may come out permuted from one seed to the next."""
    best: dict[tuple[str, str], RunCodes] = {}
    for rc in run_codes:
        key = (rc.dataset, rc.model)
        if key not in best or rc.seed < best[key].seed:
            best[key] = rc
    return list(best.values())


def plot_importance(run_codes: Sequence[RunCodes], level: str = "block", seed: int = 0,
                    ncols: int = 4):
    """One seaborn heatmap of DCI importances per (dataset, model), lowest seed; returns fig."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    runs = _first_seed(run_codes)
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


def plot_block_scatter(run_codes: Sequence[RunCodes], max_points: int = 400,
                       method: str = "spearman"):
    """Rows: (dataset, model) at its lowest seed; columns: factors. Each panel plots the true
    factor against the best linear projection of its block (block i for aligned runs, else the
    matched one); returns fig."""
    import matplotlib.pyplot as plt

    runs = _first_seed(run_codes)
    if not runs:
        raise ValueError("no runs to plot")
    nf = max(rc.factors.shape[1] for rc in runs)
    fig, axes = plt.subplots(len(runs), nf, figsize=(2.3 * nf, 2.2 * len(runs)), squeeze=False)
    for row, rc in zip(axes, runs, strict=True):
        block = _blocks_of(rc)
        corr = metrics.block_corr(rc.codes, rc.factors, method=method)[np.arange(len(block)), block]
        pts = _pick(np.arange(len(rc.factors)), max_points)
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
    import matplotlib.pyplot as plt
    import seaborn as sns

    sub = df[df["metric"].isin(metric_names)]
    names = [m for m in metric_names if m in set(sub["metric"])]
    if not names:
        raise ValueError(f"none of {list(metric_names)} in the table")
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, m in zip(axes[0], names, strict=True):
        sns.barplot(data=sub[sub["metric"] == m], x="model", y="value", hue="dataset",
                    errorbar="sd", ax=ax)
        ax.set_title(m, fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        if ax.get_legend() and (ax is not axes[0, -1] or sub["dataset"].nunique() == 1):
            ax.get_legend().remove()
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig
