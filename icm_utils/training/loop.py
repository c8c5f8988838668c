"""One training loop for every model: seeded, resumable, with NaN guards and a progress bar."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from icm_utils.core.io import atomic_write_text
from icm_utils.core.utils import auto_device, seed_everything
from icm_utils.data.images import to_float_images
from icm_utils.model.models import model_from_config
from icm_utils.training.checkpoint import (
    CheckpointError,
    load_into,
    read_checkpoint,
    save_checkpoint,
)
from icm_utils.training.config import TrainConfig, warmup_weights


def train_epoch(model, opt, batches, alpha: float, beta: float, epoch: int = 1, detail: str = "",
                bar=None) -> dict[str, float]:
    """One pass of optimiser steps over (x, u) batches: the epoch loop of every model (image and
    vector). Returns the per-sample mean of each loss term. A non-finite term stops training
    with its name, the (1-based) epoch and step, and ``detail`` (which run)."""
    sums: dict[str, float] = {}
    seen = 0
    for step, (x, u) in enumerate(batches):
        terms = model.loss_terms(x, u, alpha=alpha, beta=beta)
        for name, v in terms.items():
            if not torch.isfinite(v).all():
                raise FloatingPointError(f"loss term '{name}' became {v.item()} at epoch {epoch}, "
                                         f"step {step + 1} ({detail}); lower lr or check the inputs")
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        seen += len(x)
        for name, v in terms.items():
            sums[name] = sums.get(name, 0.0) + float(v.detach()) * len(x)
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix({k: f"{v / seen:.2f}" for k, v in sums.items()})
    return {k: v / max(seen, 1) for k, v in sums.items()}


def run_epoch(model, opt, batches: Iterable, epoch: int,
              weights: Callable[[int], tuple[float, float]], detail: str = "", bar=None) -> dict:
    """The one epoch driver (``fit`` and the synthetic vector model's loop): the warm-up weights
    of the 0-based ``epoch`` (``weights(epoch)`` -> alpha, beta), ``train_epoch`` in training
    mode, and the epoch's history row {"epoch" (1-based), "alpha", "beta", each term, "seconds"}.
    """
    t0 = time.perf_counter()
    alpha, beta = weights(epoch)
    model.train()
    means = train_epoch(model, opt, batches, alpha, beta, epoch + 1, detail=detail, bar=bar)
    return {"epoch": epoch + 1, "alpha": alpha, "beta": beta, **means,
            "seconds": time.perf_counter() - t0}


def _epoch_seed(seed: int, epoch: int) -> int:
    # Each epoch reseeds from (seed, epoch): a resumed run draws the same batches and noise.
    return (seed * 1_000_003 + epoch * 7_919) % (2**31)


def fit(model, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
        run_dir: Path | str | None = None, resume: bool = True, progress: bool = True,
        stop_after: int | None = None) -> list[dict]:
    """Train `model` on uint8 images (N,3,H,W) and float labels (N,n); return the per-epoch history.

    With `run_dir`, a checkpoint (and a small ``progress.json``) is written atomically after every
    epoch and a run found there is resumed, ending with the same weights as an uninterrupted run.
    `stop_after` ends the call after that many epochs (used to simulate an interruption).
    """
    cfg.validate()
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a uint8 tensor (N,3,H,W), got {images.dtype} {tuple(images.shape)}")
    if labels.ndim != 2 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels must be (N, n_vars) with N={images.shape[0]}, got {tuple(labels.shape)}")
    device = auto_device(cfg.device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict] = []
    start = 0
    ckpt_path = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
    if ckpt_path is not None and resume and ckpt_path.exists():
        ckpt = load_into(model, ckpt_path, opt)
        start, history = ckpt["epoch"], ckpt["history"]
    n = images.shape[0]
    epochs = range(start, cfg.epochs if stop_after is None else min(cfg.epochs, start + stop_after))
    for epoch in epochs:
        seed_everything(_epoch_seed(cfg.seed, epoch))
        perm = torch.randperm(n)
        batches = ((to_float_images(images[idx]).to(device), labels[idx].to(device))
                   for idx in perm.split(cfg.batch_size))
        with tqdm(total=-(-n // cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                  disable=not progress, leave=False) as bar:
            row = run_epoch(model, opt, batches, epoch, lambda e: warmup_weights(e, cfg),
                            detail=f"model={cfg.model}, lr={cfg.lr}", bar=bar)
        history.append(row)
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, model, config=run_config(cfg, model), optimizer=opt,
                            epoch=epoch + 1, history=history)
            # A few bytes a watcher can read without loading the checkpoint (sweep's heartbeat).
            recent = [h["seconds"] for h in history[-5:]]
            write_json(ckpt_path.parent / "progress.json",
                       {"epoch": epoch + 1, "epochs": cfg.epochs, "loss": row["loss"],
                        "epoch_seconds": sum(recent) / len(recent)})
    model.eval()
    return history


def run_config(cfg: TrainConfig, model) -> dict:
    return {"train": cfg.to_dict(), "model_config": model.config}


def load_model(path: Path | str, device: str = "cpu"):
    """Rebuild a trained model from a checkpoint alone (config + weights)."""
    ckpt = read_checkpoint(path)
    try:
        model = model_from_config(ckpt["config"]["model_config"])
    except KeyError as e:
        raise CheckpointError(f"checkpoint {path} has no model config") from e
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def save_history(history: list[dict], path: Path | str) -> None:
    atomic_write_text(path, pd.DataFrame(history).to_csv(index=False))


def write_json(path: Path | str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float))
