"""Control codes (oracle, entangled nulls, partial) and the rule that says which metrics are
discriminative (~3 s). The counterfactual controls are tested in test_counterfactual.py, beside
the probe they need."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from icm_utils.evaluation import controls
from icm_utils.evaluation.controls import (
    KINDS,
    NULL_LINEAR,
    NULL_NONLINEAR,
    ORACLE,
    PARTIAL,
    ControlCode,
    control_gaps,
    discriminative,
    label,
)
from icm_utils.evaluation.identifiability import heldout_r2, rank_gauss

N, F = 600, 4


@pytest.fixture(scope="module")
def f():
    rng = np.random.default_rng(0)
    return np.c_[rng.uniform(0, 30, N), rng.normal(5, 2, N), rng.exponential(1, N),
                 rng.uniform(-1, 1, N)]  # physical units of different scales


@pytest.mark.parametrize("kind", KINDS)
def test_codes_are_fixed_maps_of_the_factors(f, kind):
    z = ControlCode(kind, 3, seed=0)(f)
    assert z.shape == (N, F, 3) and np.isfinite(z).all()
    np.testing.assert_array_equal(z, ControlCode(kind, 3, seed=0)(f))  # same seed, same map
    assert not np.allclose(z, ControlCode(kind, 3, seed=1)(f))
    # one map for any units: a subset coded with the full set's statistics is the same code
    np.testing.assert_allclose(ControlCode(kind, 3, 0)(f[:50], ref=f), z[:50], atol=1e-12)


def test_oracle_blocks_are_monotone_functions_of_their_own_factor(f):
    z = ControlCode(ORACLE, 3, 0)(f)
    for i in range(F):
        for d in range(3):
            assert abs(spearmanr(z[:, i, d], f[:, i]).statistic) == pytest.approx(1.0)
        assert abs(spearmanr(z[:, i, 0], f[:, (i + 1) % F]).statistic) < 0.2
    assert not np.allclose(np.abs(np.corrcoef(z[:, 0].T)), 1)  # k different functions


@pytest.mark.parametrize("kind", [NULL_LINEAR, NULL_NONLINEAR])
def test_every_null_block_is_an_invertible_map_of_all_factors(f, kind):
    code = ControlCode(kind, F, 0)
    z = code(f)
    eps = 1e-6 * f.std(0)
    jac = np.stack([(code(f + eps[i] * np.eye(F)[i], ref=f) - z) / eps[i] for i in range(F)],
                   axis=-1)  # (N, blocks, k, F) by finite differences
    for j in range(F):
        # full-rank Jacobian at every unit (locally invertible), and every factor enters it
        assert (np.linalg.svd(jac[:, j], compute_uv=False)[:, -1] > 1e-3).all()
        assert abs(np.corrcoef(z[:, j, 0], f[:, j])[0, 1]) < 0.95


def test_partial_code_has_one_entangled_block(f):
    z, o = ControlCode(PARTIAL, 2, 0)(f), ControlCode(ORACLE, 2, 0)(f)
    np.testing.assert_array_equal(z[:, 1:], o[:, 1:])
    np.testing.assert_array_equal(z[:, 0], ControlCode(NULL_LINEAR, 2, 0)(f)[:, 0])
    series = controls.mixing_series(f, 2, [0.0, 1.0], seed=0)
    np.testing.assert_allclose(series[0], o)
    assert heldout_r2(rank_gauss(f[:, 1]), series[1][:, 0]).min() > 0.1  # carries factor 1


def test_labels_and_refusals():
    assert label(ORACLE) == "control:oracle" and controls.is_control("control:oracle")
    assert not controls.is_control("icm_vae") and not controls.is_control(None)
    with pytest.raises(ValueError, match="kind"):
        ControlCode("nope", 2)
    with pytest.raises(ValueError, match="k must"):
        ControlCode(ORACLE, 0)


# ---------------------------------------------------------------- the rule
def _tidy(values: dict) -> pd.DataFrame:
    rows = [("d", model, str(s), metric, v + 0.01 * s)
            for (model, metric), v in values.items() for s in (0, 1)]
    return pd.DataFrame(rows, columns=["dataset", "model", "seed", "metric", "value"])


def test_gap_is_oracle_minus_the_best_null_and_models_do_not_count():
    df = _tidy({(label(ORACLE), "good"): 0.95, (label(NULL_LINEAR), "good"): 0.40,
                (label(NULL_NONLINEAR), "good"): 0.60, (label(ORACLE), "bad"): 1.0,
                (label(NULL_LINEAR), "bad"): 0.98, (label(NULL_NONLINEAR), "bad"): 0.5,
                (label(PARTIAL), "bad"): 0.1, ("m", "good"): 5.0, ("m", "bad"): 5.0,
                (label(ORACLE), "orphan"): 1.0})  # no null: no gap, no verdict
    g = control_gaps(df).set_index("metric")
    assert list(g.index) == ["good", "bad"]
    assert g.loc["good", "gap"] == pytest.approx(0.35)  # 0.955 - 0.605
    assert g.loc["good", "best_null"] == label(NULL_NONLINEAR)
    assert g.loc["bad", "gap"] == pytest.approx(0.02)  # the partial code is not a null
    assert discriminative(df) == {("d", "good"): True, ("d", "bad"): False}
    assert discriminative(df, min_gap=0.4) == {("d", "good"): False, ("d", "bad"): False}
    assert control_gaps(df[~df["model"].map(controls.is_control)]).empty


def test_gap_for_errors_where_lower_is_better():
    df = _tidy({(label("sim"), "err"): 0.05, (label("nothing"), "err"): 1.2,
                (label("sim"), "flat"): 0.05, (label("nothing"), "flat"): 0.05})
    g = control_gaps(df, oracle="sim", nulls=("nothing",),
                     lower_is_better=("err", "flat")).set_index("metric")
    assert g.loc["err", "gap"] == pytest.approx(1.15) and g.loc["err", "discriminative"]
    assert g.loc["flat", "gap"] == pytest.approx(0.0) and not g.loc["flat", "discriminative"]


class _ZeroProbe:
    """Reads every image as zeros: enough to test which rows and images a control produces."""

    def __init__(self, n):
        self.n = n

    def predict(self, x):
        return np.zeros((len(x), self.n))


@pytest.mark.parametrize("noise_std", [0.0, 2.0])
def test_no_abduction_control_only_on_noisy_data_and_differs_from_the_truth(noise_std):
    from icm_utils.data.datasets import load_dataset
    from icm_utils.evaluation import counterfactual as cf

    ds = load_dataset("pendulum", mode="random", n=200, resolution=32, noise_std=noise_std,
                      seed=0)
    cfset = cf.make_counterfactual_set(ds, n_units=12, seed=0)
    rows = controls.counterfactual_controls(cfset, _ZeroProbe(ds.graph.n), np.ones(ds.graph.n),
                                            ds.graph, scm=ds.scm)
    mse = rows.groupby("model")["image_mse"].mean()
    assert mse["control:simulator"] == 0.0
    if noise_std == 0:
        assert "control:no_abduction" not in mse.index  # counterfactual == intervention here
    else:  # each unit's own noise is dropped: its shadow is drawn elsewhere than the truth
        assert mse["control:no_abduction"] > 0.0
        rows_na = rows[rows["model"] == "control:no_abduction"]
        assert len(rows_na) == len(rows[rows["model"] == "control:simulator"])
