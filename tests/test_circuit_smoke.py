"""The path of a user with CausalCircuit's shards, on fixture shards in the published layout:
config checks, a few training steps, the identifiability table, counterfactuals on pairs."""
import numpy as np
import pandas as pd
import pytest
import torch
from circuit_fixture import write_shards

from icm_utils.data.circuit_data import load_pairs
from icm_utils.evaluation import analysis, controls
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation import counterfactual_plots as cfplots
from icm_utils.evaluation.controls import DO_NOTHING, SIMULATOR, label
from icm_utils.evaluation.probe import fit_probe
from icm_utils.training.config import TrainConfig, dataset_fields
from icm_utils.training.runs import load_run, load_training_data, run_dir_for, train_run

RES = 32


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("circuit") / "shards"
    write_shards(folder, n_train=(40, 40), n_test=40, resolution=RES)
    return folder


def config(folder, model="icm_vae", mode="grid"):
    # the circuit profile's settings, scaled down: official recipe, beta -> 0.05
    return TrainConfig(dataset="circuit", model=model, resolution=RES, k=2, batch_size=16,
                       epochs=1, recipe="official", beta_max=0.05,
                       **dataset_fields("circuit", str(folder), mode))


def test_bad_folder_stops_the_run_before_any_training(tmp_path, shards):
    cfg = config(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"empty does not exist.*train\*\.npz.*test\.npz"):
        train_run(cfg, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match=r"data_mode='random' is not one of \('grid', 'official'\)"):
        config(shards, mode="random").validate()


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("runs")
    cfgs = [config(shards, m) for m in ("icm_vae", "beta_vae")]
    status = [train_run(c, root, progress=False) for c in cfgs]
    return root, cfgs, status


@pytest.fixture(scope="module")
def monkeypatch_module(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr("icm_utils.core.paths.DATA_DIR", tmp_path_factory.mktemp("cache"))  # decoded-image cache
    yield mp
    mp.undo()


def test_training_runs_and_is_then_skipped(trained):
    root, cfgs, status = trained
    assert [s["status"] for s in status] == ["done", "done"]
    assert np.isfinite([s["final_loss"] for s in status]).all()
    ds, idx = load_training_data(cfgs[0])
    assert len(idx) == 80 and ds.images.shape[1:] == (RES, RES, 3)
    assert train_run(cfgs[0], root, progress=False)["status"] == "skipped"
    # the run's config records where its data came from
    done = (run_dir_for(root, cfgs[0]) / "done.json").read_text()
    assert str(cfgs[0].data_dir) in done


def test_identifiability_table_with_controls(trained):
    root, cfgs, _ = trained
    codes = analysis.encode_runs(root, cfgs, split="test")
    # the controls the published tables carry, two of them to stay fast
    codes += analysis.control_codes(codes, kinds=("oracle", "null_linear"), seeds=(0,))
    scores = analysis.score_codes(codes, dim_metrics=())
    assert set(scores["dataset"]) == {"circuit"}
    assert set(scores["model"]) == {"icm_vae", "beta_vae", "control:oracle", "control:null_linear"}
    assert codes[0].codes.shape == (40, 4, 2)  # the 40 test states, 4 blocks of k = 2
    mcc = scores[scores["metric"] == "mcc_spearman"].set_index("model")["value"]
    assert mcc["control:oracle"] == pytest.approx(1.0, abs=1e-3)  # the test states' labels
    assert scores["value"].notna().all()
    table = analysis.wide_summary(analysis.summary_table(scores), ["mcc_spearman", "irs"])
    assert list(table.columns) == ["mcc_spearman", "irs"] and len(table) == 4


def test_counterfactuals_on_the_shards_pairs(trained):
    root, cfgs, _ = trained
    ds = load_training_data(cfgs[0])[0]
    pairs = load_pairs(ds, "test", n_per_variable=3)
    cfset = cf.counterfactual_set(ds, n_units=3)  # the same pairs, through the one scoring path
    probe = fit_probe(ds, epochs=1)
    std = ds.label_stats()[1]
    model = load_run(root, cfgs[0])[0]
    rows = cf.evaluate_counterfactuals(model, cfset, probe, std, "icm_vae")
    ctrl = controls.counterfactual_controls(cfset, probe, std, ds.graph)
    n_targets = len(set(pairs.targets))
    assert len(rows) == n_targets * 4 and rows["factor_error"].notna().all()
    # known answers: doing nothing leaves exactly the pre/post image difference; the simulator
    # control is the true post image, so its image error is 0
    nothing = ctrl[ctrl["model"] == label(DO_NOTHING)].groupby("target")["image_mse"].first()
    for j, name in enumerate(ds.graph.names):
        u = pairs.targets == j
        if u.any():
            diff = (pairs.pre_images[u] / 255.0 - pairs.post_images[u] / 255.0) ** 2
            assert nothing[name] == pytest.approx(diff.mean(), rel=1e-5)
    assert (ctrl[ctrl["model"] == label(SIMULATOR)]["image_mse"] == 0).all()
    summary = cf.role_summary(pd.concat([rows, ctrl], ignore_index=True))
    assert set(summary["model"]) == {"icm_vae", label(DO_NOTHING), label(SIMULATOR)}
    # no simulator: the picture is factual / model / recorded post images of a few pairs
    fig = cfplots.intervention_figure(model, ds, cfset)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["factual", "model", "true"]
    assert len(fig.axes) == 3 * sum(min(2, len(cfset.unit_index(t)))
                                    for t in range(len(cfset.targets)))
    assert "intervened" in summary.columns and "non-descendant" in summary.columns


class _Oracle(torch.nn.Module):
    """Answers every counterfactual with the true post-intervention image (by order)."""

    def __init__(self, pairs):
        super().__init__()
        self.queue = [torch.as_tensor(pairs.post_images[pairs.targets == j]).permute(0, 3, 1, 2)
                      .float() / 255 for j in range(pairs.graph.n) if (pairs.targets == j).any()]
        self.dos = []

    def counterfactual(self, x, do, units="label"):
        self.dos.append(do)
        out = self.queue.pop(0)
        assert out.shape == x.shape
        return out, torch.zeros(len(out), 4, 1)


def test_model_rows_line_up_with_the_true_post_images(trained):
    root, cfgs, _ = trained
    ds = load_training_data(cfgs[0])[0]
    pairs = load_pairs(ds, "test")
    cfset = cf.pairs_set(pairs)
    probe = fit_probe(ds, n_observational=16, epochs=1)
    std = ds.label_stats()[1]
    oracle = _Oracle(pairs)
    rows = cf.evaluate_counterfactuals(oracle, cfset, probe, std, "oracle", graph=ds.graph)
    sim = controls.counterfactual_controls(cfset, probe, std, ds.graph).query(
        "model == @label(@SIMULATOR)")
    cols = ["target", "variable", "role", "factor_error", "image_mse"]
    pd.testing.assert_frame_equal(rows[cols].reset_index(drop=True),
                                  sim[cols].reset_index(drop=True))
    # each do() sets the intervened variable to its post-intervention values, pair by pair
    first = oracle.dos[0]
    (name, value), = first.items()
    j = ds.graph.index(name)
    np.testing.assert_allclose(value.numpy(), pairs.post_labels[pairs.targets == j, j])


def test_robustness_on_pairs(trained):
    root, cfgs, _ = trained
    ds = load_training_data(cfgs[0])[0]
    cfset = cf.pairs_set(load_pairs(ds, "test"))
    ctrl = controls.robustness_controls(cfset, ds.graph, k=2)
    oracle = ctrl[ctrl["model"] == "control:oracle"]["robustness"]
    assert np.allclose(oracle, 1.0)  # an oracle code moves only where the graph allows
    mv = cf.block_movement(load_run(root, cfgs[0])[0], cfset)
    assert mv.shape == (4, 4) and np.isfinite(mv).all()
