"""Collapse scores: dead dims, the affine flow's log-slope cap, a constant code, the CLI."""
import numpy as np
import pytest
import torch

from icm_utils.data.graph import PENDULUM_GRAPH
from icm_utils.model.models import build_model
from icm_utils.studies.collapse import collapse_scores, control_rows, dead_dims, main

R, N = 32, 200
MEAN, STD = [0.0, 1.0, 8.0, 10.0], [0.5, 0.4, 2.5, 4.0]


def make(name):
    torch.manual_seed(0)
    return build_model(name, PENDULUM_GRAPH, R, k=2, label_mean=MEAN, label_std=STD,
                       width=8, hidden=8)


def test_dead_dims_known_answer():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(N, 2))
    z = np.stack([np.tanh(f[:, 0]), np.full(N, 3.0), rng.normal(size=N), f[:, 1] ** 3], 1)
    assert dead_dims(z, f).tolist() == [False, True, True, False]


def test_affine_flow_log_slope_is_capped_at_one():
    """The official sigmoid-bounded flow: every slope exp(s) in (1, e), so log-slope in (0, 1)."""
    x = torch.rand(N, 3, R, R)
    u = np.random.default_rng(1).normal(size=(N, 4))
    s = collapse_scores(make("icm_vae"), x, u, PENDULUM_GRAPH.names)
    assert 0.0 < s["log_slope"] < 1.0
    assert s["dims"] == 8 and s["weakest"] in PENDULUM_GRAPH.names
    assert s["eps_sd"] > 0 and s["z_sd"] > s["eps_sd"]  # slopes > 1 widen the code


def test_constant_code_is_all_dead(monkeypatch):
    m = make("icm_vae_spline")
    monkeypatch.setattr(m, "abduct", lambda x: torch.zeros(len(x), 4, 2))
    u = np.random.default_rng(2).normal(size=(N, 4))
    s = collapse_scores(m, torch.rand(N, 3, R, R), u)
    assert s["dead_dims"] == s["dims"] == 8
    assert s["eps_sd"] == 0.0 and s["weakest_own_r2"] == 0.0


def test_cli_rejects_a_folder_without_runs(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    (tmp_path / "models").mkdir()
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--datasets", "pendulum"])


def test_control_rows_separate_oracle_null_and_constant():
    f = np.random.default_rng(3).uniform(-1, 1, size=(N, 4))
    rows = {r["model"]: r for r in control_rows("d", f, list("abcd"), k=2)}
    assert rows["control:oracle"]["dead_dims"] == 0
    assert rows["control:oracle"]["weakest_own_r2"] > 0.9
    assert rows["control:null_linear"]["weakest_own_r2"] < 0.6  # every block mixes all factors
    assert rows["control:constant"]["dead_dims"] == rows["control:constant"]["dims"] == 8
    assert rows["control:constant"]["weakest_own_r2"] == 0.0
