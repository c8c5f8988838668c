"""Run folders: where a config's run lives, which runs are finished, when a saved config is the
same run. (Training, resuming and skipping: tests/training/test_sweep.py and test_loop.py.)"""
import json
from pathlib import Path

import pytest

from icm_utils.training import runs
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import (
    data_key,
    finished_configs,
    finished_runs,
    run_dir_for,
    run_tags,
    same_config,
)


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("{}")
    return folder


def test_run_dir_names_the_graph_data_mode_and_noise():
    root = Path("/r")
    assert run_dir_for(root, TrainConfig(model="beta_vae", seed=3)) == \
        root / "models" / "pendulum" / "beta_vae" / "seed3"
    cfg = TrainConfig(dataset="flow", graph="reversed", data_mode="random", noise_std=0.05)
    assert run_dir_for(root, cfg) == root / "models/flow/icm_vae-graph_reversed-random-noise0.05/seed0"


def test_finished_runs_lists_only_folders_with_done_json_in_order(tmp_path):
    models = tmp_path / "models"
    done = [_touch(models / "pendulum" / "icm_vae" / "seed1", "done.json", "checkpoint.pt"),
            _touch(models / "flow" / "beta_vae" / "seed0", "done.json"),
            _touch(models / "pendulum" / "icm_vae" / "seed0", "done.json")]
    _touch(models / "pendulum" / "icm_vae" / "seed2", "checkpoint.pt", "progress.json")  # running
    _touch(models / "pendulum" / "causal_vae" / "seed0")  # empty
    _touch(models / "pendulum" / "icm_vae" / "notes", "done.json")  # not a seed folder
    assert finished_runs(tmp_path) == sorted(done)
    assert [p.relative_to(models).as_posix() for p in finished_runs(tmp_path)] == [
        "flow/beta_vae/seed0", "pendulum/icm_vae/seed0", "pendulum/icm_vae/seed1"]
    assert finished_runs(tmp_path / "nowhere") == []


def test_finished_runs_of_configs_keep_their_order_and_leave_out_unfinished(tmp_path):
    cfgs = [TrainConfig(seed=s) for s in (2, 0, 1)]
    for c in (cfgs[0], cfgs[2]):
        _touch(run_dir_for(tmp_path, c), "done.json")
    _touch(run_dir_for(tmp_path, cfgs[1]), "checkpoint.pt")
    assert finished_runs(tmp_path, cfgs) == [run_dir_for(tmp_path, cfgs[0]),
                                             run_dir_for(tmp_path, cfgs[2])]


def test_same_config_fills_new_fields_with_defaults_and_rejects_garbage():
    cfg = TrainConfig(epochs=3)
    saved = cfg.to_dict()
    older = {k: v for k, v in saved.items() if k not in ("data_seed", "n_random")}
    assert same_config(saved, cfg) and same_config(older, cfg)
    assert not same_config({**saved, "epochs": 4}, cfg)
    assert not same_config({**saved, "epochz": 3}, cfg)  # unknown field: another code's run
    assert data_key(cfg) == data_key(TrainConfig(epochs=9, seed=5, model="beta_vae"))
    assert data_key(cfg) != data_key(TrainConfig(noise_std=0.1))


def test_run_tags_and_finished_configs_read_runs_by_config_not_folder_name(tmp_path):
    plain = TrainConfig(seed=1)
    noisy = TrainConfig(seed=0, data_mode="random", noise_std=2.0, graph="empty")
    assert run_tags(plain) == [] and run_tags(noisy) == ["graph_empty", "random", "noise2"]
    assert run_dir_for(tmp_path, noisy).parent.name == "icm_vae-" + "-".join(run_tags(noisy))
    for cfg in (plain, noisy, TrainConfig(seed=2)):
        rd = run_dir_for(tmp_path, cfg)
        rd.mkdir(parents=True)
        if cfg.seed != 2:  # seed 2 is unfinished
            (rd / "done.json").write_text(json.dumps({"train": cfg.to_dict()}))
    # folder order, component by component: "icm_vae" before "icm_vae-graph_empty-..."
    assert [c.to_dict() for c in finished_configs(tmp_path)] == [plain.to_dict(), noisy.to_dict()]
    assert [c.to_dict() for c in finished_configs(tmp_path, plain=True)] == [plain.to_dict()]


def test_noisy_config_keeps_the_run_apart_and_the_grid_size():
    base = TrainConfig(epochs=3, resolution=32)
    cfg = runs.noisy_config(base, 2.0)
    assert (cfg.data_mode, cfg.noise_std, cfg.epochs) == ("random", 2.0, 3)
    assert cfg.n_random == 7308  # as many samples as the Pendulum grid
    assert runs.noisy_config(TrainConfig(dataset="flow"), 0.5).n_random == 8100
    assert runs.run_dir_for("r", cfg) != runs.run_dir_for("r", base)
    with pytest.raises(ValueError, match="noise_std"):
        runs.noisy_config(base, -1.0)
