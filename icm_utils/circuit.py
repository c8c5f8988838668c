"""Loader for CausalCircuit (Brehmer et al. 2022) .npz shards supplied by the user.

The data cannot be generated, only downloaded. Each shard holds ``imgs`` and
``original_latents`` (N, 2, 4): pairs of (pre-intervention, post-intervention) states. We read
element ``view`` (default 0, the pre-intervention, i.e. observational, sample) of each pair for
both the image and the label. ``imgs`` is accepted as encoded PNG/JPEG bytes of shape (N, 2) or
(N,) (the published layout) or as decoded uint8 arrays (N, 2, H, W, C) or (N, H, W, C).

Label columns: the official ICM-VAE code reorders the latents with permutation [3, 2, 1, 0]
and puts the collider (red) last; its filters show the latents are stored as
(red, green, blue, arm). We return them in ``CIRCUIT_GRAPH`` order (arm, red, green, blue).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .graph import CIRCUIT_GRAPH, CausalGraph
from .render import check_resolution
from .scm import check_count

REQUIRED_KEYS = ("imgs", "original_latents")
LATENT_ORDER = [3, 0, 1, 2]  # stored (red, green, blue, arm) -> (arm, red, green, blue)


@dataclass
class CircuitData:
    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # float32 (N, 4), CIRCUIT_GRAPH order
    graph: CausalGraph = CIRCUIT_GRAPH
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _to_rgb_array(img: Image.Image | np.ndarray, resolution: int | None) -> np.ndarray:
    im = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
    im = im.convert("RGB")  # drops an alpha channel, expands grey
    if resolution is not None and im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), Image.BOX)  # area average: no aliasing
    return np.asarray(im, dtype=np.uint8)


def _images(imgs: np.ndarray, view: int, resolution: int | None, path: Path) -> np.ndarray:
    encoded = imgs.dtype.kind in ("S", "O", "V")
    if encoded:
        if imgs.ndim == 2:
            imgs = imgs[:, view]
        elif imgs.ndim != 1:
            raise ValueError(f"{path.name}: encoded imgs must have shape (N,) or (N, 2), "
                             f"got {imgs.shape}")
        return np.stack([_to_rgb_array(Image.open(io.BytesIO(bytes(b))), resolution)
                         for b in imgs]) if len(imgs) else np.zeros((0, 0, 0, 3), np.uint8)
    if imgs.ndim == 5:
        imgs = imgs[:, view]
    if imgs.ndim != 4 or imgs.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{path.name}: imgs must be (N, 2, H, W, C), (N, H, W, C) or encoded "
                         f"bytes, got shape {imgs.shape} dtype {imgs.dtype}")
    if imgs.dtype != np.uint8:
        raise ValueError(f"{path.name}: decoded imgs must be uint8, got {imgs.dtype}")
    if resolution is None and imgs.shape[-1] == 3:
        return imgs
    return np.stack([_to_rgb_array(im[..., 0] if im.shape[-1] == 1 else im, resolution)
                     for im in imgs])


def load_circuit(folder: str | Path, resolution: int | None = 64, view: int = 0,
                 max_samples: int | None = None, allow_pickle: bool = False) -> CircuitData:
    """Read every ``*.npz`` shard in ``folder`` (sorted by name), optionally resized.

    ``allow_pickle`` is needed only if a shard stores images as a Python object array; leave
    it off for files you do not trust (unpickling can run code).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"CausalCircuit folder {folder} does not exist; download the "
                                "shards (train-*.npz, test.npz) and point load_circuit at them")
    files = sorted(folder.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no .npz shards in {folder}")
    if resolution is not None:
        check_resolution(resolution)
    if view not in (0, 1):
        raise ValueError(f"view must be 0 (pre-intervention) or 1 (post-intervention), got {view}")
    limit = None if max_samples is None else check_count(max_samples, "max_samples")
    images, labels = [], []
    total = 0
    for path in files:
        if limit is not None and total >= limit:
            break
        try:
            z = np.load(path, allow_pickle=allow_pickle)
        except (OSError, ValueError) as e:  # not a zip archive, truncated...
            raise ValueError(f"cannot read {path}: {e}") from e
        with z:
            missing = [k for k in REQUIRED_KEYS if k not in z.files]
            if missing:
                raise ValueError(f"{path.name} lacks keys {missing} (has {z.files}); "
                                 f"a CausalCircuit shard needs {list(REQUIRED_KEYS)}")
            try:
                lat, imgs = z["original_latents"], z["imgs"]
            except ValueError as e:  # object arrays need pickle, refused by default
                raise ValueError(f"{path.name}: {e} (pass allow_pickle=True only for "
                                 "trusted files)") from e
        if lat.ndim != 3 or lat.shape[1:] != (2, 4):
            raise ValueError(f"{path.name}: original_latents must have shape (N, 2, 4), "
                             f"got {lat.shape}")
        if len(imgs) != len(lat):
            raise ValueError(f"{path.name}: {len(imgs)} images but {len(lat)} latents")
        take = len(lat) if limit is None else min(len(lat), limit - total)
        images.append(_images(imgs[:take], view, resolution, path))
        labels.append(lat[:take, view][:, LATENT_ORDER].astype(np.float32))
        total += take
    return CircuitData(np.concatenate(images), np.concatenate(labels), CIRCUIT_GRAPH, files)
