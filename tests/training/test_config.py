"""TrainConfig: refused with every problem named before any data are made; the recipe a run
trains with. (Per-field messages, warm-up weights and data_dir: tests/training/test_loop.py.)"""
import pytest

from icm_utils.model.nets import RESOLUTIONS
from icm_utils.model.recipes import RECIPES
from icm_utils.training import runs
from icm_utils.training.config import TrainConfig


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
