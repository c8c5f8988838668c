"""Runs as folders: train one (dataset, model, seed) or a sweep of them, locally or on Dask.

A run lives in ``ROOT/models/<dataset>/<model>/seed<seed>/`` with ``checkpoint.pt`` and
``progress.json`` (written every epoch, so an interrupted run resumes and a running one can be
watched), ``history.csv`` and ``done.json`` (written last: a run with it is finished and skipped
by later sweeps, as long as its config is unchanged).
"""
from __future__ import annotations

import json
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError
from .health import diverged_at, duration, run_divergence
from .train import (
    TrainConfig,
    fit,
    images_to_tensor,
    load_model,
    run_config,
    save_history,
    write_json,
)


def run_dir_for(root: Path | str, cfg: TrainConfig) -> Path:
    """``root/models/<dataset>/<model>[-graph_<kind>][-random][-noise<std>]/seed<k>``: runs that
    differ in the graph they are told or in their data never share a folder."""
    tags = [f"graph_{cfg.graph}"] if cfg.graph != "true" else []
    tags += [cfg.data_mode] if cfg.data_mode != "grid" else []
    tags += [f"noise{cfg.noise_std:g}"] if cfg.noise_std else []
    return Path(root) / "models" / cfg.dataset / "-".join([cfg.model, *tags]) / f"seed{cfg.seed}"


def same_config(saved: dict, cfg: TrainConfig) -> bool:
    """A saved run's config equals ``cfg``, fields added to TrainConfig since it was saved taking
    their defaults (which keep the earlier behaviour), so finished runs stay reusable."""
    try:
        return TrainConfig.from_dict(saved).to_dict() == cfg.to_dict()
    except (TypeError, ValueError):
        return False


def is_done(root: Path | str, cfg: TrainConfig) -> bool:
    """Finished with this exact config, and its checkpoint still fits the current code's model
    (a run saved by an older version of a network is stale and gets retrained, not loaded)."""
    rd = run_dir_for(root, cfg)
    try:
        if not same_config(json.loads((rd / "done.json").read_text())["train"], cfg):
            return False
        _check_resumable(rd / "checkpoint.pt", cfg)
        return True
    except (OSError, ValueError, KeyError, CheckpointError):
        return False


def _check_resumable(ck: Path, cfg: TrainConfig) -> None:
    """Raise CheckpointError unless `ck` was trained with `cfg` and fits the current code's model."""
    from .checkpoint import check_compatible, read_checkpoint
    from .models import model_from_config

    ckpt = read_checkpoint(ck)
    if not same_config(ckpt["config"].get("train") or {}, cfg):
        raise CheckpointError("trained with another config")
    check_compatible(model_from_config(ckpt["config"]["model_config"]), ckpt)


def data_key(cfg: TrainConfig) -> tuple:
    """What a run's dataset depends on: runs with equal keys share one dataset load."""
    return (cfg.dataset, cfg.resolution, cfg.data_mode, cfg.noise_std, cfg.data_seed,
            cfg.n_random, cfg.data_dir)


def load_training_data(cfg: TrainConfig):
    """The dataset of a run and the (seeded) training subset it trains on."""
    if cfg.dataset == "circuit":  # downloaded: read from the run's data folder
        from .circuit_data import load_circuit_dataset

        ds = load_circuit_dataset(cfg.data_dir, resolution=cfg.resolution, mode=cfg.data_mode)
    else:
        from .datasets import load_dataset

        kw = dict(mode=cfg.data_mode, resolution=cfg.resolution, noise_std=cfg.noise_std,
                  seed=cfg.data_seed)
        if cfg.data_mode == "random":
            kw["n"] = cfg.n_random
        ds = load_dataset(cfg.dataset, **kw)
    idx = np.asarray(ds.train_idx)
    if cfg.n_train is not None and cfg.n_train < len(idx):
        idx = np.sort(np.random.default_rng(cfg.data_seed).choice(idx, cfg.n_train, replace=False))
    return ds, idx


def build_for(cfg: TrainConfig, ds):
    """The untrained model of a run: its recipe, and the label scaling the recipe asks for.

    Its initial weights are drawn from ``cfg.seed`` alone, not from the process's torch RNG
    (which differs between processes, and in a Dask worker depends on the runs before it); the
    caller's RNG state is left as it was."""
    from .misspec import misspecify
    from .models import build_model
    from .recipes import official_scaling

    mean, std = official_scaling(cfg.resolved_recipe(), cfg.dataset) or ds.label_stats()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        # build_model resolves the recipe's overrides in hparams itself
        return build_model(cfg.model, misspecify(ds.graph, cfg.graph), cfg.resolution, k=cfg.k,
                           label_mean=mean, label_std=std, recipe=cfg.recipe, **cfg.hparams)


@torch.no_grad()
def encode_images(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N,H,W,3) uint8 -> (N,n,k) representations, in batches."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = images_to_tensor(images[i:i + batch_size]).float().div_(255).to(device)
        out.append(model.encode(x).cpu())
    return torch.cat(out).numpy()


def train_run(cfg: TrainConfig, root: Path | str, progress: bool = True,
              threads: int | None = None) -> dict:
    """Train one run into its folder (resuming if interrupted); skip it if already done."""
    cfg.validate()
    rd = run_dir_for(root, cfg)
    if is_done(root, cfg):
        return {**_ident(cfg), "status": "skipped", "run_dir": str(rd),
                "diverged_at": run_divergence(rd)}
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    _drop_stale(rd, cfg)
    ds, idx = load_training_data(cfg)
    model = build_for(cfg, ds)
    images = images_to_tensor(ds.images[idx])
    labels = torch.as_tensor(ds.labels[idx], dtype=torch.float32)
    history = fit(model, images, labels, cfg, run_dir=rd, progress=progress)
    if hasattr(model, "fit_label_map"):
        # Label -> latent map for interventions in label units (used by models without a prior).
        model.fit_label_map(torch.as_tensor(encode_images(model, ds.images[idx])), labels)
        from .checkpoint import save_checkpoint

        save_checkpoint(rd / "checkpoint.pt", model, config=run_config(cfg, model),
                        epoch=cfg.epochs, history=history)
    save_history(history, rd / "history.csv")
    summary = {**_ident(cfg), "status": "done", "run_dir": str(rd),
               "seconds": round(time.perf_counter() - t0, 2),
               "final_loss": history[-1]["loss"] if history else float("nan"),
               "diverged_at": diverged_at([h.get("rec", float("nan")) for h in history])}
    write_json(rd / "done.json", {"train": cfg.to_dict(), "summary": summary})
    return summary


def _drop_stale(rd: Path, cfg: TrainConfig) -> None:
    """Remove a checkpoint that cannot be resumed: other config or an older network's weights."""
    ck = rd / "checkpoint.pt"
    if not ck.exists():
        return
    try:
        _check_resumable(ck, cfg)
    except (CheckpointError, KeyError, ValueError) as e:
        import warnings

        warnings.warn(f"{ck}: cannot resume ({e}); training from scratch", stacklevel=3)
        for f in ("checkpoint.pt", "done.json", "history.csv", "progress.json"):
            (rd / f).unlink(missing_ok=True)


def _ident(cfg: TrainConfig) -> dict:
    return {"dataset": cfg.dataset, "model": cfg.model, "seed": cfg.seed}


def _safe_run(cfg_dict: dict, root: str, threads: int | None) -> dict:
    """Worker entry point: never raises, so one failed run cannot take the sweep down."""
    cfg = TrainConfig.from_dict(cfg_dict)
    try:
        return train_run(cfg, root, progress=False, threads=threads)
    except Exception as e:  # reported in the sweep's table, with the traceback kept on disk
        rd = run_dir_for(root, cfg)
        rd.mkdir(parents=True, exist_ok=True)
        (rd / "error.txt").write_text(traceback.format_exc())
        return {**_ident(cfg), "status": "failed", "run_dir": str(rd),
                "error": f"{type(e).__name__}: {e}"}


def local_cluster(n_workers: int = 1):
    """A Dask LocalCluster of single-threaded worker processes, fit for torch training.

    Dask's nanny spawns workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand torch's
    large per-step buffers back to the OS and fault them in again: 20 Pendulum steps measured
    2.1 s in such a worker against 1.4 s without it (1.3 s in-process). A dotted key set to None
    removes just that variable (setting the whole dict would merge, not replace).
    """
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=40)


def sweep(cfgs: Iterable[TrainConfig], root: Path | str, scheduler: str = "local",
          n_workers: int = 1, progress: bool = True, heartbeat: float | None = 300):
    """Train independent runs; return a DataFrame of their status.

    scheduler: "local" (an embedded Dask LocalCluster of `n_workers` processes sharing this
    machine's cores), "sync" (in this process, one after another), or a Dask scheduler address
    ("tcp://host:8786"). One worker is the default: on 2 cores, two single-threaded runs in
    parallel were slower than one after the other with both threads (and a lone last run then
    idles a core); raise `n_workers` on machines with many cores.
    Finished runs are skipped; a failed run is reported and does not stop the others.
    Each run prints one line when it ends, bar or not (``python -m icm_utils.reproduce`` shows
    these lines on the terminal while a notebook's sweep runs), and every `heartbeat` seconds
    one line per running run whose epoch advanced (None: no such lines).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    cfgs = [c.validate() for c in cfgs]
    keys = [run_dir_for(root, c) for c in cfgs]
    if len(set(keys)) != len(keys):
        raise ValueError("sweep has duplicate (dataset, model, seed) runs; they would share a folder")
    root = str(root)
    with Heartbeat([(f"{c.dataset} {c.model} seed {c.seed}", k) for c, k in zip(cfgs, keys)],
                   every=heartbeat):
        if scheduler == "sync":
            results = []
            for c in tqdm(cfgs, disable=not progress):
                results.append(_safe_run(c.to_dict(), root, None))
                _report(len(results), len(cfgs), results[-1])
            return pd.DataFrame(results)
        results = _dask_sweep(cfgs, root, scheduler, n_workers, progress)
    order = {str(k): i for i, k in enumerate(keys)}
    return pd.DataFrame(sorted(results, key=lambda r: order[r["run_dir"]]))


def _dask_sweep(cfgs: list[TrainConfig], root: str, scheduler: str, n_workers: int,
                progress: bool) -> list[dict]:
    import os

    from dask.distributed import Client, as_completed
    from tqdm.auto import tqdm

    threads = None
    if scheduler == "local":
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:
        futures = [client.submit(_safe_run, c.to_dict(), root, threads, pure=False) for c in cfgs]
        results = []
        for fut in tqdm(as_completed(futures), total=len(futures), disable=not progress):
            results.append(fut.result())
            _report(len(results), len(futures), results[-1])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


class Heartbeat:
    """Every `every` seconds, one line per run whose ``progress.json`` moved on since the last
    line: "[sweep] running pendulum icm_vae seed 1: epoch 12/101, 26 s/epoch, loss 1.31, about
    39 min left". A 45-minute run otherwise prints nothing until it ends. Only files written after
    the heartbeat started count, so a queued run's leftover from an interrupted sweep is silent.
    The files are read where the sweep runs: workers on other machines need a shared file system
    for these lines (their end-of-run lines come back regardless).
    """

    def __init__(self, runs: list[tuple[str, Path]], every: float | None = 300):
        import threading

        if every is not None and not every > 0:
            raise ValueError(f"heartbeat must be a positive number of seconds or None, got {every!r}")
        self.runs, self.every = runs, every
        self.seen: dict[Path, int] = {}
        self.since = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.every:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        from tqdm.auto import tqdm

        while not self._stop.wait(self.every):
            for line in self.lines():
                tqdm.write(line)

    def lines(self) -> list[str]:
        out = []
        for name, rd in self.runs:
            p = Path(rd) / "progress.json"
            try:
                # 2 s of slack: file times come from a coarse clock that lags time.time()
                if (Path(rd) / "done.json").exists() or p.stat().st_mtime < self.since - 2:
                    continue
                pr = json.loads(p.read_text())
                epoch, epochs, secs, loss = (pr[k] for k in ("epoch", "epochs", "epoch_seconds",
                                                             "loss"))
                line = (f"[sweep] running {name}: epoch {epoch}/{epochs}, {secs:.0f} s/epoch, "
                        f"loss {loss:.4g}, about {duration((epochs - epoch) * secs)} left")
            except (OSError, ValueError, KeyError, TypeError):  # not started yet, or not ours
                continue
            if self.seen.get(Path(rd)) == epoch:
                continue
            self.seen[Path(rd)] = epoch
            out.append(line)
        return out


def _report(i: int, n: int, r: dict) -> None:
    """The line a run prints when it ends: "[sweep] 2/4 pendulum beta_vae seed 0: done in 95 s,
    final loss 4.36"."""
    from tqdm.auto import tqdm

    if r["status"] == "done":
        how = f"done in {r['seconds']:.0f} s, final loss {r['final_loss']:.4g}"
    elif r["status"] == "failed":
        how = f"FAILED ({r['error']}); traceback in {r['run_dir']}/error.txt"
    else:
        how = "finished earlier, skipped"
    if r.get("diverged_at"):
        how += f"; DIVERGED at epoch {r['diverged_at']} (python -m icm_utils.health)"
    tqdm.write(f"[sweep] {i}/{n} {r['dataset']} {r['model']} seed {r['seed']}: {how}")


def load_run(root: Path | str, cfg: TrainConfig, device: str = "cpu"):
    """A finished run's model and history."""
    import pandas as pd

    rd = run_dir_for(root, cfg)
    model, ckpt = load_model(rd / "checkpoint.pt", device=device)
    return model, pd.DataFrame(ckpt["history"])
