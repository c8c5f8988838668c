"""Counterfactuals on data with mechanism noise: the config and the study's rows."""
from __future__ import annotations

import pytest

from icm_utils.studies import abduction
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import run_dir_for


def test_noisy_config_keeps_the_run_apart_and_the_grid_size():
    base = TrainConfig(epochs=3, resolution=32)
    cfg = abduction.noisy_config(base, 2.0)
    assert (cfg.data_mode, cfg.noise_std, cfg.epochs) == ("random", 2.0, 3)
    assert cfg.n_random == 7308  # as many samples as the Pendulum grid
    assert run_dir_for("r", cfg) != run_dir_for("r", base)
    with pytest.raises(ValueError, match="noise_std"):
        abduction.noisy_config(base, -1.0)


def test_study_scores_the_model_beside_three_controls(tmp_path):
    cfg = abduction.noisy_config(TrainConfig(epochs=1, n_train=64, resolution=32), 2.0,
                                 n_random=300)
    rows = abduction.study(tmp_path, cfg, n_units=6, probe_epochs=1, n_probe=64)
    assert set(rows["model"]) == {"icm_vae", "control:do_nothing", "control:simulator",
                                  "control:no_abduction"}
    mse = rows.groupby("model")["image_mse"].mean()
    assert mse["control:simulator"] == 0 and mse["control:no_abduction"] > 0
