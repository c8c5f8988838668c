"""Atomic, pickle-free checkpoints that carry the config and graph they were trained with."""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from icm_utils.core.io import atomic_write_bytes


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the model it is loaded into."""


def save_checkpoint(path: Path | str, model: torch.nn.Module, *, config: dict,
                    optimizer: torch.optim.Optimizer | None = None, epoch: int = 0,
                    history: list | None = None) -> Path:
    """Save model (+ optimiser) state with the JSON config; atomic."""
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "epoch": int(epoch),
        # JSON strings, so loading never needs to unpickle arbitrary objects.
        "config": json.dumps(config, sort_keys=True),
        "history": json.dumps(history or []),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def read_checkpoint(path: Path | str) -> dict:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupted, or not a checkpoint
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e})") from e
    for key in ("model", "config", "epoch"):
        if key not in raw:
            raise CheckpointError(f"checkpoint {path} lacks '{key}'; not written by icm_utils")
    raw["config"] = json.loads(raw["config"])
    raw["history"] = json.loads(raw.get("history", "[]"))
    return raw


def check_compatible(model: torch.nn.Module, ckpt: dict, path: Path | str = "") -> None:
    """Raise a clear CheckpointError when the checkpoint's graph or tensor shapes differ."""
    want = getattr(model, "config", {})
    have = ckpt["config"].get("model_config", ckpt["config"])
    for key in ("name", "graph", "resolution", "k"):
        if key in want and key in have and want[key] != have[key]:
            raise CheckpointError(
                f"checkpoint {path} was trained with {key}={have[key]!r}, "
                f"but the model has {key}={want[key]!r}")
    own = model.state_dict()
    theirs = ckpt["model"]
    missing = sorted(set(own) - set(theirs))
    extra = sorted(set(theirs) - set(own))
    if missing or extra:
        raise CheckpointError(f"checkpoint {path} does not fit the model: missing {missing[:5]}, "
                              f"unexpected {extra[:5]}")
    for k, v in own.items():
        if tuple(v.shape) != tuple(theirs[k].shape):
            raise CheckpointError(f"checkpoint {path}: '{k}' has shape {tuple(theirs[k].shape)}, "
                                  f"model expects {tuple(v.shape)}")


def load_into(model: torch.nn.Module, path: Path | str,
              optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint into an existing model (and optimiser) after checking it fits."""
    ckpt = read_checkpoint(path)
    check_compatible(model, ckpt, path)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer"):
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt
