"""The shipped checkpoints load safely and their counterfactuals meet the numbers on their cards."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from icm_utils.explore import pretrained
from icm_utils.training.checkpoint import CheckpointError
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import train_run

ROLES = ("intervened", "descendant")  # the discriminative roles (controls.counterfactual_gaps)


@pytest.mark.parametrize("name", pretrained.SHIPPED)
def test_shipped_checkpoint_is_small_weights_only_and_documented(name):
    f = pretrained.files(name)
    assert f["model"].stat().st_size < 8e6 and f["probe"].stat().st_size < 2e6
    raw = torch.load(f["model"], map_location="cpu", weights_only=True)  # no unpickling needed
    assert raw["optimizer"] == {}  # weights only
    card = json.loads(f["card"].read_text())
    assert card["train"] == pretrained.shipped_config(name).to_dict()  # TRAIN and the name's
    assert card["name"] == name and card["train"]["recipe"] == pretrained.TRAIN["recipe"]
    assert len(card["code_version"]) >= 40


@pytest.mark.parametrize("name", pretrained.SHIPPED)
def test_shipped_counterfactuals_meet_the_card(name):
    """Recompute the card's evaluation from the shipped files: the same units and interventions,
    so only floating-point differences between CPUs remain (tolerance 0.02 label std)."""
    model, probe, card = pretrained.load(name)
    ds = pretrained.dataset_for(card)
    assert card["data_sha256"] == ds.manifest["sha256"]  # what probe_for matches on
    got = pretrained.card_scores(model, probe, ds, card["n_units"])
    want = card["counterfactual_error"]
    for kind in ("all", "root", "non-root"):
        for row in ("icm_vae", "control:do_nothing", "control:simulator"):
            for role in ROLES:
                if role in want[kind][row]:
                    assert got[kind][row][role] == pytest.approx(want[kind][row][role], abs=0.02)
    # and the model moves what an intervention on a root moves: the intervened variable far
    # better than doing nothing, its descendants better
    root = got["root"]
    assert root["icm_vae"]["intervened"] < root["control:do_nothing"]["intervened"] - 0.5
    assert root["icm_vae"]["descendant"] < root["control:do_nothing"]["descendant"] - 0.2


def test_probe_for_reads_the_shipped_probe_only_for_the_same_fit_on_the_same_data(monkeypatch):
    card = json.loads(pretrained.files("pendulum")["card"].read_text())
    same = SimpleNamespace(manifest={"sha256": card["data_sha256"]},
                           scm=SimpleNamespace(name="pendulum"))
    probe, name = pretrained.shipped_probe(same, epochs=card["probe_epochs"], seed=0)
    shipped = pretrained.load("pendulum")[1]
    assert name in ("pendulum", "pendulum_objects")  # both were fitted on the Pendulum grid
    assert all(torch.equal(a, b) for a, b in zip(probe.state_dict().values(),
                                                shipped.state_dict().values()))
    # another epoch count, seed or data: no shipped probe, so probe_for fits one
    assert pretrained.shipped_probe(same, epochs=card["probe_epochs"] + 1)[0] is None
    assert pretrained.shipped_probe(same, epochs=card["probe_epochs"], seed=1)[0] is None
    other = SimpleNamespace(manifest={"sha256": "0" * 64}, scm=SimpleNamespace(name="pendulum"))
    assert pretrained.shipped_probe(other)[0] is None
    fits = []
    monkeypatch.setattr(pretrained, "fit_probe", lambda ds, **kw: fits.append(kw) or "fitted")
    assert pretrained.probe_for(same, epochs=card["probe_epochs"]) is not None and not fits
    assert pretrained.probe_for(other) == "fitted"
    assert pretrained.probe_for(same, n_observational=100) == "fitted"  # a subset: not the fit
    assert pretrained.probe_for(same, epochs=card["probe_epochs"], reuse=False) == "fitted"
    assert [f["n_observational"] for f in fits] == [None, 100, None]


def test_a_changed_file_is_refused(tmp_path):
    shutil.copytree(pretrained.PRETRAINED_DIR / "pendulum", tmp_path / "pendulum")
    with open(tmp_path / "pendulum" / "probe.pt", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(CheckpointError, match="SHA-256"):
        pretrained.load("pendulum", tmp_path)
    with pytest.raises(ValueError, match="no shipped checkpoint"):
        pretrained.files("circuit")
    with pytest.raises(ValueError, match="no shipped checkpoint"):
        pretrained.shipped_config("circuit")


def test_run_explorer_opens_the_model_a_run_folder_holds(tmp_path):
    """The runner's last line points here: the explorer on the ICM-VAE it just trained."""
    cfg = TrainConfig(epochs=1, n_train=64, resolution=32, seed=1).validate()
    train_run(cfg, tmp_path, progress=False)
    ex = pretrained.run_explorer(tmp_path, "pendulum", seed=1)
    assert ex.graph.names[0] == "pendulum_angle" and ex.model.name == "icm_vae"
    with pytest.raises(FileNotFoundError, match="no finished icm_vae run on pendulum \\(seed 0\\)"):
        pretrained.run_explorer(tmp_path, "pendulum", seed=0)
