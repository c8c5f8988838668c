"""One run's codes beside the factors: evenly spread subsets, one run per model, and the block
each factor pairs with."""
import numpy as np

from icm_utils.evaluation.codes import RunCodes, blocks_of, first_seed, pick


def _rc(model="icm_vae", seed=0, codes=None, factors=None, aligned=False, dataset="pendulum"):
    codes = np.zeros((30, 3, 2)) if codes is None else codes
    factors = np.zeros((len(codes), 3)) if factors is None else factors
    return RunCodes(dataset, model, seed, codes, factors, ["a", "b", "c"], aligned)


def test_pick_spreads_evenly_and_keeps_everything_when_asked_for_enough():
    idx = np.arange(100, 110)
    assert pick(idx, 4).tolist() == [100, 103, 106, 109]
    assert pick(idx, 1).tolist() == [100]
    assert pick(idx, None) is idx and pick(idx, 10) is idx and pick(idx, 50) is idx


def test_first_seed_keeps_the_lowest_seed_per_dataset_and_model():
    runs = [_rc(seed=2), _rc(seed=0), _rc(seed=1), _rc("beta_vae", 5), _rc(seed=3, dataset="flow")]
    kept = first_seed(runs)
    assert [(r.dataset, r.model, r.seed) for r in kept] == [
        ("pendulum", "icm_vae", 0), ("pendulum", "beta_vae", 5), ("flow", "icm_vae", 3)]


def test_blocks_of_aligned_is_the_identity_else_the_matching():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 3))
    # factor i lives in block perm[i], warped monotonically (Spearman sees it as perfect)
    perm = [2, 0, 1]
    z = rng.normal(size=(200, 3, 2)) * 0.01
    for i, j in enumerate(perm):
        z[:, j, 0] = np.exp(f[:, i])
    assert blocks_of(_rc(codes=z, factors=f)).tolist() == perm
    assert blocks_of(_rc(codes=z, factors=f, aligned=True)).tolist() == [0, 1, 2]
