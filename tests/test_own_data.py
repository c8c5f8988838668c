"""The path of a user with a folder of their own: a run configured on it is checked before any
training, trains on exactly the arrays the built-in dataset holds when the folder is an export of
it (same weights), and trains on JPEGs of another size."""
import numpy as np
import pytest
import torch

from icm_utils.data.datasets import load_dataset
from icm_utils.data.folder import export_folder
from icm_utils.evaluation.analysis import evaluate_runs
from icm_utils.model.recipes import RECOMMENDED_RECIPE
from icm_utils.training.config import TrainConfig, dataset_fields
from icm_utils.training.runs import is_done, load_run, load_training_data, run_dir_for, train_run

RES = 32
# labels scaled by their training statistics, the only scaling a user's data can have
RUN = dict(model="icm_vae", recipe=RECOMMENDED_RECIPE, hparams={"label_scaling": "learned"},
           resolution=RES, epochs=2, n_train=48, batch_size=16, seed=1)


def test_a_bad_folder_stops_the_run_before_any_data(tmp_path):
    with pytest.raises(ValueError, match="test_a_bad_folder.*: no graph.json or graph.toml"):
        TrainConfig(dataset="own", data_dir=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="dataset='own' needs data_dir"):
        TrainConfig(dataset="own").validate()
    assert dataset_fields("own", "x") == {"data_dir": "x"}


def test_an_exported_builtin_dataset_trains_to_the_same_weights(tmp_path):
    builtin = TrainConfig(dataset="pendulum", data_mode="random", n_random=80, **RUN).validate()
    src = load_training_data(builtin)[0]
    folder = export_folder(src, tmp_path / "export")
    own = TrainConfig(dataset="own", data_dir=str(folder), **RUN).validate()
    (a, ia), (b, ib) = load_training_data(builtin), load_training_data(own)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.test_idx, b.test_idx)
    np.testing.assert_array_equal(ia, ib)  # the seeded training subset too
    train_run(builtin, tmp_path / "runs", progress=False)
    train_run(own, tmp_path / "runs", progress=False)
    wa = load_run(tmp_path / "runs", builtin)[0].state_dict()
    wb = load_run(tmp_path / "runs", own)[0].state_dict()
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_jpegs_of_another_size_train(tmp_path):
    src = load_dataset("flow", "random", resolution=48, n=120, seed=2, cache=False)
    folder = export_folder(src, tmp_path / "jpegs", image_format="jpg", size=70)
    cfg = TrainConfig(dataset="own", data_dir=str(folder), **{**RUN, "epochs": 1}).validate()
    summary = train_run(cfg, tmp_path / "runs", progress=False)
    assert summary["status"] == "done" and np.isfinite(summary["final_loss"])
    model = load_run(tmp_path / "runs", cfg)[0]
    assert model.graph.names == src.graph.names and model.resolution == RES
    # identifiability against the folder's labels, beside the oracle and the entangled nulls
    scores = evaluate_runs(tmp_path / "runs", [cfg], with_controls=True)
    dci = scores[scores["metric"] == "dci_disentanglement"].groupby("model")["value"].mean()
    assert scores["dataset"].eq("own").all()
    assert dci["control:oracle"] > max(dci["control:null_linear"], dci["control:null_nonlinear"])
    assert {"icm_vae", "control:null_linear"} <= set(dci.index)


def test_a_changed_folder_is_trained_again_and_two_folders_keep_their_runs(tmp_path):
    src = load_dataset("pendulum", "random", resolution=RES, n=40, cache=False)
    a, b = export_folder(src, tmp_path / "a"), export_folder(src, tmp_path / "b")
    small = {**RUN, "epochs": 1, "n_train": 16}
    ca, cb = (TrainConfig(dataset="own", data_dir=str(f), **small).validate() for f in (a, b))
    assert run_dir_for(tmp_path / "runs", ca) != run_dir_for(tmp_path / "runs", cb)
    for c in (ca, cb):
        train_run(c, tmp_path / "runs", progress=False)
    assert is_done(tmp_path / "runs", ca) and is_done(tmp_path / "runs", cb)
    (a / "labels.csv").write_text((a / "labels.csv").read_text().replace("train", "test", 3))
    assert not is_done(tmp_path / "runs", ca)  # its data changed: not reused
    assert is_done(tmp_path / "runs", cb)
    assert train_run(ca, tmp_path / "runs", progress=False)["status"] == "done"
