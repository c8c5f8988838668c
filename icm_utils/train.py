"""One training loop for every model: seeded, resumable, with NaN guards and a progress bar."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import (
    CheckpointError,
    atomic_write_text,
    load_into,
    read_checkpoint,
    save_checkpoint,
)
from .utils import auto_device, field_errors, seed_everything

DATASETS = ("pendulum", "flow", "circuit")
DOWNLOADED = ("circuit",)  # read from TrainConfig.data_dir; the others are generated


@dataclass
class TrainConfig:
    """Everything a run depends on; validated before any data is generated or model built."""

    dataset: str = "pendulum"
    model: str = "icm_vae"
    resolution: int = 64
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    k: int = 4
    recipe: str = "official_joint"  # recipes.RECIPES; hparams named as a recipe field override one
    alpha_max: float | None = None  # None: the recipe's final weights (official 0.1 and 1.2)
    beta_max: float | None = None
    ramp_fraction: float = 94 / 101  # official schedule: weights reach their max at epoch 94 of 101
    n_train: int | None = None  # None: the whole training split; else a seeded subset (smoke runs)
    noise_std: float = 0.0
    data_mode: str = "grid"
    n_random: int = 8000  # samples drawn in "random" data mode
    data_seed: int = 0  # the data stay fixed across training seeds, so seeds can be compared
    graph: str = "true"  # the graph the model is told: misspec.GRAPH_KINDS (scoring uses the truth)
    device: str = "auto"
    hparams: dict = field(default_factory=dict)
    # folder of a downloaded dataset (circuit: its .npz shards); None for generated datasets
    data_dir: str | None = None

    def __post_init__(self):
        if isinstance(self.data_dir, os.PathLike):  # stored as text: configs are JSON
            self.data_dir = os.fspath(self.data_dir)

    def validate(self) -> TrainConfig:
        from .models import MODEL_NAMES, hparam_errors
        from .recipes import RECIPES

        errors = []
        if self.recipe not in RECIPES:
            errors.append(f"recipe={self.recipe!r} is not one of {sorted(RECIPES)}")
        if self.dataset not in DATASETS:
            errors.append(f"dataset={self.dataset!r} is not one of {DATASETS}")
        if self.model not in MODEL_NAMES:
            errors.append(f"model={self.model!r} is not one of {MODEL_NAMES}")
        errors += field_errors(self, positive_ints=("epochs", "batch_size", "k", "resolution", "n_random"),
                               nonneg_ints=("seed", "data_seed"), positive=("lr",),
                               nonneg_finite=("noise_std",) + tuple(
                                   w for w in ("alpha_max", "beta_max")
                                   if getattr(self, w) is not None))
        if self.n_train is not None and (not isinstance(self.n_train, int) or self.n_train <= 0):
            errors.append(f"n_train must be None or a positive integer, got {self.n_train!r}")
        if not 0 < self.ramp_fraction <= 1:
            errors.append(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction!r}")
        from .misspec import GRAPH_KINDS

        if self.graph not in GRAPH_KINDS:
            errors.append(f"graph={self.graph!r} is not one of {GRAPH_KINDS}")
        errors += self._data_errors()
        if not isinstance(self.hparams, dict):
            errors.append(f"hparams must be a dict, got {type(self.hparams).__name__}")
        else:
            errors += hparam_errors(self.hparams)
        if errors:
            raise ValueError("invalid training config:\n  - " + "\n  - ".join(errors))
        return self

    def _data_errors(self) -> list[str]:
        """Data mode and folder: a downloaded dataset's folder is checked here (names, keys and
        shapes from the files' headers), so a wrong folder stops a run before any training."""
        if self.dataset not in DOWNLOADED:
            errors = [] if self.data_dir is None else [
                f"data_dir applies to downloaded datasets {DOWNLOADED}; {self.dataset!r} is "
                "generated (leave data_dir None)"]
            if self.data_mode not in ("grid", "random"):
                errors.append(f"data_mode={self.data_mode!r} is not 'grid' or 'random'")
            return errors
        from .circuit import LAYOUT, check_folder
        from .circuit_data import MODES

        errors = []
        if self.data_mode not in MODES:
            errors.append(f"data_mode={self.data_mode!r} is not one of {MODES} for {self.dataset}")
        if self.noise_std:
            errors.append(f"noise_std applies to generated datasets; {self.dataset} is downloaded")
        if not isinstance(self.data_dir, str) or not self.data_dir:
            errors.append(f"dataset={self.dataset!r} needs data_dir, the folder of its shards: "
                          f"{LAYOUT}")
        else:
            try:
                check_folder(self.data_dir)
            except (OSError, ValueError) as e:
                errors.append(str(e))
        return errors

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["data_dir"] is None:  # runs recorded before the field existed stay the same run
            del d["data_dir"]
        return d

    def resolved_recipe(self):
        """The recipe this run trains with: ``recipe`` with any recipe fields set in hparams."""
        from .recipes import RECIPE_FIELDS, get_recipe

        return get_recipe(self.recipe, **{f: self.hparams[f] for f in RECIPE_FIELDS
                                          if f in self.hparams})

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


def warmup_weights(epoch: int, cfg: TrainConfig) -> tuple[float, float]:
    """alpha, beta for this epoch under the config's recipe's warm-up."""
    from .recipes import warmup

    r = cfg.resolved_recipe()
    alpha = r.alpha_max if cfg.alpha_max is None else cfg.alpha_max
    beta = r.beta_max if cfg.beta_max is None else cfg.beta_max
    return warmup(epoch, cfg.epochs, alpha, beta, cfg.ramp_fraction, kind=r.warmup)


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


def _epoch_seed(seed: int, epoch: int) -> int:
    # Each epoch reseeds from (seed, epoch): a resumed run draws the same batches and noise.
    return (seed * 1_000_003 + epoch * 7_919) % (2**31)


def to_float_images(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float().div_(255.0)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N,H,W,3) uint8 numpy -> (N,3,H,W) uint8 tensor (converted to float per batch, saving memory)."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def fit(model, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
        run_dir: Path | str | None = None, resume: bool = True, progress: bool = True,
        stop_after: int | None = None) -> list[dict]:
    """Train `model` on uint8 images (N,3,H,W) and float labels (N,n); return the per-epoch history.

    With `run_dir`, a checkpoint (and a small ``progress.json``) is written atomically after every
    epoch and a run found there is resumed, ending with the same weights as an uninterrupted run.
    `stop_after` ends the call after that many epochs (used to simulate an interruption).
    """
    from tqdm.auto import tqdm

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
        alpha, beta = warmup_weights(epoch, cfg)
        perm = torch.randperm(n)
        model.train()
        t0 = time.perf_counter()
        batches = ((to_float_images(images[idx]).to(device), labels[idx].to(device))
                   for idx in perm.split(cfg.batch_size))
        with tqdm(total=-(-n // cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                  disable=not progress, leave=False) as bar:
            means = train_epoch(model, opt, batches, alpha, beta, epoch + 1, bar=bar,
                                detail=f"model={cfg.model}, lr={cfg.lr}")
        row = {"epoch": epoch + 1, "alpha": alpha, "beta": beta, **means,
               "seconds": time.perf_counter() - t0}
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
    from .models import model_from_config

    ckpt = read_checkpoint(path)
    try:
        model = model_from_config(ckpt["config"]["model_config"])
    except KeyError as e:
        raise CheckpointError(f"checkpoint {path} has no model config") from e
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def save_history(history: list[dict], path: Path | str) -> None:
    import pandas as pd

    atomic_write_text(path, pd.DataFrame(history).to_csv(index=False))


def write_json(path: Path | str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float))
