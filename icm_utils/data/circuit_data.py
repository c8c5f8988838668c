"""CausalCircuit as a training dataset, and its (pre, post)-intervention pairs.

``load_circuit_dataset`` returns the ``datasets.ImageDataset`` every run trains and is scored
on, so training, the identifiability tables and the probes need nothing circuit-specific. Its
``scm`` is a ``NoSimulator``: downloaded data hold no counterfactual of an arbitrary do(); the
pairs (``load_pairs``) are the only ground truth for counterfactuals.

Modes (``TrainConfig.data_mode``):
- ``grid``: the data as published: every pair's pre-intervention state, split by the published
  files (train*.npz for training, test.npz for test). The name is the generated datasets' for
  their full published set.
- ``official``: what the official ICM-VAE code trains on (its CausalCircuitSimplified loader,
  used by experiments/train_circuit.py): the pre- and post-intervention states of every pair
  pooled, then only states in one of three regimes kept (``official_regimes``); the same filter
  on test.npz. Its test script sizes its arrays for 35,527 training and 3,608 test states.

Decoded images are cached under ``paths.DATA_DIR`` (keyed by the shards' names, sizes and
modification times, the resolution and the mode): decoding 110,000 JPEGs takes minutes.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from icm_utils.core import paths
from icm_utils.core.io import atomic_write
from icm_utils.data.circuit import (
    LATENT_ORDER,
    check_folder,
    decode_images,
    intervention_targets,
    read_shard,
)
from icm_utils.data.datasets import ImageDataset
from icm_utils.data.graph import CIRCUIT_GRAPH, CausalGraph
from icm_utils.data.render import check_render_resolution
from icm_utils.data.scm import NoSimulator

CIRCUIT_MODES = ("grid", "official")
PAIRS_HINT = ("score counterfactuals on the shards' own (pre, post) pairs "
              "(evaluation.counterfactual.counterfactual_set)")
CACHE_VERSION = "1"  # bump when decoding or selection changes


def official_regimes(states: np.ndarray) -> np.ndarray:
    """Which states (M, 4), graph order (arm, red, green, blue), the official code keeps: all
    inequalities strict, as there (states on a bound are dropped).

    1. arm in (0.1, 0.4), red > 0.5, green > 0.4, blue < 0.2
    2. arm in (0.4, 0.7), red > 0.5, green < 0.2, blue < 0.2
    3. arm in (0.7, 1.0), red > 0.5, blue > 0.4, green < 0.2
    """
    s = np.asarray(states, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 4:
        raise ValueError(f"states must have shape (M, 4), got {s.shape}")
    arm, red, green, blue = s.T
    lit = red > 0.5
    r1 = (0.1 < arm) & (arm < 0.4) & (green > 0.4) & (blue < 0.2)
    r2 = (0.4 < arm) & (arm < 0.7) & (green < 0.2) & (blue < 0.2)
    r3 = (0.7 < arm) & (arm < 1.0) & (blue > 0.4) & (green < 0.2)
    return lit & (r1 | r2 | r3)


def _need_pairs(imgs: np.ndarray, path: Path, why: str) -> None:
    encoded = imgs.dtype.kind in ("S", "O", "V")
    if imgs.ndim != (2 if encoded else 5):
        raise ValueError(f"{path.name}: {why} needs both images of each pair, imgs (N, 2); "
                         f"got shape {imgs.shape}")


def _split_states(files: list[Path], mode: str, resolution: int):
    """Images (M, r, r, 3) and graph-order labels (M, 4) of one split under ``mode``."""
    images, labels = [], []
    for path in files:
        lat, imgs = read_shard(path)
        if mode == "grid":
            images.append(decode_images(imgs, 0, resolution, path.name))
            labels.append(lat[:, 0])
            continue
        _need_pairs(imgs, path, "data_mode='official'")
        for view in (0, 1):  # pooled; the training loop shuffles, so the order is immaterial
            keep = official_regimes(lat[:, view])
            images.append(decode_images(imgs[keep], view, resolution, path.name))
            labels.append(lat[keep, view])
    return np.concatenate(images), np.concatenate(labels).astype(np.float32)


def _cache_key(splits: dict[str, list[Path]], resolution: int, mode: str) -> str:
    stats = {s: [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
             for s, files in splits.items()}
    blob = json.dumps([stats, resolution, mode, CACHE_VERSION], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _read_cache(npz: Path, meta: Path, key: str):
    if not npz.exists() or not meta.exists():
        return None
    try:
        manifest = json.loads(meta.read_text())
        if manifest.get("key") != key:
            raise ValueError("manifest key differs")
        with np.load(npz, allow_pickle=False) as z:
            return {k: z[k] for k in ("images", "labels", "n_train")}, manifest
    except Exception as e:  # truncated or foreign file: rebuild, saying why
        warnings.warn(f"rebuilding CausalCircuit cache {npz.name}: {e}", RuntimeWarning,
                      stacklevel=3)
        return None


def load_circuit_dataset(folder: str | Path, resolution: int = 64, mode: str = "grid",
                         cache: bool = True, cache_dir: str | Path | None = None):
    """CausalCircuit as an ``ImageDataset`` (train split first, then test) in graph order."""
    splits = check_folder(folder)
    check_render_resolution(resolution)
    if mode not in CIRCUIT_MODES:
        raise ValueError(f"CausalCircuit data_mode must be one of {CIRCUIT_MODES}, got {mode!r}")
    key = _cache_key(splits, resolution, mode)
    found = None
    if cache:
        cache_dir = paths.ensure_dir(cache_dir if cache_dir is not None else paths.DATA_DIR)
        npz = cache_dir / f"circuit_{mode}_{resolution}px_{key}.npz"
        meta = npz.with_suffix(".json")
        found = _read_cache(npz, meta, key)
    if found is not None:
        arrays, manifest = found
        n_train = int(arrays["n_train"])
    else:
        (xtr, utr), (xte, ute) = (_split_states(splits[s], mode, resolution)
                                  for s in ("train", "test"))
        n_train = len(utr)
        arrays = {"images": np.concatenate([xtr, xte]), "labels": np.concatenate([utr, ute]),
                  "n_train": np.array(n_train)}
        manifest = {"key": key, "dataset": "circuit", "folder": str(Path(folder).expanduser()),
                    "mode": mode, "resolution": int(resolution),
                    "files": {s: [p.name for p in f] for s, f in splits.items()}}
        if cache:  # uncompressed: these images barely compress and must load fast
            atomic_write(npz, lambda f: np.savez(f, **arrays))
            atomic_write(meta, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    n = len(arrays["labels"])
    manifest = {**manifest, "split": "published files (train*.npz / test.npz)", "pairs": True,
                "n_train": n_train, "n_test": n - n_train}
    return ImageDataset(arrays["images"], arrays["labels"], np.zeros((n, 0)),
                        np.arange(n_train), np.arange(n_train, n),
                        NoSimulator("CausalCircuit", label_range={
                            v: (float(lo), float(hi)) for v, lo, hi in zip(
                                CIRCUIT_GRAPH.names, arrays["labels"].min(0),
                                arrays["labels"].max(0))}, hint=PAIRS_HINT),
                        CIRCUIT_GRAPH, manifest)


@dataclass
class CircuitPairs:
    """(pre, post)-intervention pairs whose intervened variable is known."""

    pre_images: np.ndarray    # (P, r, r, 3) uint8
    post_images: np.ndarray   # (P, r, r, 3) uint8
    pre_labels: np.ndarray    # (P, 4) float32, graph order
    post_labels: np.ndarray   # (P, 4) float32
    targets: np.ndarray       # (P,) index of the intervened variable (graph order)
    graph: CausalGraph = CIRCUIT_GRAPH

    def __len__(self) -> int:
        return int(len(self.targets))


def load_pairs(ds, split: str = "test", n_per_variable: int | None = None,
               seed: int = 0) -> CircuitPairs:
    """The pairs of ``split`` whose intervened variable ``circuit.intervention_targets`` can
    name (empty interventions are left out), at most ``n_per_variable`` per variable (drawn
    from ``seed``), read from the folder, resolution and mode of ``ds`` (a dataset from
    ``load_circuit_dataset``). Under mode "official" both states must lie in the regimes."""
    if ds.manifest.get("dataset") != "circuit":
        raise ValueError("load_pairs needs a dataset from load_circuit_dataset")
    if n_per_variable is not None and n_per_variable <= 0:
        raise ValueError(f"n_per_variable must be positive or None, got {n_per_variable}")
    files = check_folder(ds.manifest["folder"])[split]
    res, mode = ds.manifest["resolution"], ds.manifest["mode"]
    graph = ds.graph
    # first pass: latents only (cheap), to choose the pairs
    targets = []
    for path in files:
        with np.load(path) as z:
            lat = z["original_latents"][:, :, LATENT_ORDER]
        t = intervention_targets(lat, graph)
        if mode == "official":
            t[~(official_regimes(lat[:, 0]) & official_regimes(lat[:, 1]))] = -1
        targets.append(t)
    flat = np.concatenate(targets)
    rng = np.random.default_rng(seed)
    chosen = []
    for j in range(graph.n):
        cand = np.flatnonzero(flat == j)
        if n_per_variable is not None and len(cand) > n_per_variable:
            cand = rng.choice(cand, n_per_variable, replace=False)
        chosen.append(cand)
    chosen = np.sort(np.concatenate(chosen))
    # second pass: decode only the chosen pairs' images
    parts, start = [], 0
    for path, t in zip(files, targets):
        rows = chosen[(chosen >= start) & (chosen < start + len(t))] - start
        start += len(t)
        if not len(rows):
            continue
        lat, imgs = read_shard(path)
        _need_pairs(imgs, path, "load_pairs")
        parts.append((decode_images(imgs[rows], 0, res, path.name),
                      decode_images(imgs[rows], 1, res, path.name),
                      lat[rows, 0], lat[rows, 1], t[rows]))
    if not parts:
        raise ValueError(f"no pair in {split} has a known intervened variable "
                         f"({len(flat)} pairs read, mode {mode!r})")
    x0, x1, u0, u1, t = (np.concatenate(a) for a in zip(*parts))
    return CircuitPairs(x0, x1, u0.astype(np.float32), u1.astype(np.float32), t, graph)
