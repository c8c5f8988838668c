"""TrainConfig: refused with every problem named before any data are made; the recipe a run
trains with. (Per-field messages, warm-up weights and data_dir: tests/training/test_loop.py.)"""
import pytest

from icm_utils.model.nets import RESOLUTIONS
from icm_utils.model.recipes import RECIPES
from icm_utils.training import runs
from icm_utils.training.config import TrainConfig, dataset_fields, warmup_weights


def test_a_resolution_the_nets_do_not_take_is_refused_before_any_data(monkeypatch, tmp_path):
    """resolution=100: the message names the allowed sizes, and train_run stops before it loads
    (renders) any data or makes a run folder."""
    assert RESOLUTIONS == (32, 48, 64, 96, 128)
    msg = r"resolution=100 is not one the nets take: \(32, 48, 64, 96, 128\)"
    with pytest.raises(ValueError, match=msg):
        TrainConfig(resolution=100).validate()
    calls = []
    monkeypatch.setattr(runs, "load_training_data", lambda cfg: calls.append(cfg))
    with pytest.raises(ValueError, match=msg):
        runs.train_run(TrainConfig(resolution=100, epochs=1), tmp_path, progress=False)
    assert calls == [] and list(tmp_path.iterdir()) == []
    for r in RESOLUTIONS:
        assert TrainConfig(resolution=r).validate().resolution == r


def test_every_problem_is_named_in_one_error():
    with pytest.raises(ValueError) as info:
        TrainConfig(recipe="offical", graph="upside_down", resolution=100, batch_size=0).validate()
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid training config:"
    assert len(lines) == 5 and all(ln.startswith("  - ") for ln in lines[1:])
    for part in ("recipe='offical'", "graph='upside_down'", "resolution=100", "batch_size"):
        assert sum(part in ln for ln in lines) == 1, part


def test_noise_is_for_generated_datasets_only(tmp_path):
    cfg = TrainConfig(dataset="circuit", data_mode="grid", data_dir=str(tmp_path), noise_std=0.1)
    with pytest.raises(ValueError, match="noise_std applies to generated datasets"):
        cfg.validate()


def test_resolved_recipe_applies_recipe_fields_set_in_hparams():
    assert TrainConfig().resolved_recipe() == RECIPES["official_joint"]
    r = TrainConfig(recipe="official", hparams={"decoder": "joint", "width": 8}).resolved_recipe()
    assert r.decoder == "joint" and r.name == "official[decoder=joint]"
    assert r.prior_parents == RECIPES["official"].prior_parents  # the other fields kept


def test_dataset_fields_fix_circuits_folder_mode_and_official_warm_up():
    assert dataset_fields("pendulum", "x") == {}
    fields = dataset_fields("circuit", "x", "official")
    assert fields == {"data_dir": "x", "data_mode": "official", "ramp_fraction": 0.94}
    # the official circuit schedule: final weights from epoch 94 of 100 on, zero for epochs 0, 1
    cfg = TrainConfig(epochs=100, ramp_fraction=fields["ramp_fraction"], beta_max=0.05)
    assert warmup_weights(1, cfg) == (0.0, 0.0)
    assert warmup_weights(93, cfg)[1] == pytest.approx(0.05 * 92 / 93)
    assert warmup_weights(94, cfg) == (pytest.approx(0.1), pytest.approx(0.05))
