"""Identifiability analysis of trained runs: codes, tidy metric tables with their controls,
summaries and claims. The other stages live beside it: ``codes`` (a run's codes and block
matching), ``factor_sets`` (which true factors explain each block), ``identifiability_plots``.

Tidy tables have one row per (dataset, model, seed, metric) with a float ``value``; ``seed`` is a
string so that between-seed scores ("0-1") share the column with per-run ones ("0"). Control
rows (``controls``: the oracle code, entangled nulls, a partly entangled code) are scored by the
same code on the same units under models named "control:<kind>"; a metric feeds a verdict only
where its oracle and nulls are apart (``controls.control_gaps``).

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
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from icm_utils.core.paths import ensure_dir
from icm_utils.core.stats import LEVELS, match_blocks
from icm_utils.evaluation import controls, identifiability, metrics
from icm_utils.evaluation.codes import RunCodes, blocks_of, pick
from icm_utils.training.runs import (
    data_key,
    encode_images,
    is_done,
    load_run,
    load_training_data,
)

TIDY_COLUMNS = ["dataset", "model", "seed", "metric", "value"]
DIM_METRICS = ("own_factor_r2", "dci_disentanglement", "dci_completeness", "irs", "mcc_spearman")
BETWEEN = "mcc_between_seeds"  # Spearman MCC between two seeds' representations
AGREEMENT = identifiability.AGREEMENT  # blockwise agreement between two seeds (no truth)
# Metrics the paper's claims are about (higher supports them); verdicts use the discriminative ones.
CLAIM_METRICS = ("own_factor_r2", "exclusivity", AGREEMENT, "mcc_spearman",
                 "dci_disentanglement", "irs", BETWEEN)
CLAIM_METRICS_WITH_DIM = CLAIM_METRICS + tuple(f"{m}_dim" for m in CLAIM_METRICS)
NOT_DISCRIMINATIVE, NO_CONTROLS = "not discriminative", "no controls"


# ---------------------------------------------------------------- encoding runs
def encode_runs(root: Path | str, cfgs: Iterable, split: str = "test",
                max_samples: int | None = None, name=None) -> list[RunCodes]:
    """Encode a split of each finished run's dataset (unfinished runs are skipped, with a
    warning naming them). ``max_samples`` keeps that many evenly spaced units of the split;
    ``name(cfg)`` names a run's codes (default ``cfg.model``)."""
    out, missing, cache = [], [], {}
    for cfg in cfgs:
        if not is_done(root, cfg):
            missing.append(f"{cfg.dataset}/{cfg.model}/seed{cfg.seed}")
            continue
        key = data_key(cfg)
        if key not in cache:  # one dataset load per data configuration, not per run
            cache[key] = load_training_data(cfg)[0]
        ds = cache[key]
        idx = pick(ds.indices(split), max_samples)
        model, _ = load_run(root, cfg)
        z = encode_images(model, ds.images[idx])
        out.append(RunCodes(cfg.dataset, name(cfg) if name else cfg.model, cfg.seed, z,
                            ds.labels[idx].astype(np.float64), ds.names,
                            aligned=bool(model.uses_labels)))
    if missing:
        warnings.warn(f"skipping unfinished runs: {missing}", RuntimeWarning, stacklevel=2)
    return out


# ---------------------------------------------------------------- controls
def control_codes(run_codes: Sequence[RunCodes], kinds: Sequence[str] = controls.KINDS,
                  seeds: Sequence[int] = controls.SEEDS) -> list[RunCodes]:
    """Control codes (``controls.ControlCode``) of each dataset's units, with its runs' block
    size: one RunCodes per (dataset, kind, seed), model "control:<kind>". The oracle and the
    partial code are aligned (block i belongs to factor i); the nulls are matched like any
    unaligned model, on the matching most favourable to them."""
    first: dict[str, RunCodes] = {}
    for rc in run_codes:
        ref = first.setdefault(rc.dataset, rc)
        if rc.codes.shape[2] != ref.codes.shape[2] or not np.array_equal(rc.factors, ref.factors):
            raise ValueError(f"{rc.dataset}: runs {ref.model}/{ref.seed} and {rc.model}/{rc.seed} "
                             "differ in units or block size; controls need one set of units")
    return [RunCodes(ds, controls.label(kind), s, controls.ControlCode(kind, rc.codes.shape[2], s)(
                rc.factors), rc.factors, rc.names, aligned=kind in (controls.ORACLE,
                                                                   controls.PARTIAL))
            for ds, rc in first.items() for kind in kinds for s in seeds]


# ---------------------------------------------------------------- tidy metric tables
def _scores(rc: RunCodes, level: str, seed: int) -> dict[str, float]:
    """metrics.evaluate_all and the block measures of identifiability at ``level``."""
    aligned = rc.aligned and level == "block"
    out = metrics.evaluate_all(rc.codes, rc.factors, seed=seed, level=level)
    out.update(identifiability.identifiability_scores(
        rc.codes, rc.factors, level=level, seed=seed, block_of=blocks_of(rc) if aligned else None))
    return out


def score_codes(run_codes: Sequence[RunCodes], level: str = "block", seed: int = 0,
                dim_metrics: Sequence[str] = DIM_METRICS) -> pd.DataFrame:
    """Tidy scores of already encoded runs: evaluate_all and the identifiability measures at
    ``level``, the ``dim_metrics`` at dim level (suffix ``_dim``, only when level="block"), and
    for every pair of seeds of a (dataset, model), with seed "a-b": ``mcc_between_seeds``
    (Spearman, at ``level``; also ``_dim`` when dim metrics are asked for) and
    ``agreement_between_seeds`` (at ``level``). Aligned runs keep block i for factor i."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    unknown = set(dim_metrics) - set(DIM_METRICS)
    if unknown:
        raise ValueError(f"unknown dim metrics {sorted(unknown)}; choose from {DIM_METRICS}")
    dims = list(dim_metrics) if level == "block" else []
    rows = []
    for rc in run_codes:
        ident = (rc.dataset, rc.model, str(rc.seed))
        rows += [(*ident, m, float(v)) for m, v in _scores(rc, level, seed).items()]
        if dims:
            scores = _scores(rc, "dim", seed)
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
            rows.append((ds, model, pair, AGREEMENT, identifiability.block_agreement(
                a.codes, b.codes, level=level, seed=seed).score))
            if dims:
                rows.append((ds, model, pair, f"{BETWEEN}_dim", metrics.mcc_between(
                    a.codes, b.codes, method="spearman", level="dim")))
    return pd.DataFrame(rows, columns=TIDY_COLUMNS).astype({"seed": str, "value": float})


def evaluate_runs(root: Path | str, cfgs: Iterable, split: str = "test", level: str = "block",
                  seed: int = 0, *, dim_metrics: Sequence[str] = DIM_METRICS,
                  max_samples: int | None = None, run_codes: Sequence[RunCodes] | None = None,
                  with_controls: bool = False) -> pd.DataFrame:
    """Tidy (dataset, model, seed, metric, value) scores of every finished run on ``split``.

    ``seed`` seeds the metrics' regressors and splits (not the runs). Pass ``run_codes`` from
    ``encode_runs`` to reuse representations already computed (plots need them too).
    ``with_controls`` adds the rows of ``control_codes`` on the same units (the published
    tables do; off by default because callers that rename models would fold controls in).
    """
    if run_codes is None:
        run_codes = encode_runs(root, cfgs, split, max_samples)
    run_codes = list(run_codes)
    if with_controls:
        run_codes += control_codes(run_codes)
    return score_codes(run_codes, level, seed, dim_metrics)


def summary_table(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Mean and sample std over seeds per (dataset, model, metric), with a display string
    "mean ± std" ("mean" alone when one seed gives no spread)."""
    missing = set(TIDY_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"a tidy table needs columns {TIDY_COLUMNS}; missing {sorted(missing)}")
    g = df.groupby(["dataset", "model", "metric"], sort=False)["value"]
    out = g.agg(n="count", mean="mean", std="std").reset_index()
    out["display"] = (out.apply(lambda r: mean_std(r["mean"], r["std"], digits), axis=1)
                      if len(out) else pd.Series(dtype=str))
    return out


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    """"mean ± std", or "mean" alone when std is NaN (one seed gives no spread)."""
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


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
    df[TIDY_COLUMNS].to_csv(tidy, index=False)
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
                   metric_names: Sequence[str] = CLAIM_METRICS_WITH_DIM, z: float = 2.0,
                   min_gap: float = controls.MIN_GAP) -> pd.DataFrame:
    """``model`` against its best baseline per (dataset, metric); higher is better for all.

    Only discriminative metrics get a verdict (``controls.control_gaps`` on the table's control
    rows): "not discriminative" when the oracle beats the best null by less than ``min_gap``,
    "no controls" when the table has no oracle and null rows for the metric. Otherwise
    "higher"/"lower" when |difference| > z * sqrt(se_a^2 + se_b^2) (standard errors over seeds),
    "within noise" otherwise, "no spread" when either has a single value (one seed, or one pair
    of seeds for between-seed scores). Controls are never the model or a baseline; metrics
    missing for either side are skipped. Rows follow ``metric_names`` within each dataset.
    """
    if controls.is_control(model):
        raise ValueError(f"{model!r} is a control, not a model to judge")
    gaps = controls.control_gaps(df, min_gap=min_gap).set_index(["dataset", "metric"])
    s = summary_table(df)
    s = s[s["metric"].isin(metric_names) & ~s["model"].map(controls.is_control)]
    order = {m: i for i, m in enumerate(metric_names)}
    rows = []
    for (ds, metric), g in sorted(s.groupby(["dataset", "metric"]),
                                  key=lambda kv: (kv[0][0], order[kv[0][1]])):
        own = g[g["model"] == model]
        base = g[(g["model"] != model) & (g["model"].isin(baselines) if baselines else True)]
        if own.empty or base.empty:
            continue
        a, b = own.iloc[0], base.loc[base["mean"].idxmax()]
        diff = a["mean"] - b["mean"]
        se = np.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
        ctrl = gaps.loc[(ds, metric)] if (ds, metric) in gaps.index else None
        if ctrl is None:
            verdict = NO_CONTROLS
        elif not ctrl["discriminative"]:
            verdict = NOT_DISCRIMINATIVE
        elif np.isnan(se):
            verdict = "no spread"
        elif abs(diff) > z * se:
            verdict = "higher" if diff > 0 else "lower"
        else:
            verdict = "within noise"
        rows.append({"dataset": ds, "metric": metric, "model": model, "mean": a["mean"],
                     "best_baseline": b["model"], "baseline_mean": b["mean"],
                     "difference": diff,
                     "oracle": np.nan if ctrl is None else ctrl["oracle"],
                     "best_null": np.nan if ctrl is None else ctrl["null_value"],
                     "verdict": verdict})
    return pd.DataFrame(rows)


def claims_markdown(cmp: pd.DataFrame, adequate: bool, reasons: Sequence[str] = ()) -> str:
    """Markdown sentences built only from a ``compare_models`` table; metrics that are not
    discriminative (or lack controls) are listed apart, with no verdict, and a model scoring
    at or below the best entangled null is said to be so."""
    lines = []
    if not adequate:
        lines.append("**These settings are too small to judge the paper's claims** ("
                     + "; ".join(reasons) + "). The numbers below only show the pipeline works.")
    if cmp.empty:
        return "\n".join(lines + ["No comparison available (one model, or no baseline)."])
    judged = cmp[~cmp["verdict"].isin([NOT_DISCRIMINATIVE, NO_CONTROLS])]
    for r in judged.itertuples():
        # a verdict between two models says nothing of either's distance from the controls
        null_level = (f" {r.model} itself is no better than an entangled code here."
                      if r.mean <= r.best_null else "")
        lines.append(f"- {r.dataset}, `{r.metric}`: {r.model} {r.mean:.2f} vs best baseline "
                     f"{r.best_baseline} {r.baseline_mean:.2f} (difference {r.difference:+.2f}; "
                     f"oracle {r.oracle:.2f}, best null {r.best_null:.2f}): **{r.verdict}**."
                     + null_level)
    if judged.empty:
        lines.append("No discriminative metric to judge on.")
    for r in cmp[cmp["verdict"] == NOT_DISCRIMINATIVE].itertuples():
        lines.append(f"- {r.dataset}, `{r.metric}` is *not discriminative* (oracle {r.oracle:.2f}, "
                     f"best entangled null {r.best_null:.2f}): {r.model} {r.mean:.2f} vs "
                     f"{r.best_baseline} {r.baseline_mean:.2f}, no verdict.")
    for r in cmp[cmp["verdict"] == NO_CONTROLS].itertuples():
        lines.append(f"- {r.dataset}, `{r.metric}` has *no control rows*: {r.model} {r.mean:.2f} "
                     f"vs {r.best_baseline} {r.baseline_mean:.2f}, no verdict.")
    return "\n".join(lines)


# ---------------------------------------------------------------- matching and projections
def per_factor_mcc(run_codes: Sequence[RunCodes], method: str = "spearman") -> pd.DataFrame:
    """Tidy (dataset, model, seed, factor, block, corr): block-level MCC split by factor."""
    rows = []
    for rc in run_codes:
        block, corr = match_blocks(rc.codes, rc.factors, method=method)
        rows += [(rc.dataset, rc.model, str(rc.seed), name, int(b), float(c))
                 for name, b, c in zip(rc.names, block, corr, strict=True)]
    return pd.DataFrame(rows, columns=["dataset", "model", "seed", "factor", "block", "corr"])


