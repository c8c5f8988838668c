import json

import pandas as pd
import pytest

from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import is_done, load_run, run_dir_for, train_run
from icm_utils.training.sweep import Heartbeat, _safe_run, local_cluster, sweep


def smoke(model="icm_vae", seed=0, **kw):
    return TrainConfig(model=model, seed=seed, **{"resolution": 32, "epochs": 1, "n_train": 64,
                                                  "batch_size": 32, **kw})


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


def test_failed_run_is_reported_and_others_kept(tmp_path, capsys):
    good = smoke("icm_vae", 1)
    bad = smoke("icm_vae", 2, hparams={"width": 3})  # valid config, fails when the nets are built
    df = sweep([bad, good], tmp_path, scheduler="sync", progress=False)
    assert list(df["status"]) == ["failed", "done"]
    # one line per run as it ends, even without a bar (reproduce shows them on the terminal)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["[sweep] 1/2 pendulum icm_vae seed 2",
                                                   "[sweep] 2/2 pendulum icm_vae seed 1"]
    assert "FAILED (ValueError: width must be an even integer" in lines[0]
    assert f"done in {df.loc[1, 'seconds']:.0f} s, final loss {df.loc[1, 'final_loss']:.4g}" in lines[1]
    assert "width must be an even integer" in df.loc[0, "error"]
    assert (run_dir_for(tmp_path, bad) / "error.txt").exists()
    assert is_done(tmp_path, good) and not is_done(tmp_path, bad)


def test_a_diverged_run_says_so_in_its_line(capsys):
    from icm_utils.training.sweep import _report

    base = {"status": "done", "dataset": "pendulum", "model": "icm_vae", "seed": 2,
            "seconds": 980.0, "final_loss": 13.9}
    _report(3, 6, {**base, "diverged_at": 23})
    _report(4, 6, {**base, "diverged_at": None})
    _report(5, 6, {**base, "status": "skipped", "diverged_at": 23})
    bad, good, skipped = capsys.readouterr().out.splitlines()
    assert bad.endswith("final loss 13.9; DIVERGED at epoch 23 (python -m icm_utils.training.health)")
    assert good.endswith("final loss 13.9")
    assert skipped.endswith("skipped; DIVERGED at epoch 23 (python -m icm_utils.training.health)")


def test_a_skipped_run_reads_its_divergence_from_its_history(tmp_path):
    cfg = smoke()
    assert _safe_run(cfg.to_dict(), str(tmp_path), None)["diverged_at"] is None
    rd = run_dir_for(tmp_path, cfg)
    assert _safe_run(cfg.to_dict(), str(tmp_path), None) == {
        "dataset": "pendulum", "model": "icm_vae", "seed": cfg.seed, "status": "skipped",
        "run_dir": str(rd), "diverged_at": None}
    pd.DataFrame({"rec": [3.0, 1.0, 5.0]}).to_csv(rd / "history.csv", index=False)
    assert _safe_run(cfg.to_dict(), str(tmp_path), None)["diverged_at"] == 3


def test_changed_config_is_not_skipped(tmp_path):
    cfg = smoke()
    train_run(cfg, tmp_path, progress=False)
    done = json.loads((run_dir_for(tmp_path, cfg) / "done.json").read_text())
    assert done["summary"]["status"] == "done"
    assert is_done(tmp_path, cfg)
    assert not is_done(tmp_path, smoke(lr=5e-4))


def test_heartbeat_reports_runs_that_moved_on_once(tmp_path):
    runs = [(f"pendulum icm_vae seed {i}", tmp_path / f"s{i}") for i in range(5)]
    for _, rd in runs:
        rd.mkdir()
    stale = runs[3][1] / "progress.json"  # left by an interrupted sweep before this one
    stale.write_text(json.dumps({"epoch": 3, "epochs": 10, "loss": 2.0, "epoch_seconds": 5.0}))
    import os
    os.utime(stale, (0, 0))
    hb = Heartbeat(runs, every=None)
    assert hb.lines() == []
    (runs[0][1] / "progress.json").write_text(
        json.dumps({"epoch": 12, "epochs": 101, "loss": 1.3071, "epoch_seconds": 26.2}))
    (runs[1][1] / "progress.json").write_text(
        json.dumps({"epoch": 98, "epochs": 100, "loss": 4.0, "epoch_seconds": 10.0}))
    (runs[2][1] / "progress.json").write_text(json.dumps({"epoch": 1, "epochs": 2, "loss": 1.0,
                                                           "epoch_seconds": 1.0}))
    (runs[2][1] / "done.json").write_text("{}")  # finished: its own line says so
    (runs[4][1] / "progress.json").write_text("{}")  # fresh but malformed: skipped, no crash
    assert hb.lines() == [
        "[sweep] running pendulum icm_vae seed 0: epoch 12/101, 26 s/epoch, loss 1.307, "
        "about 39 min left",  # 89 epochs x 26.2 s
        "[sweep] running pendulum icm_vae seed 1: epoch 98/100, 10 s/epoch, loss 4, "
        "about 20 s left"]
    assert hb.lines() == []  # nothing moved on
    (runs[1][1] / "progress.json").write_text(
        json.dumps({"epoch": 99, "epochs": 100, "loss": 4.0, "epoch_seconds": 10.0}))
    assert [ln.split(":")[1] for ln in hb.lines()] == [" epoch 99/100, 10 s/epoch, loss 4, about 10 s left"]


def test_sweep_prints_heartbeat_lines_while_a_run_trains(tmp_path, capsys):
    df = sweep([smoke(epochs=3)], tmp_path, scheduler="sync", progress=False, heartbeat=0.01)
    assert list(df["status"]) == ["done"]
    lines = capsys.readouterr().out.splitlines()
    running = [ln for ln in lines if ln.startswith("[sweep] running pendulum icm_vae seed 0: epoch ")]
    assert running and all("/3, " in ln and ln.endswith(" left") for ln in running)
    assert sum(ln.startswith("[sweep] 1/1 pendulum icm_vae seed 0: done in") for ln in lines) == 1
    with pytest.raises(ValueError, match="positive"):
        sweep([smoke()], tmp_path, scheduler="sync", heartbeat=0)


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
        # Dask's own OMP_NUM_THREADS=1 is kept, unless the user's shell exports one: that wins
        assert "MALLOC_TRIM_THRESHOLD_" not in env
        assert env.get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS", "1")
        df = sweep([smoke("causal_vae", 5)], tmp_path, scheduler=cluster.scheduler_address,
                   progress=False)
    assert list(df["status"]) == ["done"]
    assert is_done(tmp_path, smoke("causal_vae", 5))


# Trains every model, in the order given, in a fresh interpreter; prints a digest of each run's
# checkpointed weights and buffers (label maps included) and its losses' exact bits.
_DIGEST_RUNS = """
import hashlib, json, sys
from icm_utils.training.checkpoint import read_checkpoint
from icm_utils.training.runs import run_dir_for, train_run
from icm_utils.training.config import TrainConfig
root, models = sys.argv[1], sys.argv[2].split(",")
out = {}
for m in models:
    cfg = TrainConfig(model=m, seed=0, resolution=32, epochs=1, n_train=64, batch_size=32)
    train_run(cfg, root, progress=False, threads=1)
    ck = read_checkpoint(run_dir_for(root, cfg) / "checkpoint.pt")
    h = hashlib.sha256()
    for name, t in sorted(ck["model"].items()):
        h.update(name.encode() + t.contiguous().numpy().tobytes())
    out[m] = [h.hexdigest(), [float(r["loss"]).hex() for r in ck["history"]]]
print(json.dumps(out))
"""


def test_every_model_trains_bit_identically_in_two_processes(tmp_path):
    # Each process starts with its own torch seed (torch 2.13 draws it at import) and trains the
    # models in another order, with another hash seed: a run's weights must depend on its config
    # alone. Before build_for seeded the initial weights they differed in every model.
    import os
    import subprocess
    import sys

    from icm_utils.model.models import MODEL_NAMES

    digests = []
    for i, order in enumerate((list(MODEL_NAMES), list(reversed(MODEL_NAMES)))):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONHASHSEED": str(i + 1)}
        proc = subprocess.run([sys.executable, "-c", _DIGEST_RUNS, str(tmp_path / f"p{i}"),
                               ",".join(order)], env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        digests.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert set(digests[0]) == set(MODEL_NAMES)
    for m in MODEL_NAMES:
        assert digests[0][m] == digests[1][m], f"{m} trained to different weights in two processes"
    assert len({d[0] for d in digests[0].values()}) == len(MODEL_NAMES)  # the digests see weights
