"""Generate (or load from a verified cache) the Pendulum and Water-flow image datasets.

Modes: ``grid`` is the peers' full grid with their split (Pendulum 7,308 = 5,482 train /
1,826 test; Water flow 8,100 = 6,480 / 1,620; ``test_fraction`` is ignored there), ``random``
draws ``n`` i.i.d. units from ``seed`` and sends the last ``round(n * test_fraction)`` to test.

Cache: ``DATA_DIR/<name>_<mode>_<res>px_<key>.npz`` + ``.json`` manifest (generator version,
every parameter, sha256 of the array contents). A cache whose manifest is missing, whose
parameters or generator version differ, whose file cannot be read or whose content hash does
not match is regenerated with a warning naming the reason; it is never used silently. Files
are written to a temporary name and moved into place with ``os.replace`` (atomic).
"""
from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from icm_utils.core import paths
from icm_utils.core.io import atomic_write
from icm_utils.data.graph import CausalGraph
from icm_utils.data.pendulum import PendulumSCM
from icm_utils.data.render import check_render_resolution
from icm_utils.data.scm import ImageSCM, check_count
from icm_utils.data.waterflow import WaterFlowSCM

GENERATOR_VERSION = "1.1"  # bump when any mechanism or the renderer changes its output
SCMS: dict[str, type[ImageSCM]] = {"pendulum": PendulumSCM, "flow": WaterFlowSCM}
DATA_MODES = ("grid", "random")
ARRAYS = ("images", "labels", "exogenous")
log = logging.getLogger(__name__)


def get_scm(name: str, noise_std: float = 0.0) -> ImageSCM:
    """The SCM behind dataset ``name`` ("pendulum" or "flow")."""
    if name not in SCMS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(SCMS)}")
    return SCMS[name](noise_std=noise_std)


@dataclass
class ImageDataset:
    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # float32 (N, n_vars), graph order, physical units
    exogenous: np.ndarray  # float64 (N, n_exo)
    train_idx: np.ndarray
    test_idx: np.ndarray
    scm: ImageSCM
    graph: CausalGraph
    manifest: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def names(self) -> list[str]:
        return list(self.graph.names)

    @property
    def has_pairs(self) -> bool:
        """Whether the data record intervention pairs (pre, post), as CausalCircuit's shards."""
        return bool(self.manifest.get("pairs"))

    @property
    def has_simulator(self) -> bool:
        """Whether any unit can be rendered under any do() (generated data); downloaded data
        hold at most recorded intervention pairs."""
        return isinstance(self.scm, ImageSCM)

    def indices(self, split: str = "train") -> np.ndarray:
        if split == "train":
            return self.train_idx
        if split == "test":
            return self.test_idx
        if split == "all":
            return np.arange(len(self))
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """x float32 (N, 3, H, W) in [0, 1] and labels u float32 (N, n_vars)."""
        idx = self.indices(split)
        x = np.ascontiguousarray(self.images[idx].transpose(0, 3, 1, 2), dtype=np.float32)
        x /= 255.0
        return torch.from_numpy(x), torch.from_numpy(self.labels[idx].copy())

    def label_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (float32, per variable) of the train labels; a zero std becomes 1."""
        u = self.labels[self.train_idx].astype(np.float64)
        std = u.std(0)
        return u.mean(0).astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def _content_sha256(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in ARRAYS:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


def cache_paths(params: dict, data_dir: Path) -> tuple[Path, Path]:
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    stem = f"{params['dataset']}_{params['mode']}_{params['resolution']}px_{key}"
    return data_dir / f"{stem}.npz", data_dir / f"{stem}.json"


def _read_cache(npz: Path, meta: Path, params: dict) -> tuple[dict | None, str]:
    """Arrays and manifest if the cache is valid, else (None, why it is not)."""
    if not npz.exists() or not meta.exists():
        return None, "missing"
    try:
        manifest = json.loads(meta.read_text())
    except (OSError, ValueError) as e:
        return None, f"unreadable manifest ({e})"
    if manifest.get("params") != params:
        return None, "manifest parameters differ from the requested ones"
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAYS}
    except Exception as e:  # truncated zip, bad CRC, missing key...
        return None, f"unreadable data file ({type(e).__name__}: {e})"
    if _content_sha256(arrays) != manifest.get("sha256"):
        return None, "content hash mismatch (corrupted or modified file)"
    return {"arrays": arrays, "manifest": manifest}, "ok"


def _generate(scm: ImageSCM, params: dict) -> dict[str, np.ndarray]:
    if params["mode"] == "grid":
        s, _, _ = scm.grid(params["resolution"], seed=params["seed"])
    else:
        s = scm.sample(params["n"], seed=params["seed"], resolution=params["resolution"])
    return {"images": s.images, "labels": s.labels, "exogenous": s.exogenous}


def _split(scm: ImageSCM, mode: str, n: int, test_fraction: float, seed: int):
    if mode == "grid":
        _, train, test = scm.grid_exogenous(seed)
        return train, test, "peers' grid split"
    n_test = int(round(n * test_fraction))
    idx = np.arange(n)
    return idx[: n - n_test], idx[n - n_test:], f"last {n_test} of {n} i.i.d. units"


def load_dataset(name: str, mode: str = "grid", resolution: int = 64, n: int | None = None,
                 seed: int = 0, noise_std: float = 0.0, test_fraction: float = 0.2,
                 cache: bool = True, data_dir: str | Path | None = None) -> ImageDataset:
    """Pendulum or Water-flow images + float labels, generated once and cached under DATA_DIR."""
    scm = get_scm(name, noise_std)
    if mode not in DATA_MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {list(DATA_MODES)}")
    check_render_resolution(resolution)
    seed = check_count(seed, "seed")
    if mode == "random":
        if n is None:
            raise ValueError("mode='random' needs the number of samples n")
        if check_count(n, "n") == 0:
            raise ValueError("n must be a positive integer, got 0")
        if not 0.0 <= float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    elif n is not None:
        raise ValueError("n applies only to mode='random'; the grid has a fixed size")
    params = {"dataset": name, "mode": mode, "resolution": int(resolution), "seed": seed,
              "noise_std": scm.noise_std, "n": None if n is None else int(n),
              "generator_version": GENERATOR_VERSION}

    found = None
    if cache:
        data_dir = paths.ensure_dir(data_dir if data_dir is not None else paths.DATA_DIR)
        npz, meta = cache_paths(params, data_dir)
        found, why = _read_cache(npz, meta, params)
        if found is None and why != "missing":
            warnings.warn(f"regenerating dataset cache {npz.name}: {why}", RuntimeWarning,
                          stacklevel=2)
    if found is not None:
        arrays, manifest = found["arrays"], found["manifest"]
    else:
        arrays = _generate(scm, params)
        manifest = {"params": params, "sha256": _content_sha256(arrays),
                    "shapes": {k: list(v.shape) for k, v in arrays.items()},
                    "names": scm.names, "units": scm.units,
                    "exogenous_names": list(scm.exogenous_names)}
        if cache:
            atomic_write(npz, lambda f: np.savez_compressed(f, **arrays))
            atomic_write(meta, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
            log.info("cached %s (%d images)", npz, len(arrays["labels"]))
    train, test, how = _split(scm, mode, len(arrays["labels"]), test_fraction, seed)
    manifest = {**manifest, "split": how, "n_train": len(train), "n_test": len(test)}
    return ImageDataset(arrays["images"], arrays["labels"], arrays["exogenous"], train, test,
                        scm, scm.graph, manifest)
