"""Correlations between factor sets and code blocks, and their one-to-one (Hungarian) matching:
used wherever a learned block is paired with a true factor (metrics, label maps of label-free
models). numpy/scipy only."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

MIN_SAMPLES = 20


LEVELS = ("dim", "block")


# ---------------------------------------------------------------- validation
def check_codes(z, factors=None, level: str = "dim") -> tuple[np.ndarray, np.ndarray | None]:
    """Float arrays z (N, D) or (N, B, k) and factors (N, F); ValueError if unusable."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    z = np.asarray(z, dtype=float)
    if z.ndim not in (2, 3):
        raise ValueError(f"codes must be (N, D) or (N, n_blocks, k), got shape {z.shape}")
    if level == "block" and z.ndim != 3:
        raise ValueError("level='block' needs codes shaped (N, n_blocks, k)")
    if z.shape[0] < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} samples, got {z.shape[0]}")
    if min(z.shape[1:]) < 1:
        raise ValueError(f"codes have an empty axis: {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("codes contain NaN or inf")
    if factors is None:
        return z, None
    f = np.asarray(factors, dtype=float)
    if f.ndim == 1:
        f = f[:, None]
    if f.ndim != 2 or f.shape[1] < 1:
        raise ValueError(f"factors must be (N, F), got shape {f.shape}")
    if f.shape[0] != z.shape[0]:
        raise ValueError(f"codes have {z.shape[0]} samples but factors have {f.shape[0]}")
    if not np.all(np.isfinite(f)):
        raise ValueError("factors contain NaN or inf")
    return z, f


def flat(z: np.ndarray) -> np.ndarray:
    return z.reshape(z.shape[0], -1)


# ---------------------------------------------------------------- MCC
def ranks(x: np.ndarray) -> np.ndarray:
    return rankdata(x, axis=0)


def _orthobasis(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the centred column space; constant and collinear directions are
    dropped so they add nothing (and no NaN) to a correlation."""
    mu, sd = a.mean(axis=0), a.std(axis=0)
    keep = sd > 1e-12 * np.maximum(1.0, np.abs(mu))  # float noise on a constant column
    if not keep.any():
        return np.zeros((len(a), 0))
    u, s, _ = np.linalg.svd((a[:, keep] - mu[keep]) / sd[keep], full_matrices=False)
    return u[:, s > 1e-8 * s[0]]


def first_canonical_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Largest canonical correlation between column sets a (N, p) and b (N, q); 0 if either is
    constant. With p == 1 it is the multiple correlation sqrt(R^2) of regressing a on b."""
    ua, ub = _orthobasis(a), _orthobasis(b)
    if ua.shape[1] == 0 or ub.shape[1] == 0:
        return 0.0
    return float(min(np.linalg.svd(ua.T @ ub, compute_uv=False)[0], 1.0))


def corr_matrix(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """|corr| between groups: Pearson for single columns, first canonical corr for blocks."""
    return np.array([[first_canonical_corr(x, y) for y in b] for x in a])


def groups(z: np.ndarray, level: str) -> list[np.ndarray]:
    if level == "block":
        return [z[:, j, :] for j in range(z.shape[1])]
    x = flat(z)
    return [x[:, [j]] for j in range(x.shape[1])]


def matched_mean(c: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(c, maximize=True)
    return float(c[rows, cols].mean())


def block_corr(z, factors, *, method: str = "pearson") -> np.ndarray:
    """|corr| (n_factors, n_blocks): multiple correlation of factor i with block j, i.e.
    sqrt(R^2) of a least-squares fit with intercept (on ranks for spearman)."""
    z, f = check_codes(z, factors, "block")
    if method not in ("pearson", "spearman"):
        raise ValueError("method must be 'pearson' or 'spearman'")
    lat = groups(z, "block")
    if method == "spearman":
        f, lat = ranks(f), [ranks(x) for x in lat]
    return corr_matrix([f[:, [i]] for i in range(f.shape[1])], lat)


def match_blocks(z, factors, *, method: str = "pearson") -> tuple[np.ndarray, np.ndarray]:
    """(block of each factor, its |corr|): the Hungarian one-to-one matching of block MCC.

    The one matching used wherever a learned block is paired with a true factor (block MCC,
    per-factor tables and plots, label maps of unsupervised models, interventional
    robustness), so they agree. ``corr.mean()`` is ``mcc(z, factors, level="block")``.
    """
    c = block_corr(z, factors, method=method)
    if c.shape[1] < c.shape[0]:
        raise ValueError(f"matching needs at least as many blocks ({c.shape[1]}) as factors "
                         f"({c.shape[0]})")
    rows, cols = linear_sum_assignment(c, maximize=True)
    block = np.full(c.shape[0], -1)
    block[rows] = cols
    return block, c[rows, cols][np.argsort(rows)]
