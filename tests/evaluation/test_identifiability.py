"""Block-level identifiability measures: best value at the oracle, below their bounds at the
entangled nulls, in between (and monotone) for partly entangled codes, invariant to block
permutations and monotone reparameterisations of a block's dims (~5 s)."""
from __future__ import annotations

import numpy as np
import pytest

from icm_utils.evaluation import identifiability as idf
from icm_utils.evaluation.controls import NULLS, ORACLE, ControlCode, mixing_series

N, F, K = 1000, 4, 4
# Bounds the nulls stay under on every dataset measured (docs/metrics.md: own-factor R^2 and
# exclusivity at most 0.56, agreement at most 0.09), with room for other factor distributions.
NULL_BOUND = {"own_factor_r2": 0.65, "exclusivity": 0.65}
AGREEMENT_BOUND = 0.2
AMOUNTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def f():
    return np.random.default_rng(0).uniform(-1, 1, (N, F))


@pytest.fixture(scope="module")
def f_corr():
    """Pendulum-like: two root factors and two deterministic functions of them."""
    r = np.random.default_rng(1).uniform(-1, 1, (N, 2))
    return np.c_[r, np.sin(2 * r[:, 0]) + r[:, 1] ** 2, r.sum(1) + 0.3 * r[:, 0] * r[:, 1]]


def test_oracle_scores_best_even_with_correlated_factors(f, f_corr):
    for factors in (f, f_corr):
        z = ControlCode(ORACLE, K, 0)(factors)
        s = idf.block_scores(z, factors)
        assert s.own_r2.min() > 0.98 and s.exclusivity.min() > 0.98
        assert s.extra_r2.max() < 0.02
        np.testing.assert_array_equal(s.block_of, np.arange(F))  # the matching finds the truth
        assert (idf.identifiability_scores(z, factors, block_of=np.arange(F))
                == idf.identifiability_scores(z, factors))
    agree = idf.block_agreement(ControlCode(ORACLE, K, 0)(f), ControlCode(ORACLE, K, 1)(f))
    assert agree.score > 0.98
    np.testing.assert_array_equal(agree.match, np.arange(F))


@pytest.mark.parametrize("kind", NULLS)
def test_entangled_nulls_stay_below_the_bounds(f, f_corr, kind):
    for factors in (f, f_corr):
        scores = idf.identifiability_scores(ControlCode(kind, K, 0)(factors), factors)
        for m, bound in NULL_BOUND.items():
            assert scores[m] < bound, (m, scores[m])
        # the blocks do carry every factor: what fails is exclusivity, not information
        assert idf.block_scores(ControlCode(kind, K, 0)(factors), factors).all_r2.min() > 0.85
    agree = idf.block_agreement(ControlCode(kind, K, 0)(f), ControlCode(kind, K, 1)(f))
    assert agree.score < AGREEMENT_BOUND
    assert agree.matrix.mean() > 0.4  # blocks do predict the other run's blocks (kNN from a
    # 4-dim block on 500 units is coarse, hence not ~1), but the match no better than the others


def test_one_block_mixed_lies_between_and_is_monotone_in_the_mixing(f):
    own = [idf.identifiability_scores(z, f)["own_factor_r2"] for z in mixing_series(f, K, AMOUNTS, seed=0)]
    assert np.all(np.diff(own) < 0), own
    null = idf.identifiability_scores(ControlCode(NULLS[0], K, 0)(f), f)["own_factor_r2"]
    assert null + 0.2 < own[-1] < own[0] - 0.1  # three of four blocks are still pure
    pairs = zip(mixing_series(f, K, AMOUNTS, seed=0), mixing_series(f, K, AMOUNTS, seed=1),
                strict=True)
    agree = [idf.block_agreement(a, b).score for a, b in pairs]
    assert np.all(np.diff(agree) < 0), agree
    assert AGREEMENT_BOUND < agree[-1] < agree[0] - 0.2


def test_invariant_to_block_permutation_and_monotone_reparameterisation(f):
    z = mixing_series(f, K, [0.5], seed=0)[0]  # one half-mixed block: not a trivial score
    base = idf.identifiability_scores(z, f)
    perm = z[:, [2, 0, 3, 1]]
    warped = z.copy()
    warped[:, 0] = np.c_[np.exp(2 * z[:, 0, 0]), -z[:, 0, 1] ** 3, np.tanh(z[:, 0, 2]),
                         np.arctan(5 * z[:, 0, 3])]
    for other in (perm, warped):
        assert idf.identifiability_scores(other, f) == pytest.approx(base, abs=1e-12)
    z_b = mixing_series(f, K, [0.5], seed=1)[0]
    a = idf.block_agreement(z, z_b).score
    assert idf.block_agreement(perm, z_b[:, [1, 3, 0, 2]]).score == pytest.approx(a, abs=1e-12)
    assert idf.block_agreement(warped, z_b).score == pytest.approx(a, abs=1e-12)


def test_one_dim_blocks_and_dim_level(f):
    """k = 1 (the synthetic SCM's layout): the measures are dim-level ones."""
    oracle = ControlCode(ORACLE, 1, 0)(f)
    assert idf.identifiability_scores(oracle, f)["own_factor_r2"] > 0.98
    null = ControlCode(NULLS[0], 1, 0)(f)  # one random invertible mix, split into 1-dim blocks
    assert idf.identifiability_scores(null, f)["own_factor_r2"] < NULL_BOUND["own_factor_r2"]
    # two random 1-dim projections of 4 factors can correlate by chance: a looser bound (the
    # synthetic SCM's 6 factors give 0.09)
    assert idf.block_agreement(null, ControlCode(NULLS[0], 1, 1)(f)).score < 0.35
    z = ControlCode(ORACLE, K, 0)(f)
    assert idf.identifiability_scores(z, f, level="dim") == pytest.approx(
        idf.identifiability_scores(z.reshape(N, -1, 1), f), abs=1e-12)


def test_engine_and_refusals(f):
    g = idf.rank_gauss(np.c_[np.exp(f[:, 0]), np.ones(N)])
    np.testing.assert_allclose(g[:, 0], idf.rank_gauss(f[:, 0])[:, 0])
    assert np.all(g[:, 1] == 0)  # a constant column carries nothing
    r2 = idf.heldout_r2(f[:, :1], np.c_[np.sin(3 * f[:, 0]), f[:, 1], np.ones(N)])
    assert r2[0] > 0.97 and r2[1] < 0.05 and np.isnan(r2[2])
    dead = ControlCode(ORACLE, K, 0)(f)
    dead[:, 1] = 0.0  # a block that carries nothing scores 0, not NaN
    s = idf.block_scores(dead, f, block_of=np.arange(F))
    assert s.own_r2[1] == 0 and s.exclusivity[1] == 0 and np.isfinite(s.own_r2).all()
    with pytest.raises(ValueError, match="distinct block"):
        idf.block_scores(dead, f, block_of=[0, 0, 1, 2])
    with pytest.raises(ValueError, match="as many blocks"):
        idf.block_scores(dead[:, :2], f)
    with pytest.raises(ValueError, match="sample counts"):
        idf.block_agreement(dead, dead[:500])
