"""Runs as folders: where a run lives, train one into it, find finished ones, load them.

A run lives in ``ROOT/models/<dataset>/<model>/seed<seed>/`` with ``checkpoint.pt`` and
``progress.json`` (written every epoch, so an interrupted run resumes and a running one can be
watched), ``history.csv`` and ``done.json`` (written last: a run with it is finished and skipped
by later sweeps, as long as its config is unchanged).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icm_utils.data.circuit_data import load_circuit_dataset
from icm_utils.data.datasets import get_scm, load_dataset
from icm_utils.data.folder import check_folder, content_key, load_folder
from icm_utils.data.graph import misspecify
from icm_utils.data.images import float_images, images_to_tensor
from icm_utils.model.models import build_model, model_from_config
from icm_utils.model.recipes import official_scaling
from icm_utils.training.checkpoint import CheckpointError, check_compatible, read_checkpoint, save_checkpoint
from icm_utils.training.config import TrainConfig
from icm_utils.training.loop import fit, load_model, run_config, save_history, write_json


def run_tags(cfg: TrainConfig) -> list[str]:
    """How a run departs from the plain one (true graph, grid data, no mechanism noise): the
    suffixes of its model folder; empty for a plain run."""
    tags = [f"graph_{cfg.graph}"] if cfg.graph != "true" else []
    if cfg.dataset == "own":  # one folder's runs apart from another's in the same RUN_DIR
        tags.append("data" + hashlib.sha256(str(Path(cfg.data_dir).expanduser().resolve())
                                            .encode()).hexdigest()[:8])
    tags += [cfg.data_mode] if cfg.data_mode != "grid" else []
    return tags + ([f"noise{cfg.noise_std:g}"] if cfg.noise_std else [])


def run_dir_for(root: Path | str, cfg: TrainConfig) -> Path:
    """``root/models/<dataset>/<model>[-graph_<kind>][-random][-noise<std>]/seed<k>``: runs that
    differ in the graph they are told or in their data never share a folder."""
    return (Path(root) / "models" / cfg.dataset / "-".join([cfg.model, *run_tags(cfg)])
            / f"seed{cfg.seed}")


def same_config(saved: dict, cfg: TrainConfig) -> bool:
    """A saved run's config equals ``cfg``, fields added to TrainConfig since it was saved taking
    their defaults (which keep the earlier behaviour), so finished runs stay reusable."""
    try:
        return TrainConfig.from_dict(saved).to_dict() == cfg.to_dict()
    except (TypeError, ValueError):
        return False


def is_done(root: Path | str, cfg: TrainConfig) -> bool:
    """Finished with this exact config, on data of the same content (a user's folder whose
    files changed is trained again), and its checkpoint still fits the current code's model (a
    run saved by an older version of a network is stale and gets retrained, not loaded)."""
    rd = run_dir_for(root, cfg)
    try:
        done = json.loads((rd / "done.json").read_text())
        if not same_config(done["train"], cfg):
            return False
        if cfg.dataset == "own" and done["summary"].get("data_content") != folder_content(cfg):
            return False
        _check_resumable(rd / "checkpoint.pt", cfg)
        return True
    except (OSError, ValueError, KeyError, CheckpointError):
        return False


def _check_resumable(ck: Path, cfg: TrainConfig) -> None:
    """Raise CheckpointError unless `ck` was trained with `cfg` and fits the current code's model."""
    ckpt = read_checkpoint(ck)
    if not same_config(ckpt["config"].get("train") or {}, cfg):
        raise CheckpointError("trained with another config")
    check_compatible(model_from_config(ckpt["config"]["model_config"]), ckpt)


def data_key(cfg: TrainConfig) -> tuple:
    """What a run's dataset depends on: runs with equal keys share one dataset load."""
    return (cfg.dataset, cfg.resolution, cfg.data_mode, cfg.noise_std, cfg.data_seed,
            cfg.n_random, cfg.data_dir)


def noisy_config(cfg: TrainConfig, noise_std: float, n_random: int | None = None) -> TrainConfig:
    """``cfg`` on seeded random samples of its SCM with mechanism noise ``noise_std`` on the caused
    variables (label units), as many as the peers' grid unless ``n_random`` says otherwise."""
    if n_random is None:
        n_random = len(get_scm(cfg.dataset).grid_exogenous()[0])
    return dataclasses.replace(cfg, data_mode="random", noise_std=float(noise_std),
                               n_random=int(n_random)).validate()


def folder_content(cfg: TrainConfig) -> str:
    """The content key of a user's folder (``data.folder.content_key`` of every file read)."""
    return content_key(check_folder(cfg.data_dir)["files"])


def load_training_data(cfg: TrainConfig):
    """The dataset of a run and the (seeded) training subset it trains on."""
    if cfg.dataset == "circuit":  # downloaded: read from the run's data folder
        ds = load_circuit_dataset(cfg.data_dir, resolution=cfg.resolution, mode=cfg.data_mode)
    elif cfg.dataset == "own":  # a user's folder of images, labels and graph
        ds = load_folder(cfg.data_dir, resolution=cfg.resolution, seed=cfg.data_seed)
    else:
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
    recipe = cfg.resolved_recipe()
    mean, std = official_scaling(recipe, cfg.dataset) or ds.label_stats()
    hparams = dict(cfg.hparams)
    if recipe.decoder == "objects":  # one slot per object the dataset's renderer declares
        hparams["objects"] = ds.scm.object_variables()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        # build_model resolves the recipe's overrides in hparams itself
        model = build_model(cfg.model, misspecify(ds.graph, cfg.graph), cfg.resolution, k=cfg.k,
                            label_mean=mean, label_std=std, recipe=cfg.recipe, **hparams)
    if recipe.decoder == "objects" and hparams.get("object_regions", True):
        # each slot draws only where its object appears in the training images
        tr = ds.train_idx
        model.decoder.set_regions(ds.scm.object_regions(ds.labels[tr], ds.exogenous[tr],
                                                        cfg.resolution))
    return model


@torch.no_grad()
def encode_images(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N,H,W,3) uint8 -> (N,n,k) representations, in batches."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = float_images(images[i:i + batch_size]).to(device)
        out.append(model.encode(x).cpu())
    return torch.cat(out).numpy()


def finished_runs(root: Path | str, cfgs=None) -> list[Path]:
    """Folders of the finished runs of ``cfgs`` (TrainConfigs; unfinished ones left out), or of
    every finished run under ``root/models`` (the one place the folder pattern is spelled)."""
    if cfgs is None:
        return sorted(d.parent for d in Path(root).glob("models/*/*/seed*/done.json"))
    return [rd for rd in (run_dir_for(root, c) for c in cfgs) if (rd / "done.json").exists()]


def finished_configs(root: Path | str, plain: bool = False) -> list[TrainConfig]:
    """The configs every finished run under ``root/models`` was trained with (from done.json);
    ``plain``: only plain runs (no ``run_tags``: true graph, grid data, no mechanism noise)."""
    cfgs = [TrainConfig.from_dict(json.loads((rd / "done.json").read_text())["train"])
            for rd in finished_runs(root)]
    return [c for c in cfgs if not run_tags(c)] if plain else cfgs


def train_run(cfg: TrainConfig, root: Path | str, progress: bool = True,
              threads: int | None = None) -> dict:
    """Train one run into its folder (resuming if interrupted); skip it if already done."""
    cfg.validate()
    rd = run_dir_for(root, cfg)
    if is_done(root, cfg):
        return {**run_ident(cfg), "status": "skipped", "run_dir": str(rd)}
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    _drop_stale(rd, cfg)
    ds, idx = load_training_data(cfg)
    model = build_for(cfg, ds)
    images = images_to_tensor(ds.images[idx])
    labels = torch.as_tensor(ds.labels[idx], dtype=torch.float32)
    history = fit(model, images, labels, cfg, run_dir=rd, progress=progress)
    # Label -> latent map for interventions in label units (a no-op for models with a prior),
    # saved with the final weights
    model.fit_label_map(torch.as_tensor(encode_images(model, ds.images[idx])), labels)
    save_checkpoint(rd / "checkpoint.pt", model, config=run_config(cfg, model),
                    epoch=cfg.epochs, history=history)
    save_history(history, rd / "history.csv")
    summary = {**run_ident(cfg), "status": "done", "run_dir": str(rd),
               "seconds": round(time.perf_counter() - t0, 2),
               "final_loss": history[-1]["loss"] if history else float("nan")}
    if cfg.dataset == "own":  # what the run trained on: a changed folder is trained again
        summary["data_content"] = ds.manifest["content"]
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
        warnings.warn(f"{ck}: cannot resume ({e}); training from scratch", stacklevel=3)
        for f in ("checkpoint.pt", "done.json", "history.csv", "progress.json"):
            (rd / f).unlink(missing_ok=True)


def run_ident(cfg: TrainConfig) -> dict:
    return {"dataset": cfg.dataset, "model": cfg.model, "seed": cfg.seed}


def load_run(root: Path | str, cfg: TrainConfig, device: str = "cpu"):
    """A finished run's model and history."""
    rd = run_dir_for(root, cfg)
    model, ckpt = load_model(rd / "checkpoint.pt", device=device)
    return model, pd.DataFrame(ckpt["history"])
