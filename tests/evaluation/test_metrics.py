"""Known answers for DCI, IRS and MCC on synthetic codes (small N, few trees: seconds)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from icm_utils.core.stats import block_corr, first_canonical_corr, match_blocks
from icm_utils.evaluation.metrics import (
    dci,
    dci_from_importance,
    discretize,
    evaluate_all,
    irs,
    mcc,
    mcc_between,
)

N, F = 1000, 4


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (N, F))


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(N, F))


@pytest.fixture(scope="module")
def warped(factors) -> np.ndarray:
    """Permuted factors under strictly monotone, nonlinear elementwise maps."""
    p = factors[:, [2, 0, 3, 1]]
    return np.c_[np.exp(3 * p[:, 0]), p[:, 1] ** 3, np.tanh(2 * p[:, 2]), -5 * p[:, 3] + 1]


@pytest.fixture(scope="module")
def blocks(factors) -> np.ndarray:
    """(N, F, 3): block i = random rotation of [f_i, small noise, small noise]."""
    rng = np.random.default_rng(2)
    out = np.empty((N, F, 3))
    for i in range(F):
        raw = np.c_[factors[:, i], 0.05 * rng.normal(size=(N, 2))]
        out[:, i] = raw @ special_ortho_group.rvs(3, random_state=10 + i).T
    return out


# ---------------------------------------------------------------- DCI: entropy aggregation
def test_dci_from_importance_identity_and_uniform():
    assert dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_dci_from_importance_hand_computed_2x2():
    # row 0 -> (1, 0): D_0 = 1; row 1 -> (1/2, 1/2): D_1 = 0; rho = (1/3, 2/3) -> D = 1/3.
    # col 0 -> (1/2, 1/2): C_0 = 0; col 1 -> (0, 1): C_1 = 1.
    r = np.array([[1.0, 0.0], [1.0, 1.0]])
    d, c = dci_from_importance(r)
    assert d == pytest.approx(1 / 3)
    assert c == pytest.approx(0.5)  # plain mean over factors (Eastwood's code)
    _, c_w = dci_from_importance(r, completeness_weighting="importance")
    assert c_w == pytest.approx(1 / 3)  # weights (2/3, 1/3) as in disentanglement_lib


def test_dci_from_importance_partial_row_and_zero_row():
    # row (3/4, 1/4): 1 - H_2 = 1 + .75 log2 .75 + .25 log2 .25; the zero row carries no weight
    d, c = dci_from_importance(np.array([[3.0, 1.0], [0.0, 0.0]]))
    assert d == pytest.approx(1 + 0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert c == pytest.approx(1.0)


def test_dci_from_importance_degenerate():
    assert dci_from_importance(np.zeros((3, 2))) == (0.0, 0.0)
    d, c = dci_from_importance(np.array([[1.0, 2.0]]))  # one code: completeness trivially 1
    assert np.isfinite(d) and c == 1.0
    with pytest.raises(ValueError):
        dci_from_importance(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError):
        dci_from_importance(np.eye(2), completeness_weighting="median")


# ---------------------------------------------------------------- DCI: end to end
def test_dci_perfect_on_true_factors(factors):
    r = dci(factors, factors)
    assert r.disentanglement > 0.97 and r.completeness > 0.97
    assert r.informativeness > 0.98 and r.r2.shape == (F,)
    assert r.importance.shape == (F, F) and np.all(r.importance >= 0)


def test_dci_noise_is_near_chance(factors, noise):
    r = dci(noise, factors)
    assert r.disentanglement < 0.2 and r.completeness < 0.2
    assert r.informativeness < 0.05


def test_dci_invariant_to_permutation_and_monotone_warp(factors, warped):
    r = dci(warped, factors)
    assert r.disentanglement > 0.97 and r.completeness > 0.97 and r.informativeness > 0.98
    assert np.argmax(r.importance, axis=0).tolist() == [1, 3, 0, 2]


def test_dci_mixing_scores_lower_than_identity(factors):
    f2 = factors[:, :2]
    mixed = np.c_[f2[:, 0] + f2[:, 1], f2[:, 0] - f2[:, 1]]
    assert dci(mixed, f2).disentanglement < dci(f2, f2).disentanglement - 0.5


def test_dci_is_seeded_and_handles_constant_code(factors):
    z = np.c_[factors, np.zeros(N)]
    a, b = dci(z, factors, seed=3), dci(z, factors, seed=3)
    assert a.disentanglement == b.disentanglement
    assert np.all(np.isfinite(a.importance)) and a.importance[-1].sum() == 0


def test_dci_block_level(factors, blocks):
    r = dci(blocks, factors, level="block")
    assert r.importance.shape == (F, F)
    assert r.disentanglement > 0.9 and r.completeness > 0.9 and r.informativeness > 0.9
    flat = dci(blocks, factors, level="dim")  # 3-D codes flattened at dim level
    assert flat.importance.shape == (3 * F, F)


# ---------------------------------------------------------------- IRS
def test_discretize_quantile_bins_and_discrete_passthrough():
    x = np.arange(100.0)
    b = discretize(x, 10)[:, 0]
    assert np.bincount(b).tolist() == [10] * 10  # equal frequency
    assert discretize(np.array([5.0, 7.0, 5.0, 9.0]), 10)[:, 0].tolist() == [0, 1, 0, 2]


def test_irs_true_factors_near_one(factors):
    # continuous factors: the bin width is a resolution floor, ~1 - 1/n_bins for uniform ones
    r10, r20 = irs(factors, factors, n_bins=10), irs(factors, factors, n_bins=20)
    assert 0.87 < r10.irs < r20.irs and r20.irs > 0.93
    assert r10.parents.tolist() == [0, 1, 2, 3] and r10.per_latent.shape == (F,)
    grid = np.random.default_rng(3).integers(0, 5, (N, F)).astype(float)
    assert irs(grid, grid).irs == pytest.approx(1.0)  # discrete factors: exactly 1


def test_irs_noise_and_mixing_score_lower(factors, noise):
    assert irs(noise, factors).irs < 0.4
    f2 = factors[:, :2]
    mixed = np.c_[f2[:, 0] + f2[:, 1], f2[:, 0] - f2[:, 1]]
    assert irs(mixed, f2).irs < irs(f2, f2).irs - 0.3


def test_irs_constant_latent_dropped_and_block_level(factors, blocks):
    r = irs(np.c_[factors, np.ones(N)], factors)
    assert r.n_active == F and r.parents[-1] == -1 and np.isnan(r.per_latent[-1])
    assert r.irs == pytest.approx(irs(factors, factors).irs)
    rb = irs(blocks, factors, level="block")
    assert rb.per_latent.shape == (F,) and rb.irs > 0.8
    assert rb.parents.tolist() == [0, 1, 2, 3]


# ---------------------------------------------------------------- MCC
def test_mcc_perfect_noise_and_warp(factors, noise, warped):
    assert mcc(factors, factors) == pytest.approx(1.0)
    assert mcc(warped, factors, method="spearman") == pytest.approx(1.0)
    assert mcc(warped, factors) < 0.95  # Pearson sees the nonlinearity
    big = np.random.default_rng(4)
    f_big, z_big = big.uniform(size=(5000, F)), big.normal(size=(5000, 6))
    assert mcc(z_big, f_big) < 0.15 and mcc(z_big, f_big, method="spearman") < 0.15
    assert mcc(np.c_[noise, factors], factors) == pytest.approx(1.0)  # extra latents ignored


def test_mcc_block_level(factors, blocks):
    assert mcc(blocks, factors, level="block") > 0.99
    assert mcc(blocks, factors, level="block", method="spearman") > 0.97
    # first canonical corr of a scalar with a block = multiple correlation sqrt(R^2)
    x = blocks[:, 0]
    beta, *_ = np.linalg.lstsq(np.c_[x, np.ones(N)], factors[:, 1], rcond=None)
    pred = np.c_[x, np.ones(N)] @ beta
    assert first_canonical_corr(factors[:, [1]], x) == pytest.approx(
        abs(np.corrcoef(pred, factors[:, 1])[0, 1]))


def test_match_blocks_known_permutation_and_consistent_with_block_mcc():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(300, 3))
    z = np.stack([np.c_[f[:, 2], -f[:, 2]], rng.normal(size=(300, 2)),
                  np.c_[np.exp(f[:, 0]), f[:, 0] + 0.1 * rng.normal(size=300)]], 1)
    for method in ("pearson", "spearman"):
        block, corr = match_blocks(z, f, method=method)
        np.testing.assert_array_equal(block[[0, 2]], [2, 0])
        assert block[1] == 1  # the only block left
        assert corr[2] == pytest.approx(1.0) and corr[1] < 0.3
        assert corr.mean() == pytest.approx(mcc(z, f, method=method, level="block"))
    with pytest.raises(ValueError, match="at least as many blocks"):
        match_blocks(z[:, :2], f)


def test_match_blocks_is_one_to_one_not_greedy():
    # block 0 holds both factors (corr ~1 with each); block 1 holds a noisy copy of factor 0
    # only. Greedy gives block 0 to factor 0 and leaves factor 1 nothing (total ~1); the
    # Hungarian answer gives block 1 to factor 0 and block 0 to factor 1 (total ~1.7).
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 2000))
    f = np.c_[a, b]
    z = np.stack([np.c_[a, b] + 0.01 * rng.normal(size=(2000, 2)),
                  np.c_[a + rng.normal(size=2000), rng.normal(size=2000)]], 1)
    c = block_corr(z, f)
    assert c[0].argmax() == 0 and c[1].argmax() == 0  # both factors prefer block 0
    block, corr = match_blocks(z, f)
    np.testing.assert_array_equal(block, [1, 0])
    assert corr == pytest.approx([c[0, 1], c[1, 0]]) and corr.sum() > 1.6


def test_mcc_between_seeds(factors, blocks, warped):
    assert mcc_between(factors, warped, method="spearman") == pytest.approx(1.0)
    rng = np.random.default_rng(5)
    mixed = blocks[:, [3, 1, 0, 2]] @ special_ortho_group.rvs(3, random_state=6)  # per-block map
    assert mcc_between(blocks, mixed, level="block") == pytest.approx(1.0)
    assert mcc_between(blocks, rng.normal(size=blocks.shape), level="block") < 0.2
    assert mcc_between(np.c_[factors, np.zeros(N)], factors) == pytest.approx(1.0)


# ---------------------------------------------------------------- evaluate_all + errors
def test_evaluate_all_flat_scores(factors, blocks):
    out = evaluate_all(blocks, factors, level="block", n_estimators=20)
    assert set(out) == {"dci_disentanglement", "dci_completeness", "dci_informativeness",
                        "irs", "mcc_pearson", "mcc_spearman"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in out.values())
    assert out["mcc_pearson"] > 0.99


@pytest.mark.parametrize("call", [
    lambda f: dci(f[:-1], f),  # N mismatch
    lambda f: dci(np.where(f > 0.99, np.nan, f), f),  # NaN
    lambda f: irs(f[:5], f[:5]),  # too few samples
    lambda f: mcc(f[:, :2], f),  # fewer latents than factors
    lambda f: mcc(f, f, method="kendall"),
    lambda f: dci(f, f, level="block"),  # block level needs 3-D codes
    lambda f: irs(f, f, level="blocks"),
    lambda f: irs(f, f, n_bins=1),
    lambda f: mcc_between(f, f[:-1]),
    lambda f: dci(f[:, None, :, None], f),  # 4-D codes
])
def test_bad_inputs_raise(factors, call):
    with pytest.raises(ValueError):
        call(factors)


def test_dci_on_threads_equals_one_thread(factors, blocks):
    """The factors' regressors fitted in parallel give exactly the one-thread result."""
    z = blocks + 0.3 * np.random.default_rng(1).normal(size=blocks.shape)
    one, par = (dci(z, factors, level="block", seed=3, workers=w) for w in (1, 4))
    for a, b in zip(dataclasses.astuple(one), dataclasses.astuple(par)):
        np.testing.assert_array_equal(a, b)
