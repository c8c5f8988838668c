"""Disentanglement / identifiability metrics for continuous factors: DCI, IRS, MCC.

Codes `z` are (N, D) or block-structured (N, n_blocks, k); factors are (N, F) floats.
`level="block"` scores each block of k dims as one causal variable (ICM-VAE's latent layout).
numpy/scipy/sklearn only, so it runs wherever the package does.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from icm_utils.core.stats import (
    check_codes,
    corr_matrix,
    flat,
    groups,
    matched_mean,
    ranks,
)


def _standardise(x: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit std using `ref`'s statistics; constant columns are only centred (no /0)."""
    ref = x if ref is None else ref
    sd = ref.std(axis=0)
    return (x - ref.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


# ---------------------------------------------------------------- DCI
def _entropic_scores(p: np.ndarray) -> np.ndarray:
    """1 - H(column)/log(n_rows) per column of a non-negative matrix; all-zero columns score 0."""
    n = p.shape[0]
    tot = p.sum(axis=0)
    if n == 1:  # one outcome: nothing can be spread, the score is trivially 1 (0 if unused)
        return (tot > 0).astype(float)
    q = p / np.where(tot > 0, tot, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(q > 0, q * np.log(q), 0.0).sum(axis=0) / np.log(n)
    return np.where(tot > 0, 1.0 - h, 0.0)


def dci_from_importance(
    importance: np.ndarray, completeness_weighting: str = "mean"
) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (codes x factors).

    D = sum_c rho_c (1 - H_F(R_c. / sum R_c.)), rho_c = R_c. sum / R total (Eastwood & Williams).
    C_f = 1 - H_D(R_.f / sum R_.f); overall C is the plain mean over factors, as in Eastwood's
    own code ("mean"), or importance-weighted like D, as in disentanglement_lib ("importance").
    With GBT importances every column sums to 1, so both weightings agree.
    """
    r = np.abs(np.asarray(importance, dtype=float))
    if r.ndim != 2 or 0 in r.shape or not np.all(np.isfinite(r)):
        raise ValueError(f"importance must be a finite non-empty 2-D matrix, got {r.shape}")
    if completeness_weighting not in ("mean", "importance"):
        raise ValueError("completeness_weighting must be 'mean' or 'importance'")
    total = r.sum()
    if total == 0:  # no code explains anything: nothing is disentangled or complete
        return 0.0, 0.0
    d = float(np.sum(_entropic_scores(r.T) * r.sum(axis=1) / total))
    c_per = _entropic_scores(r)
    w = r.sum(axis=0) / total if completeness_weighting == "importance" else None
    c = float(np.average(c_per, weights=w))
    return d, c


@dataclass
class DCIResult:
    disentanglement: float
    completeness: float
    informativeness: float  # mean held-out R^2 over factors
    r2: np.ndarray  # (F,) held-out R^2 per factor
    importance: np.ndarray  # (D or n_blocks, F)
    r2_train: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def dci(
    z, factors, *, level: str = "dim", test_size: float = 0.25, seed: int = 0,
    n_estimators: int = 50, max_depth: int = 3, learning_rate: float = 0.1,
    completeness_weighting: str = "mean", workers: int | None = None,
) -> DCIResult:
    """DCI with one GradientBoostingRegressor per factor on standardised codes and factors.

    Informativeness is held-out R^2 (not exact-match accuracy, the official ICM-VAE defect).
    At block level the regressor sees every dim; importances are summed within each block.
    The factors' regressors are fitted on ``workers`` threads (default: one per core, as the
    sweep counts them, at most one per factor): sklearn builds trees without the GIL, and each
    fit has its own seed, so the result equals the one-thread result exactly.
    """
    z, f = check_codes(z, factors, level)
    x = flat(z)
    idx_tr, idx_te = train_test_split(np.arange(len(x)), test_size=test_size, random_state=seed)
    if len(idx_te) < 2 or len(idx_tr) < 2:
        raise ValueError("too few samples for a train/test split")
    x_tr, x_te = _standardise(x[idx_tr]), _standardise(x[idx_te], x[idx_tr])
    f_tr, f_te = _standardise(f[idx_tr]), _standardise(f[idx_te], f[idx_tr])
    imp = np.zeros((x.shape[1], f.shape[1]))
    r2, r2_tr = np.zeros(f.shape[1]), np.zeros(f.shape[1])

    def fit(j: int) -> GradientBoostingRegressor:
        return GradientBoostingRegressor(
            n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
            random_state=seed,
        ).fit(x_tr, f_tr[:, j])

    n_workers = min(f.shape[1], workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max(1, n_workers)) as pool:
        fitted = list(pool.map(fit, range(f.shape[1])))
    for j, gbt in enumerate(fitted):
        imp[:, j] = np.abs(gbt.feature_importances_)  # all-zero when the target is constant
        r2[j] = r2_score(f_te[:, j], gbt.predict(x_te))  # finite even for constant targets
        r2_tr[j] = r2_score(f_tr[:, j], gbt.predict(x_tr))
    if level == "block":
        imp = imp.reshape(z.shape[1], z.shape[2], -1).sum(axis=1)
    d, c = dci_from_importance(imp, completeness_weighting)
    return DCIResult(d, c, float(r2.mean()), r2, imp, r2_tr)


# ---------------------------------------------------------------- IRS
def discretize(factors, n_bins: int = 10) -> np.ndarray:
    """Integer bin labels per factor: equal-frequency (quantile) bins; factors with at most
    `n_bins` distinct values keep their values as the bins (already discrete)."""
    f = np.asarray(factors, dtype=float)
    f = f[:, None] if f.ndim == 1 else f
    if n_bins < 2:
        raise ValueError("n_bins must be >= 2")
    out = np.zeros(f.shape, dtype=int)
    for j in range(f.shape[1]):
        col = f[:, j]
        uniq = np.unique(col)
        if len(uniq) <= n_bins:
            out[:, j] = np.searchsorted(uniq, col)
        else:  # interior quantile edges; ties may merge bins, which is correct for repeats
            edges = np.unique(np.quantile(col, np.linspace(0, 1, n_bins + 1)[1:-1]))
            out[:, j] = np.searchsorted(edges, col, side="right")
    return out


@dataclass
class IRSResult:
    irs: float  # average over active latents, weighted by their max deviation
    per_latent: np.ndarray  # (n_latents,) IRS per dim (or block); NaN for constant latents
    parents: np.ndarray  # (n_latents,) factor index with the highest IRS; -1 for constant
    irs_matrix: np.ndarray  # (n_latents, F) 1 - normalised deviation
    max_deviation: np.ndarray  # (n_latents,) empirical upper bound (normaliser)
    n_active: int


def irs(z, factors, *, level: str = "dim", n_bins: int = 10,
        diff_quantile: float = 0.99) -> IRSResult:
    """Interventional robustness score, following disentanglement_lib's scalable IRS.

    For factor i and each of its bins b: deviation of the latent from E[z | bin b] (the
    `diff_quantile` quantile over the bin's samples, a robust max; 1.0 = paper's max), averaged
    over bins; divided by the latent's max deviation from its overall mean. IRS per latent =
    max over factors of 1 - that ratio; overall = average weighted by max deviation.
    dim level: |.| per dim. block level: L2 norm over the block's k dims, so block dims that
    carry no factor (noise) count as non-robustness and lower the block's score.
    Constant latents are dropped, as in disentanglement_lib.
    """
    z, f = check_codes(z, factors, level)
    if not 0.0 < diff_quantile <= 1.0:
        raise ValueError("diff_quantile must be in (0, 1]")
    lat = z if level == "block" else flat(z)[:, :, None]  # (N, L, k)

    def dev(a: np.ndarray, centre: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - centre, axis=2)  # (n, L); |.| when k == 1

    max_dev = dev(lat, lat.mean(axis=0)).max(axis=0)
    active = max_dev > 0
    bins = discretize(f, n_bins)
    cum = np.zeros((lat.shape[1], f.shape[1]))
    for i in range(f.shape[1]):
        values = np.unique(bins[:, i])
        for b in values:
            grp = lat[bins[:, i] == b]
            cum[:, i] += np.quantile(dev(grp, grp.mean(axis=0)), diff_quantile, axis=0)
        cum[:, i] /= len(values)  # unweighted mean over bins, as disentanglement_lib
    mat = np.full_like(cum, np.nan)
    mat[active] = 1.0 - cum[active] / max_dev[active, None]
    per = np.full(lat.shape[1], np.nan)
    parents = np.full(lat.shape[1], -1)
    if active.any():
        per[active] = mat[active].max(axis=1)
        parents[active] = mat[active].argmax(axis=1)
        score = float(np.average(per[active], weights=max_dev[active]))
    else:
        score = 0.0
    return IRSResult(score, per, parents, mat, max_dev, int(active.sum()))


def mcc(z, factors, *, method: str = "pearson", level: str = "dim") -> float:
    """Mean |correlation| between factors and latents after Hungarian one-to-one matching.

    Spearman = Pearson on ranks (each factor and each latent dim ranked separately), so it is
    invariant to permutation and to monotone elementwise reparameterisation.
    Block level: a factor-block pair scores the multiple correlation of the factor with the
    best linear combination of the block's (ranked, for spearman) dims.
    """
    z, f = check_codes(z, factors, level)
    if method not in ("pearson", "spearman"):
        raise ValueError("method must be 'pearson' or 'spearman'")
    lat = groups(z, level)
    if len(lat) < f.shape[1]:
        raise ValueError(f"MCC needs at least as many latents ({len(lat)}) as factors "
                         f"({f.shape[1]})")
    if method == "spearman":
        f, lat = ranks(f), [ranks(x) for x in lat]
    return matched_mean(corr_matrix([f[:, [i]] for i in range(f.shape[1])], lat))


def mcc_between(z_a, z_b, *, method: str = "pearson", level: str = "dim") -> float:
    """MCC between two representations (e.g. two seeds), matched over min(#latents) pairs.
    Block level: first canonical correlation between blocks (rank-transformed for spearman)."""
    z_a, _ = check_codes(z_a, None, level)
    z_b, _ = check_codes(z_b, None, level)
    if z_a.shape[0] != z_b.shape[0]:
        raise ValueError(f"sample counts differ: {z_a.shape[0]} vs {z_b.shape[0]}")
    if method not in ("pearson", "spearman"):
        raise ValueError("method must be 'pearson' or 'spearman'")
    ga, gb = groups(z_a, level), groups(z_b, level)
    if method == "spearman":
        ga, gb = [ranks(x) for x in ga], [ranks(x) for x in gb]
    return matched_mean(corr_matrix(ga, gb))


# ---------------------------------------------------------------- all at once
def evaluate_all(z, factors, seed: int = 0, level: str = "dim", **dci_kwargs) -> dict[str, float]:
    """Flat named scores for a tidy results table (one row per model/seed)."""
    d = dci(z, factors, level=level, seed=seed, **dci_kwargs)
    return {
        "dci_disentanglement": d.disentanglement,
        "dci_completeness": d.completeness,
        "dci_informativeness": d.informativeness,
        "irs": irs(z, factors, level=level).irs,
        "mcc_pearson": mcc(z, factors, method="pearson", level=level),
        "mcc_spearman": mcc(z, factors, method="spearman", level=level),
    }
