"""Correlation statistics with known answers. match_blocks (known permutation, one-to-one not
greedy) and block_corr are pinned in tests/evaluation/test_metrics.py beside the MCC they share."""
import numpy as np
import pytest

from icm_utils.core.stats import MIN_SAMPLES, check_codes, first_canonical_corr, groups, matched_mean


def test_first_canonical_corr_known_answers():
    """1 for a column with itself (and with an invertible linear map of it), ~0 for an
    independent column, 0 for a constant, and the largest correlation for blocks."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4000, 1))
    assert first_canonical_corr(a, a) == pytest.approx(1.0)
    assert first_canonical_corr(a, -3 * a + 2) == pytest.approx(1.0)
    assert first_canonical_corr(a, b) < 0.05
    assert first_canonical_corr(a, np.full((4000, 1), 7.0)) == 0.0
    # a block holding a (mixed with noise by an invertible map) and a constant column
    block = np.c_[a, b, np.ones_like(a)] @ np.array([[1.0, 2.0, 0.0], [1.0, -1.0, 0.0], [0, 0, 1]])
    assert first_canonical_corr(a, block) == pytest.approx(1.0)
    # y = a + b has correlation 1/sqrt(2) with a alone
    assert first_canonical_corr(a + b, a) == pytest.approx(2 ** -0.5, abs=0.02)


def test_matched_mean_is_the_best_one_to_one_assignment():
    c = np.array([[0.9, 0.8], [0.85, 0.1]])  # greedy would take 0.9 then 0.1 (mean 0.5)
    assert matched_mean(c) == pytest.approx((0.8 + 0.85) / 2)


def test_groups_split_dims_or_blocks():
    z = np.arange(2 * 3 * 2).reshape(2, 3, 2)
    assert [g.tolist() for g in groups(z, "block")] == [z[:, j].tolist() for j in range(3)]
    dims = groups(z, "dim")
    assert len(dims) == 6 and dims[3].tolist() == [[3], [9]]


def test_check_codes_returns_floats_and_refuses_unusable_input():
    z = np.random.default_rng(1).normal(size=(MIN_SAMPLES, 2, 3))
    out, f = check_codes(z, np.arange(MIN_SAMPLES), level="block")
    assert out.dtype == float and f.shape == (MIN_SAMPLES, 1)  # one factor as a column
    nan, inf = z.copy(), z.copy()
    nan[3, 1, 0], inf[0, 0, 2] = np.nan, -np.inf
    bad = [
        ((nan,), "NaN"),
        ((inf,), "NaN or inf"),
        ((z, np.full(MIN_SAMPLES, np.nan)), "factors contain NaN"),
        ((z[:MIN_SAMPLES - 1],), f"at least {MIN_SAMPLES} samples"),
        ((z, np.zeros(MIN_SAMPLES + 1)), "samples but factors have"),
        ((z[:, 0], None, "block"), "needs codes shaped"),
        ((z, None, "blocks"), "level must be one of"),
        ((z[:, :, :, None],), r"\(N, D\) or \(N, n_blocks, k\)"),
    ]
    for args, match in bad:
        with pytest.raises(ValueError, match=match):
            check_codes(*args)
