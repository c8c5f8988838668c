"""The notebook parameter schema: the runs a notebook's parameters ask for, the folders and seed
its setup cell resolves, and the messages that name the parameter. (plan() refusing every bad
value of every declared parameter: tests/test_reproduce.py.)"""
from pathlib import Path

import pytest

from icm_utils.core.paths import RUNS_DIR
from icm_utils.training.params import ParameterError, check, run_configs, setup


def test_the_run_grid_is_datasets_by_models_by_seeds_each_under_its_recipe():
    p = {"DATASETS": ["pendulum", "flow"], "MODELS": ["icm_vae", "causal_vae"], "SEEDS": [0, 1],
         "EPOCHS": 3, "RECIPE": {"icm_vae": "independent_noise"}, "SEED": 7}
    cfgs = check(p)
    assert [(c.dataset, c.model, c.seed) for c in cfgs][:3] == [
        ("pendulum", "icm_vae", 0), ("pendulum", "icm_vae", 1), ("pendulum", "causal_vae", 0)]
    assert len(cfgs) == 8 and {c.epochs for c in cfgs} == {3}
    # a model the dict does not name trains on the default recipe; SEED seeds the notebook only
    assert {c.model: c.recipe for c in cfgs} == {"icm_vae": "independent_noise",
                                                 "causal_vae": "official_joint"}


def test_one_run_notebooks_and_graph_notebooks():
    (cfg,) = check({"DATASET": "flow", "MODEL": "beta_vae", "SEED": 3, "K": 2})
    assert (cfg.dataset, cfg.model, cfg.seed, cfg.k) == ("flow", "beta_vae", 3, 2)
    cfgs = check({"DATASET": "pendulum", "GRAPHS": ["true", "empty"], "SEEDS": [0]})
    assert [(c.model, c.graph) for c in cfgs] == [("icm_vae", "true"), ("icm_vae", "empty")]


def test_notebooks_that_train_nothing_still_check_what_they_build():
    runs, checked = run_configs({"RESOLUTION": 48, "K": 4, "FLOW": "spline"})
    assert runs == [] and checked[0].model == "icm_vae_spline" and checked[0].resolution == 48
    with pytest.raises(ParameterError, match="RESOLUTION: resolution=100 is not one the nets"):
        check({"RESOLUTION": 100, "FLOW": "affine"})


def test_every_problem_is_named_by_its_parameter_in_one_message():
    with pytest.raises(ParameterError) as e:
        check({"DATASET": "pendulum", "MODEL": "icm_vae", "EPOCHS": 0, "N_UNITS": -2,
               "EPOCH": 5}, where="05_counterfactuals")
    lines = str(e.value).splitlines()
    assert lines[0] == "bad notebook parameters in 05_counterfactuals:"
    assert lines[1].startswith("  - EPOCH: unknown parameter")
    assert lines[2:] == ["  - N_UNITS=-2 must be a positive integer",  # a study setting
                         "  - EPOCHS: epochs must be a positive integer, got 0"]  # TrainConfig's


def test_setup_seeds_and_resolves_the_folders(tmp_path):
    ns = {"DATASET": "pendulum", "MODEL": "icm_vae", "EPOCHS": 1, "SEED": 0, "RUN_DIR": None,
          "FIG_DIR": None, "unrelated": object()}
    run = setup(ns)
    assert run.run_dir == RUNS_DIR / "notebooks" and not run.run_dir_given
    assert run.fig_dir == run.run_dir / "figures" and run.results.is_dir()
    given = setup({**ns, "RUN_DIR": str(tmp_path), "FIG_DIR": str(tmp_path / "f")})
    assert given.run_dir == tmp_path and given.run_dir_given
    assert given.fig_dir == tmp_path / "f" and given.results == tmp_path / "results"
    assert len(given.cfgs) == 1 and given.cfgs[0].epochs == 1
    # notebooks without a run folder (01, 02) save their figures where save_figure puts them
    assert setup({"SEED": 0, "RESOLUTION": 64, "FIG_DIR": None}).fig_dir is None
    assert setup({"SEED": 0, "FIG_DIR": "x"}).fig_dir == Path("x")


def test_a_notebook_showing_your_folder_checks_it_too(tmp_path):
    with pytest.raises(ParameterError, match=r"DATA_DIR: .*nowhere is not a folder"):
        check({"RESOLUTION": 64, "SEED": 0, "DATA_DIR": str(tmp_path / "nowhere")})
    assert check({"RESOLUTION": 64, "SEED": 0, "DATA_DIR": None}) == []
