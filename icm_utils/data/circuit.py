"""Reader for CausalCircuit (Brehmer et al. 2022) .npz shards supplied by the user.

The data cannot be generated, only downloaded. Each shard holds ``imgs`` and
``original_latents`` (N, 2, 4): pairs of (pre-intervention, post-intervention) states. ``imgs``
is accepted as encoded PNG/JPEG bytes of shape (N, 2) or (N,) (the published layout) or as
decoded uint8 arrays (N, 2, H, W, C) or (N, H, W, C). ``load_circuit`` reads element ``view``
(default 0, the pre-intervention, i.e. observational, sample) of each pair.

Label columns: the official ICM-VAE code reorders the latents with permutation [3, 2, 1, 0]
and puts the collider (red) last; its filters show the latents are stored as
(red, green, blue, arm). We return them in ``CIRCUIT_GRAPH`` order (arm, red, green, blue).
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from icm_utils.data.graph import CIRCUIT_GRAPH, CausalGraph
from icm_utils.data.render import check_render_resolution
from icm_utils.data.scm import check_count

REQUIRED_KEYS = ("imgs", "original_latents")
LATENT_ORDER = [3, 0, 1, 2]  # stored (red, green, blue, arm) -> (arm, red, green, blue)
LAYOUT = ("train*.npz (one or more, e.g. train-0.npz ... train-9.npz, or train.npz) and "
          "test.npz, each with arrays 'imgs' (N, 2) encoded images and 'original_latents' "
          "(N, 2, 4); val.npz and any other file are not read")
SPLITS = {"train": "train*.npz", "test": "test.npz"}


@dataclass
class CircuitData:
    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # float32 (N, 4), CIRCUIT_GRAPH order
    graph: CausalGraph = CIRCUIT_GRAPH
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# ---------------------------------------------------------------- the folder, from headers only
def _header(z: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array of an .npz archive, read from its .npy header alone (the
    published image arrays are gigabytes; a layout check must not load them)."""
    with z.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(f)
    return tuple(shape), dtype


def check_shard(path: Path) -> int:
    """Number of pairs in one shard, after checking its keys and shapes from the headers."""
    try:
        with zipfile.ZipFile(path) as z:
            keys = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
            found = {k: _header(z, k) for k in REQUIRED_KEYS if k in keys}
    except (OSError, zipfile.BadZipFile, ValueError) as e:  # not a zip, truncated, bad header
        raise ValueError(f"cannot read {path}: {e}") from e
    missing = [k for k in REQUIRED_KEYS if k not in found]
    if missing:
        raise ValueError(f"{path.name} lacks keys {missing} (has {keys}); "
                         f"a CausalCircuit shard needs {list(REQUIRED_KEYS)}")
    (lat, _), (imgs, dtype) = found["original_latents"], found["imgs"]
    if len(lat) != 3 or lat[1:] != (2, 4):
        raise ValueError(f"{path.name}: original_latents must have shape (N, 2, 4), got {lat}")
    encoded = dtype.kind in ("S", "O", "V")
    if (encoded and len(imgs) not in (1, 2)) or (not encoded and len(imgs) not in (4, 5)):
        raise ValueError(f"{path.name}: imgs must be encoded bytes (N, 2) or decoded uint8 "
                         f"(N, 2, H, W, C), got shape {imgs} dtype {dtype}")
    if imgs[0] != lat[0]:
        raise ValueError(f"{path.name}: {imgs[0]} images but {lat[0]} latents")
    return int(lat[0])


def check_folder(folder: str | Path) -> dict[str, list[Path]]:
    """The shards of each split ({"train": [...], "test": [...]}), after checking file names,
    keys and shapes from the headers alone (no image is decoded). Every error names the folder
    and the files expected there, so it can stop a run before any data are read."""
    folder = Path(folder).expanduser()
    expect = f"expected in it: {LAYOUT}"
    if not folder.is_dir():
        raise FileNotFoundError(f"CausalCircuit folder {folder} does not exist; {expect}")
    splits = {s: sorted(folder.glob(pattern)) for s, pattern in SPLITS.items()}
    missing = [SPLITS[s] for s, files in splits.items() if not files]
    if missing:
        raise FileNotFoundError(f"CausalCircuit folder {folder} has no {' and no '.join(missing)}"
                                f" (found {sorted(p.name for p in folder.glob('*'))[:12]}); "
                                f"{expect}")
    for files in splits.values():
        for path in files:
            try:
                check_shard(path)
            except ValueError as e:
                raise ValueError(f"CausalCircuit folder {folder}: {e}; {expect}") from e
    return splits


# ---------------------------------------------------------------- reading shards
def _to_rgb_array(img: Image.Image | np.ndarray, resolution: int | None) -> np.ndarray:
    im = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img))
    if resolution is not None and isinstance(img, Image.Image):
        # JPEG: decode at 1/2, 1/4 or 1/8 scale in the DCT domain (the published 512 px images
        # at 128 px: 1.7 ms instead of 5.5 ms per image, mean |difference| 0.4 of 255)
        im.draft("RGB", (resolution, resolution))
    im = im.convert("RGB")  # drops an alpha channel, expands grey
    if resolution is not None and im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), Image.BOX)  # area average: no aliasing
    return np.asarray(im, dtype=np.uint8)


def decode_images(imgs: np.ndarray, view: int, resolution: int | None,
                  name: str = "imgs") -> np.ndarray:
    """(M, H, W, 3) uint8 images of element ``view`` of each pair in ``imgs`` (any layout
    accepted by this module; ``view`` is ignored for arrays without a pair axis)."""
    encoded = imgs.dtype.kind in ("S", "O", "V")
    if encoded:
        if imgs.ndim == 2:
            imgs = imgs[:, view]
        elif imgs.ndim != 1:
            raise ValueError(f"{name}: encoded imgs must have shape (N,) or (N, 2), "
                             f"got {imgs.shape}")
        if not len(imgs):
            r = resolution or 0
            return np.zeros((0, r, r, 3), np.uint8)
        return np.stack([_to_rgb_array(Image.open(io.BytesIO(bytes(b))), resolution)
                         for b in imgs])
    if imgs.ndim == 5:
        imgs = imgs[:, view]
    if imgs.ndim != 4 or imgs.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name}: imgs must be (N, 2, H, W, C), (N, H, W, C) or encoded "
                         f"bytes, got shape {imgs.shape} dtype {imgs.dtype}")
    if imgs.dtype != np.uint8:
        raise ValueError(f"{name}: decoded imgs must be uint8, got {imgs.dtype}")
    if resolution is None and imgs.shape[-1] == 3:
        return imgs
    return np.stack([_to_rgb_array(im[..., 0] if im.shape[-1] == 1 else im, resolution)
                     for im in imgs])


def read_shard(path: Path, allow_pickle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(latents (N, 2, 4) float64 in graph order, the raw ``imgs`` array) of one shard."""
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
    return lat[:, :, LATENT_ORDER].astype(np.float64), imgs


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
        check_render_resolution(resolution)
    if view not in (0, 1):
        raise ValueError(f"view must be 0 (pre-intervention) or 1 (post-intervention), got {view}")
    limit = None if max_samples is None else check_count(max_samples, "max_samples")
    images, labels = [], []
    total = 0
    for path in files:
        if limit is not None and total >= limit:
            break
        lat, imgs = read_shard(path, allow_pickle)
        take = len(lat) if limit is None else min(len(lat), limit - total)
        images.append(decode_images(imgs[:take], view, resolution, path.name))
        labels.append(lat[:take, view].astype(np.float32))
        total += take
    return CircuitData(np.concatenate(images), np.concatenate(labels), CIRCUIT_GRAPH, files)


# ---------------------------------------------------------------- which variable a pair intervenes on
def intervention_targets(latents: np.ndarray, graph: CausalGraph = CIRCUIT_GRAPH,
                         tol: float = 1e-6) -> np.ndarray:
    """Index (graph order) of the variable each (pre, post) pair intervenes on, -1 where none
    can be named: no variable changed (an empty intervention), or the changes are not one
    variable and its descendants.

    Read from the latents alone: an atomic intervention on j changes j, may change j's
    descendants, and leaves every other variable as it was (the same noise, the same parents).
    So the target is the one changed variable none of whose ancestors changed.
    """
    lat = np.asarray(latents, dtype=np.float64)
    if lat.ndim != 3 or lat.shape[1:] != (2, graph.n):
        raise ValueError(f"latents must have shape (N, 2, {graph.n}), got {lat.shape}")
    changed = np.abs(lat[:, 1] - lat[:, 0]) > tol  # (N, n)
    anc = graph.ancestor_matrix().astype(bool)  # anc[a, b]: a is an ancestor of b
    out = np.full(len(lat), -1)
    for j in range(graph.n):
        allowed = np.zeros(graph.n, bool)
        allowed[j] = True
        allowed |= anc[j]  # j and its descendants
        ok = changed[:, j] & ~(changed & ~allowed).any(1)
        out[ok & (out == -1)] = j
    return out
