"""Block-level identifiability measures that an entangled code does not pass.

Identifiability up to permutation and elementwise reparameterisation means: block j of the code
is a function of one factor only (and of a different factor for each block). Correlation-based
scores cannot test that when a block has k >= #factors dims: the best linear combination of a
block that carries *every* factor still correlates ~1 with each of them (see docs/metrics.md).
The measures here test the property directly, with held-out nonlinear regression:

* ``own_factor_r2`` -- held-out R^2 of each block's dims regressed on its matched factor
  alone. 1 exactly when the block is a function of that factor; an entangled block keeps only
  the share of its variance that one factor explains. It regresses the block on the factor,
  the reverse of von Kügelgen et al. (2021) and DCI(-ES) informativeness/explicitness (factor
  from code): that is what keeps the oracle at 1 when the factors are correlated.
* ``exclusivity`` -- that R^2 as a share of the R^2 from all factors together: the regression
  form of Ridgeway & Mozer's (2018) modularity (each code depends on one factor).
* ``block_agreement`` (``agreement_between_seeds`` in tables; two runs, no truth needed) --
  for each block of run a, R^2 from its matched block of run b minus the best R^2 from any
  *other* single block of b, both directions averaged (one-to-one-ness, as in Duan et al.'s
  2020 UDR). Two unrelated entangled codes predict each other from every block (each block
  carries all factors), so the difference is ~0; identified runs predict a block only from its
  counterpart. Correlated factors lower the ceiling: the oracle's value is reported beside it.

Every dim is rank-transformed to normal scores first, so all three are invariant to monotone
elementwise reparameterisation of any dim; matchings are Hungarian on the R^2 matrix (the most
favourable to the code, so no matching can make a null look better) unless ``block_of`` is
given (models whose prior ties block i to variable i). The regressor is k-nearest neighbours
with 2-fold cross-fitting: deterministic, multi-output (one fit per factor set), ~0.1 s for
2,000 units x 4 blocks x 4 dims.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm, rankdata
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsRegressor

from icm_utils.core.stats import check_codes

N_NEIGHBORS = 20
MIN_EXPLAINED = 0.1  # below this R^2 from all factors a block carries no factor: exclusivity 0


# ---------------------------------------------------------------- the regression engine
def rank_gauss(x) -> np.ndarray:
    """Columns replaced by the normal scores of their ranks (ties share a rank); constant
    columns become 0. Invariant to any strictly monotone map of a column (decreasing ones flip
    its sign, which no R^2 sees)."""
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    out = norm.ppf((rankdata(x, axis=0) - 0.5) / len(x))
    return np.where(np.ptp(x, axis=0) > 0, out, 0.0)


def heldout_r2(x, y, *, seed: int = 0, n_neighbors: int = N_NEIGHBORS) -> np.ndarray:
    """Cross-fitted (2-fold) R^2 of each column of y predicted from x by k-nearest neighbours,
    clipped to [0, 1]; constant columns of y score NaN (nothing to explain)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    pred = np.zeros_like(y)
    for tr, te in KFold(2, shuffle=True, random_state=seed).split(x):
        knn = KNeighborsRegressor(n_neighbors=min(n_neighbors, len(tr)))
        pred[te] = knn.fit(x[tr], y[tr]).predict(x[te]).reshape(len(te), -1)
    var = y.var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ((y - pred) ** 2).mean(axis=0) / var
    return np.where(var > 0, np.clip(r2, 0.0, 1.0), np.nan)


def _block_mean(r2: np.ndarray, n_blocks: int) -> np.ndarray:
    """Mean R^2 over each block's non-constant dims; a block of constant dims scores 0."""
    r2 = r2.reshape(n_blocks, -1)
    ok = ~np.isnan(r2)
    return np.where(ok.any(1), np.nansum(r2, 1) / np.maximum(ok.sum(1), 1), 0.0)


def _as_blocks(z, level: str) -> np.ndarray:
    return z if level == "block" else z.reshape(len(z), -1, 1)


# ---------------------------------------------------------------- blocks against factors
def factor_r2(z, factors, *, seed: int = 0, n_neighbors: int = N_NEIGHBORS
              ) -> tuple[np.ndarray, np.ndarray]:
    """(own (F, B), all (B,)): held-out R^2 of block j (mean over its rank-gaussed dims) from
    factor i alone, and from all factors together. z: (N, B, k) codes, factors (N, F)."""
    z, f = check_codes(z, factors, "block")
    n, b = z.shape[:2]
    y = rank_gauss(z.reshape(n, -1))
    fx = rank_gauss(f)
    own = np.stack([_block_mean(heldout_r2(fx[:, [i]], y, seed=seed, n_neighbors=n_neighbors), b)
                    for i in range(f.shape[1])])
    every = _block_mean(heldout_r2(fx, y, seed=seed, n_neighbors=n_neighbors), b)
    return own, every


@dataclass
class BlockScores:
    """Per factor: its block, that block's R^2 from the factor alone / from all factors, and
    the own factor's share of what all explain."""

    block_of: np.ndarray  # (F,) block matched to each factor
    own_r2: np.ndarray  # (F,)
    all_r2: np.ndarray  # (F,)
    exclusivity: np.ndarray  # (F,)
    own_matrix: np.ndarray  # (F, B) R^2 of every block from every single factor

    @property
    def extra_r2(self) -> np.ndarray:
        """R^2 the other factors add to the own factor's (0 for an identified block)."""
        return np.maximum(self.all_r2 - self.own_r2, 0.0)


def block_scores(z, factors, *, level: str = "block", block_of=None, seed: int = 0,
                 n_neighbors: int = N_NEIGHBORS) -> BlockScores:
    """Own-factor R^2 and exclusivity of each factor's block. ``block_of[i]``: the block of
    factor i (a model whose prior ties blocks to variables); None: the Hungarian matching that
    maximises the summed own-factor R^2, the most favourable to the code. level="dim" treats
    each dim as a block of one."""
    z, f = check_codes(z, factors, level)
    z = _as_blocks(z, level)
    if z.shape[1] < f.shape[1]:
        raise ValueError(f"need at least as many blocks ({z.shape[1]}) as factors "
                         f"({f.shape[1]})")
    own, every = factor_r2(z, f, seed=seed, n_neighbors=n_neighbors)
    if block_of is None:
        rows, cols = linear_sum_assignment(own, maximize=True)
        block_of = cols[np.argsort(rows)]
    block_of = np.asarray(block_of, dtype=int)
    if block_of.shape != (f.shape[1],) or len(set(block_of)) != len(block_of) \
            or block_of.min() < 0 or block_of.max() >= z.shape[1]:
        raise ValueError(f"block_of must give a distinct block in [0, {z.shape[1]}) to each of "
                         f"the {f.shape[1]} factors, got {block_of.tolist()}")
    o = own[np.arange(f.shape[1]), block_of]
    a = every[block_of]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(a >= MIN_EXPLAINED, np.clip(o / a, 0.0, 1.0), 0.0)
    return BlockScores(block_of, o, a, share, own)


# ---------------------------------------------------------------- two runs against each other
@dataclass
class Agreement:
    """Blockwise agreement of two runs' codes of the same units."""

    score: float  # mean of both directions' per-block scores
    per_block: np.ndarray  # (B_a,) a's blocks, a <- b
    per_block_reverse: np.ndarray  # (B_b,) b's blocks, b <- a
    matrix: np.ndarray  # (B_a, B_b) R^2 of a's block j from b's block j'
    match: np.ndarray  # (B_a,) b's block matched to each of a's (-1: unmatched)


def _one_way(ya: np.ndarray, xb: list[np.ndarray], n_blocks: int, seed: int,
             n_neighbors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = np.stack([_block_mean(heldout_r2(x, ya, seed=seed, n_neighbors=n_neighbors), n_blocks)
                  for x in xb], axis=1)  # (B_a, B_b)
    rows, cols = linear_sum_assignment(m, maximize=True)
    match = np.full(n_blocks, -1)
    match[rows] = cols
    per = np.zeros(n_blocks)
    for j, jp in zip(rows, cols, strict=True):
        others = np.delete(m[j], jp)
        per[j] = max(m[j, jp] - (others.max() if len(others) else 0.0), 0.0)
    return per, m, match


def block_agreement(z_a, z_b, *, level: str = "block", seed: int = 0,
                    n_neighbors: int = N_NEIGHBORS) -> Agreement:
    """How far each block of one run is predicted by its matched block of the other run
    *beyond* the best other single block (held-out R^2, rank-gaussed dims), averaged over the
    blocks of both runs. 1: blocks correspond one to one; 0: every block of one run predicts a
    block of the other as well as its match does (entangled codes)."""
    z_a, _ = check_codes(z_a, None, level)
    z_b, _ = check_codes(z_b, None, level)
    if z_a.shape[0] != z_b.shape[0]:
        raise ValueError(f"sample counts differ: {z_a.shape[0]} vs {z_b.shape[0]}")
    z_a, z_b = _as_blocks(z_a, level), _as_blocks(z_b, level)
    n = len(z_a)
    ga = [rank_gauss(z_a[:, j]) for j in range(z_a.shape[1])]
    gb = [rank_gauss(z_b[:, j]) for j in range(z_b.shape[1])]
    per_ab, m, match = _one_way(np.hstack(ga).reshape(n, -1), gb, z_a.shape[1], seed, n_neighbors)
    per_ba, _, _ = _one_way(np.hstack(gb).reshape(n, -1), ga, z_b.shape[1], seed, n_neighbors)
    score = float(np.mean(np.r_[per_ab, per_ba]))
    return Agreement(score, per_ab, per_ba, m, match)


# ---------------------------------------------------------------- named scores for tables
MEASURES = ("own_factor_r2", "exclusivity")
AGREEMENT = "agreement_between_seeds"


def identifiability_scores(z, factors, *, level: str = "block", block_of=None, seed: int = 0
             ) -> dict[str, float]:
    """Flat named scores (means over factors) for a tidy results table."""
    s = block_scores(z, factors, level=level, block_of=block_of, seed=seed)
    return {"own_factor_r2": float(s.own_r2.mean()), "exclusivity": float(s.exclusivity.mean())}
