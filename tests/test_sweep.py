import json

import pandas as pd
import pytest

from icm_utils.sweep import is_done, load_run, local_cluster, run_dir_for, sweep, train_run
from icm_utils.train import TrainConfig


def smoke(model="icm_vae", seed=0, **kw):
    return TrainConfig(model=model, seed=seed, resolution=32, epochs=1, n_train=64,
                       batch_size=32, **kw)


# Data come from the project's normal cache (data/, git-ignored), as in the notebooks.


def test_two_run_sweep_on_local_dask_cluster_then_skips_finished(tmp_path):
    cfgs = [smoke("icm_vae", 0), smoke("beta_vae", 0)]
    df = sweep(cfgs, tmp_path, scheduler="local", n_workers=2, progress=False)
    assert list(df["status"]) == ["done", "done"], df.to_dict("records")
    for c in cfgs:
        assert is_done(tmp_path, c)
        hist = pd.read_csv(run_dir_for(tmp_path, c) / "history.csv")
        assert len(hist) == 1 and hist["loss"].notna().all()
    again = sweep(cfgs, tmp_path, scheduler="sync", progress=False)
    assert list(again["status"]) == ["skipped", "skipped"]
    model, hist = load_run(tmp_path, cfgs[0])
    assert model.config["name"] == "icm_vae" and len(hist) == 1


def test_failed_run_is_reported_and_others_kept(tmp_path):
    good = smoke("icm_vae", 1)
    bad = smoke("icm_vae", 2, hparams={"width": 3})  # valid config, fails when the nets are built
    df = sweep([bad, good], tmp_path, scheduler="sync", progress=False)
    assert list(df["status"]) == ["failed", "done"]
    assert "width must be an even integer" in df.loc[0, "error"]
    assert (run_dir_for(tmp_path, bad) / "error.txt").exists()
    assert is_done(tmp_path, good) and not is_done(tmp_path, bad)


def test_changed_config_is_not_skipped(tmp_path):
    cfg = smoke()
    train_run(cfg, tmp_path, progress=False)
    done = json.loads((run_dir_for(tmp_path, cfg) / "done.json").read_text())
    assert done["summary"]["status"] == "done"
    assert is_done(tmp_path, cfg)
    assert not is_done(tmp_path, smoke(lr=5e-4))


def test_duplicate_runs_rejected(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        sweep([smoke(), smoke()], tmp_path, scheduler="sync")


def test_sweep_on_a_remote_scheduler_address(tmp_path):
    # a scheduler reached by its address, as a user's cluster would be
    import os

    from dask.distributed import Client

    with local_cluster(1) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        with Client(cluster) as client:
            # the worker runs without the malloc trimming that slows torch (the rest of Dask's
            # worker environment is kept)
            env = client.submit(lambda: dict(os.environ), pure=False).result()
        assert "MALLOC_TRIM_THRESHOLD_" not in env and env.get("OMP_NUM_THREADS") == "1"
        df = sweep([smoke("causal_vae", 5)], tmp_path, scheduler=cluster.scheduler_address,
                   progress=False)
    assert list(df["status"]) == ["done"]
    assert is_done(tmp_path, smoke("causal_vae", 5))
