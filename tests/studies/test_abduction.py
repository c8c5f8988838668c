"""Counterfactuals on data with mechanism noise: the config and the study's rows."""
from __future__ import annotations

from icm_utils.studies import abduction
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import noisy_config


def test_study_scores_the_model_beside_three_controls(tmp_path):
    cfg = noisy_config(TrainConfig(epochs=1, n_train=64, resolution=32), 2.0, n_random=300)
    rows = abduction.study(tmp_path, cfg, n_units=6, probe_epochs=1, n_probe=64)
    assert set(rows["model"]) == {"icm_vae", "control:do_nothing", "control:simulator",
                                  "control:no_abduction"}
    mse = rows.groupby("model")["image_mse"].mean()
    assert mse["control:simulator"] == 0 and mse["control:no_abduction"] > 0
