import json
import math

import numpy as np
import pytest
import torch

from icm_utils.data.graph import PENDULUM_GRAPH, CausalGraph
from icm_utils.model.models import build_model
from icm_utils.training import loop
from icm_utils.training.checkpoint import CheckpointError, read_checkpoint
from icm_utils.training.config import TrainConfig, warmup_weights
from icm_utils.training.loop import fit, load_model, run_epoch

RES = 32


def toy_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, RES, RES), generator=g, dtype=torch.uint8)
    labels = torch.randn(n, 4, generator=g) * 5 + 10
    return images, labels


def make(model="icm_vae", **kw):
    cfg = TrainConfig(model=model, resolution=RES, epochs=3, batch_size=16, seed=3, **kw)
    m = build_model(model, PENDULUM_GRAPH, RES, label_mean=[10] * 4, label_std=[5] * 4)
    return cfg, m


def params(m):
    return torch.cat([p.detach().flatten() for p in m.parameters()])


@pytest.mark.parametrize("model", ["icm_vae", "beta_vae"])
def test_same_seed_same_numbers(model):
    x, u = toy_data()
    torch.manual_seed(0)
    cfg, m1 = make(model)
    h1 = fit(m1, x, u, cfg, progress=False)
    torch.manual_seed(0)
    cfg, m2 = make(model)
    h2 = fit(m2, x, u, cfg, progress=False)
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]
    assert torch.equal(params(m1), params(m2))
    assert len(h1) == 3 and {"rec", "kl_eps", "logdet", "kl_prior", "alpha", "beta"} <= set(h1[0])


def test_fit_runs_the_shared_epoch_driver(monkeypatch):
    x, u = toy_data()
    calls = []

    def spy(model, opt, batches, epoch, weights, **kw):
        calls.append((epoch, weights(epoch)))
        return run_epoch(model, opt, batches, epoch, weights, **kw)

    monkeypatch.setattr(loop, "run_epoch", spy)
    cfg, m = make()
    hist = fit(m, x, u, cfg, progress=False)
    assert calls == [(e, warmup_weights(e, cfg)) for e in range(3)]
    assert [(h["epoch"], (h["alpha"], h["beta"])) for h in hist] == [(e + 1, w) for e, w in calls]


def test_run_epoch_row():
    x, u = toy_data(n=16)
    cfg, m = make()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m.eval()  # the driver trains in training mode
    batches = [(x[:8].float() / 255, u[:8]), (x[8:].float() / 255, u[8:])]
    row = run_epoch(m, opt, batches, 4, lambda e: (0.01 * e, 0.1 * e), detail="test")
    assert m.training and (row["epoch"], row["alpha"], row["beta"]) == (5, 0.04, 0.4)
    assert set(row) == {"epoch", "alpha", "beta", "loss", "rec", "kl_eps", "logdet", "kl_prior",
                        "indep", "seconds"} and row["seconds"] > 0


def test_resume_equals_uninterrupted(tmp_path):
    x, u = toy_data()
    torch.manual_seed(0)
    cfg, m_full = make()
    h_full = fit(m_full, x, u, cfg, run_dir=tmp_path / "full", progress=False)

    torch.manual_seed(0)
    cfg, m_a = make()
    fit(m_a, x, u, cfg, run_dir=tmp_path / "cut", progress=False, stop_after=1)  # "crash" after 1 epoch
    assert read_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 1
    pr = json.loads((tmp_path / "cut" / "progress.json").read_text())
    assert (pr["epoch"], pr["epochs"]) == (1, 3) and pr["epoch_seconds"] > 0
    cfg, m_b = make()  # a fresh process: new model object, weights come from the checkpoint
    h_res = fit(m_b, x, u, cfg, run_dir=tmp_path / "cut", progress=False)
    assert [r["loss"] for r in h_res] == pytest.approx([r["loss"] for r in h_full], rel=0, abs=0)
    assert torch.equal(params(m_b), params(m_full))
    loaded, ckpt = load_model(tmp_path / "cut" / "checkpoint.pt")
    assert torch.equal(params(loaded), params(m_full)) and ckpt["epoch"] == 3


def test_loading_into_another_graph_is_a_clear_error(tmp_path):
    x, u = toy_data()
    cfg, m = make()
    fit(m, x, u, cfg, run_dir=tmp_path, progress=False, stop_after=1)
    chain = CausalGraph(PENDULUM_GRAPH.names, [("pendulum_angle", "light_position")])
    other = build_model("icm_vae", chain, RES, label_mean=[10] * 4, label_std=[5] * 4)
    with pytest.raises(CheckpointError, match="graph"):
        fit(other, x, u, cfg, run_dir=tmp_path, progress=False)


def test_nan_loss_names_step_and_term():
    x, u = toy_data()
    cfg, m = make()
    u = u.clone()
    u[5, 2] = float("inf")  # an infinite label poisons the prior term of the first batch
    with pytest.raises(ValueError, match=r"labels contain NaN or inf"):  # caught before the loss
        fit(m, x, u, cfg, progress=False)

    cfg, m = make()
    with torch.no_grad():
        for p in m.encoder.parameters():  # a diverged encoder
            p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss term '\w+' became nan at epoch 1, step 1"):
        fit(m, x, toy_data()[1], cfg, progress=False)


@pytest.mark.parametrize("bad,match", [
    (dict(epochs=-1), "epochs must be a positive integer"),
    (dict(dataset="mnist"), "dataset='mnist'"),
    (dict(model="vae9"), "model='vae9'"),
    (dict(lr=0), "lr must be > 0"),
    (dict(n_train=0), "n_train"),
    (dict(seed=-2), "seed"),
    (dict(data_mode="grids"), "data_mode"),
    (dict(hparams={"arch": "mlp"}), "arch must be one of"),
    (dict(hparams={"posterior_noise": -1.0}), "posterior_noise"),
    (dict(hparams={"widht": 8}), "unknown hparams"),
    (dict(hparams=[("width", 8)]), "hparams must be a dict"),
])
def test_config_validation(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad).validate()
    with pytest.raises(ValueError, match="unknown training parameter"):
        TrainConfig.from_dict({"epochz": 3})


def test_warmup_is_linear_and_reaches_max_at_ramp_fraction():
    cfg = TrainConfig(epochs=101)
    assert warmup_weights(0, cfg) == warmup_weights(1, cfg) == (0.0, 0.0)
    # as the official loop: epoch e trains with final * (e - 1) / 93, the maxima from epoch 94 on
    a, b = warmup_weights(32, cfg)
    assert math.isclose(b / 1.2, 1 / 3, rel_tol=1e-9) and math.isclose(a / 0.1, 1 / 3, rel_tol=1e-9)
    assert warmup_weights(93, cfg)[1] < 1.2
    assert warmup_weights(94, cfg) == pytest.approx((0.1, 1.2))
    assert warmup_weights(100, cfg) == pytest.approx((0.1, 1.2))
    assert np.all(np.diff([warmup_weights(e, cfg)[1] for e in range(101)]) >= 0)
    # the elbo recipe's warm-up is one epoch earlier
    assert warmup_weights(31, TrainConfig(epochs=101, recipe="elbo")) == pytest.approx((0.1 / 3, 0.4))


def test_bad_tensors_are_refused_before_training():
    cfg, m = make()
    x, u = toy_data()
    with pytest.raises(ValueError, match="uint8"):
        fit(m, x.float(), u, cfg, progress=False)
    with pytest.raises(ValueError, match="labels must be"):
        fit(m, x, u[:5], cfg, progress=False)


def test_data_dir_is_for_downloaded_datasets_and_absent_from_older_configs(tmp_path):
    cfg = TrainConfig()
    # runs recorded before the field existed compare equal to today's configs
    assert "data_dir" not in cfg.to_dict() and TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="data_dir applies to the datasets read from a folder"):
        TrainConfig(data_dir=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="'circuit' needs data_dir, the folder of its shards"):
        TrainConfig(dataset="circuit").validate()
    cfg = TrainConfig(dataset="circuit", data_dir=tmp_path / "x")  # a Path is stored as text
    assert cfg.to_dict()["data_dir"] == str(tmp_path / "x")
