"""Your own data: a folder of images, a labels table and a causal graph, read into the dataset
object the built-in datasets give (``datasets.ImageDataset``), every file checked first.

    DATA_DIR/
      graph.json    {"variables": ["a", {"name": "b", "unit": "cm", "range": [0, 10]}],
                     "edges": [["a", "b"]]}                     (or graph.toml, the same keys)
      labels.csv    file,a,b[,split]   one row per image, one numeric column per variable;
                                       split (optional): train / test, else a seeded split
      images/       the PNG or JPEG files the rows name (any size; RGB, grey or RGBA)
    or, in place of images/, images.npz with an array "images" (N, H, W[, C]) uint8 and a column
    "index" (the image's row of that array) in place of "file".

Images reach the run's resolution one way: centre-cropped to a square, then resized with
Pillow's bicubic filter (an image already of that size is kept as it is); grey is repeated to
RGB and RGBA composited on white. Without a split column the last round(N * test_fraction) units
of a permutation drawn from ``seed`` go to test. The decoded arrays are cached under
``paths.DATA_DIR`` keyed by the SHA-256 of every file read, so a changed file is noticed and
never silently reused; nothing is written into the user's folder.

    python -m icm_utils.data.folder check DATA_DIR          # every file checked, a summary
    python -m icm_utils.data.folder export pendulum OUT     # a built-in dataset in this format
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from icm_utils.core import paths
from icm_utils.core.io import atomic_write
from icm_utils.data.datasets import SCMS, ImageDataset, load_dataset
from icm_utils.data.graph import CausalGraph, GraphError
from icm_utils.data.render import check_render_resolution
from icm_utils.data.scm import NoSimulator

try:  # the standard library's TOML reader (Python >= 3.11)
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    tomllib = None

GRAPH_FILES = ("graph.json", "graph.toml")
LABELS_FILE, IMAGES_DIR, IMAGES_NPZ = "labels.csv", "images", "images.npz"
SPLITS = ("train", "test")
MIN_PER_SPLIT = 2  # the smallest split a run can be scored on
TEST_FRACTION = 0.2  # without a split column: the share of units a seeded permutation tests on
CACHE_VERSION = "1"  # bump when decoding or resizing changes
LAYOUT = (f"{GRAPH_FILES[0]} (or {GRAPH_FILES[1]}), {LABELS_FILE} and the images in {IMAGES_DIR}/ "
          f"(or one {IMAGES_NPZ}); docs/own_data.md")


class FolderError(ValueError):
    """A file of a user's data folder is missing or wrong; the message names it (and the row)."""


# ---------------------------------------------------------------- the graph
def _graph_file(folder: Path) -> Path:
    found = [folder / f for f in GRAPH_FILES if (folder / f).is_file()]
    if not found:
        raise FolderError(f"{folder}: no {' or '.join(GRAPH_FILES)}; the folder needs {LAYOUT}")
    if len(found) > 1:
        raise FolderError(f"{folder}: both {GRAPH_FILES[0]} and {GRAPH_FILES[1]}; keep one")
    return found[0]


def read_graph(folder: Path | str) -> tuple[CausalGraph, dict[str, str], dict[str, tuple]]:
    """(graph, unit per variable, plausible range per variable given) from the graph file."""
    path = _graph_file(Path(folder))
    if path.suffix == ".toml" and tomllib is None:
        raise FolderError(f"{path}: TOML needs Python >= 3.11; write {GRAPH_FILES[0]}")
    try:
        spec = json.loads(path.read_text()) if path.suffix == ".json" else \
            tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise FolderError(f"{path} is not valid {path.suffix[1:].upper()}: {e}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("variables"), list):
        raise FolderError(f"{path}: needs a list 'variables' (names, or tables with 'name' and "
                          f"optional 'unit' and 'range') and a list 'edges' of [cause, effect]")
    names, units, ranges = [], {}, {}
    for k, v in enumerate(spec["variables"]):
        entry = {"name": v} if isinstance(v, str) else v
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise FolderError(f"{path}: variable {k} must be a name or a table with 'name', "
                              f"got {v!r}")
        name = entry["name"]
        names.append(name)
        units[name] = str(entry.get("unit", ""))
        if "range" in entry:
            r = entry["range"]
            if (not isinstance(r, list) or len(r) != 2 or not all(_is_number(x) for x in r)
                    or not r[0] < r[1]):
                raise FolderError(f"{path}: range of {name!r} must be [low, high] numbers with "
                                  f"low < high, got {r!r}")
            ranges[name] = (float(r[0]), float(r[1]))
    edges = spec.get("edges", [])
    if not isinstance(edges, list) or any(not isinstance(e, list) or len(e) != 2 for e in edges):
        raise FolderError(f"{path}: 'edges' must be a list of [cause, effect] pairs")
    try:
        graph = CausalGraph(names, [tuple(e) for e in edges])
    except GraphError as e:
        raise FolderError(f"{path}: {e}") from None
    return graph, units, ranges


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ---------------------------------------------------------------- the labels
@dataclass
class Labels:
    """labels.csv read and checked: one entry per image, in the file's order."""

    keys: list  # file names in images/, or rows of images.npz
    values: np.ndarray  # float32 (N, n), graph order
    is_test: np.ndarray | None  # the split column (True: test), or None without one
    lines: list[int]  # each row's line in labels.csv, for messages


def read_labels(folder: Path | str, graph: CausalGraph) -> Labels:
    """labels.csv, every cell checked (a UTF-8 byte-order mark, as spreadsheets write, is fine)."""
    folder = Path(folder)
    path = folder / LABELS_FILE
    if not path.is_file():
        raise FolderError(f"{folder}: no {LABELS_FILE}; the folder needs {LAYOUT}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise FolderError(f"{path} is empty")
    head = [h.strip() for h in rows[0][1]]
    npz = (folder / IMAGES_NPZ).is_file()
    key = "index" if npz else "file"
    if key not in head:
        raise FolderError(f"{path}: the header needs a column {key!r} (the "
                          f"{'row of ' + IMAGES_NPZ if npz else 'image file in ' + IMAGES_DIR}/"
                          f"), got {head}")
    extra = [h for h in head if h not in (key, "split", *graph.names)]
    if extra:
        raise FolderError(f"{path}: column(s) {extra} are not variables of the graph "
                          f"{graph.names}")
    missing = [v for v in graph.names if v not in head]
    if missing:
        raise FolderError(f"{path}: the graph's variable(s) {missing} have no column")
    cols = [head.index(v) for v in graph.names]
    keys, labels, split, lines = [], [], [], []
    for r, row in rows[1:]:  # line numbers as an editor shows them
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(head):
            raise FolderError(f"{path}, line {r}: {len(row)} cells, the header has {len(head)}")
        k = row[head.index(key)].strip()
        if npz:
            if not k.isdigit():
                raise FolderError(f"{path}, line {r}: index {k!r} is not a row number")
            k = int(k)
        values = []
        for v, c in zip(graph.names, cols):
            try:
                x = float(row[c])
            except ValueError:
                raise FolderError(f"{path}, line {r}: {v}={row[c]!r} is not a number") from None
            if not math.isfinite(x):
                raise FolderError(f"{path}, line {r}: {v}={row[c]!r} is not a finite number")
            values.append(x)
        keys.append(k)
        labels.append(values)
        lines.append(r)
        if "split" in head:
            s = row[head.index("split")].strip()
            if s not in SPLITS:
                raise FolderError(f"{path}, line {r}: split={s!r} must be one of {SPLITS}")
            split.append(s == "test")
    if not keys:
        raise FolderError(f"{path} has a header but no rows: the folder holds no labelled image")
    seen: dict = {}
    for r, k in zip(lines, keys):
        if k in seen:
            raise FolderError(f"{path}, line {r}: image {k!r} is listed twice (also on line "
                              f"{seen[k]})")
        seen[k] = r
    return Labels(keys, np.asarray(labels, dtype=np.float32),
                  np.asarray(split) if split else None, lines)


# ---------------------------------------------------------------- the images
def to_rgb_square(img: Image.Image, resolution: int) -> np.ndarray:
    """uint8 (R, R, 3): turned upright as its EXIF says (camera JPEGs), RGBA composited on white,
    16-bit grey scaled to 8 bits, grey and palettes to RGB, centre-cropped to a square, resized
    (bicubic) unless already of that size."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: 0..65535 -> 0..255
        img = Image.fromarray((np.asarray(img, dtype=np.float64) / 257).round().clip(0, 255)
                              .astype(np.uint8))
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def _image_header(path: Path, line: int) -> None:
    """A listed image exists and its header is an image's (cheap: no pixels decoded)."""
    if not path.is_file():
        raise FolderError(f"{path} is missing ({LABELS_FILE}, line {line})")
    try:
        with Image.open(path):
            pass
    except (UnidentifiedImageError, OSError) as e:
        raise FolderError(f"{path} cannot be read as an image ({LABELS_FILE}, line {line}): "
                          f"{e}") from None


def _read_image(path: Path, line: int) -> Image.Image:
    if not path.is_file():
        raise FolderError(f"{path} is missing ({LABELS_FILE}, line {line})")
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise FolderError(f"{path} cannot be read as an image ({LABELS_FILE}, line {line}): "
                          f"{e}") from None


def _npz_images(folder: Path) -> np.ndarray:
    path = folder / IMAGES_NPZ
    try:
        with np.load(path, allow_pickle=False) as z:
            arr = z["images"]
    except KeyError:
        raise FolderError(f"{path} has no array 'images'") from None
    except (OSError, ValueError) as e:
        raise FolderError(f"{path} cannot be read: {e}") from None
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] not in
                                                            (1, 3, 4)):
        raise FolderError(f"{path}: 'images' must be uint8 (N, H, W) or (N, H, W, 1|3|4), got "
                          f"{arr.dtype} {arr.shape}")
    return arr


def _npz_rows(folder: Path, labels: Labels) -> np.ndarray:
    """images.npz, every index of the labels checked against its length."""
    arr = _npz_images(folder)
    for line, k in zip(labels.lines, labels.keys):
        if k >= len(arr):
            raise FolderError(f"{folder / LABELS_FILE}, line {line}: index {k} is beyond "
                              f"{IMAGES_NPZ}'s {len(arr)} images")
    return arr


def read_images(folder: Path | str, labels: Labels, resolution: int) -> np.ndarray:
    """uint8 (N, R, R, 3) for the labels' keys (files of images/, or rows of images.npz)."""
    folder = Path(folder)
    out = np.empty((len(labels.keys), resolution, resolution, 3), dtype=np.uint8)
    if (folder / IMAGES_NPZ).is_file():
        arr = _npz_rows(folder, labels)
        for i, k in enumerate(labels.keys):
            a = arr[k][..., 0] if arr.ndim == 4 and arr.shape[3] == 1 else arr[k]
            out[i] = to_rgb_square(Image.fromarray(a), resolution)
        return out
    for i, (line, k) in enumerate(zip(labels.lines, labels.keys)):
        out[i] = to_rgb_square(_read_image(folder / IMAGES_DIR / k, line), resolution)
    return out


# ---------------------------------------------------------------- checks, split, cache
def check_folder(folder: Path | str) -> dict:
    """What a run checks before any training: the graph and labels parse, every image the labels
    name exists, and both splits can hold enough units. Returns {"graph", "n", "files"}."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FolderError(f"{folder} is not a folder; it needs {LAYOUT}")
    graph, _, _ = read_graph(folder)
    labels = read_labels(folder, graph)
    keys = labels.keys
    if (folder / IMAGES_NPZ).is_file():
        _npz_rows(folder, labels)
    else:
        if not (folder / IMAGES_DIR).is_dir():
            raise FolderError(f"{folder}: no {IMAGES_DIR}/ folder and no {IMAGES_NPZ}")
        for line, k in zip(labels.lines, keys):
            _image_header(folder / IMAGES_DIR / k, line)
    n_test = int(labels.is_test.sum()) if labels.is_test is not None else \
        int(round(len(keys) * TEST_FRACTION))
    if min(n_test, len(keys) - n_test) < MIN_PER_SPLIT:
        raise FolderError(f"{folder}: {len(keys)} labelled images are too few to split into "
                          f"train and test (at least {MIN_PER_SPLIT} each)")
    return {"graph": graph, "n": len(keys), "files": _files(folder, keys)}


def _files(folder: Path, keys: list) -> list[Path]:
    data = [folder / IMAGES_NPZ] if (folder / IMAGES_NPZ).is_file() else \
        [folder / IMAGES_DIR / k for k in keys]
    return [_graph_file(folder), folder / LABELS_FILE, *data]


def content_key(files: list[Path]) -> str:
    """SHA-256 over every file's name and bytes: any change to any file gives another key."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def split_indices(n: int, is_test: np.ndarray | None, test_fraction: float, seed: int):
    """(train, test) indices: the labels' split column, else a permutation drawn from ``seed``
    whose last round(n * test_fraction) units go to test (both sorted)."""
    if is_test is not None:
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[: n - n_test]), np.sort(perm[n - n_test:])


def load_folder(folder: Path | str, resolution: int = 64, seed: int = 0,
                test_fraction: float = TEST_FRACTION, cache: bool = True,
                cache_dir: Path | str | None = None) -> ImageDataset:
    """A user's folder as an ``ImageDataset`` (graph, float labels, split, no simulator)."""
    folder = Path(folder).expanduser().resolve()
    check_render_resolution(resolution)
    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    checked = check_folder(folder)
    graph, units, ranges = read_graph(folder)
    labels = read_labels(folder, graph)
    keys = labels.keys
    key = content_key(checked["files"])
    params = {"folder": str(folder), "resolution": int(resolution), "content": key,
              "version": CACHE_VERSION}
    npz = meta = None
    images = None
    if cache:
        cache_dir = paths.ensure_dir(cache_dir if cache_dir is not None else paths.DATA_DIR)
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        stem = f"own_{resolution}px_{digest[:12]}"
        npz, meta = cache_dir / f"{stem}.npz", cache_dir / f"{stem}.json"
        images = _read_cache(npz, meta, params, len(keys), resolution)
    if images is None:
        images = read_images(folder, labels, resolution)
        if cache:
            atomic_write(npz, lambda f: np.save(f, images))
            atomic_write(meta, lambda f: f.write(json.dumps(
                {"params": params, "shape": list(images.shape),
                 "sha256": hashlib.sha256(images.tobytes()).hexdigest()}, indent=1).encode()))
    train, test = split_indices(len(keys), labels.is_test, test_fraction, seed)
    lo, hi = labels.values.min(0), labels.values.max(0)
    label_range = {v: ranges.get(v, (float(lo[i]), float(hi[i])))
                   for i, v in enumerate(graph.names)}
    manifest = {"dataset": "own", "folder": str(folder), "content": key,
                "resolution": int(resolution), "n": len(keys), "keys": [str(k) for k in keys],
                "split": "the labels' split column" if labels.is_test is not None else
                f"seeded permutation (seed {seed}), last {len(test)} to test",
                "test_keys": [str(keys[i]) for i in test], "n_train": len(train),
                "n_test": len(test), "units": units, "label_range": label_range}
    scm = NoSimulator(folder.name, units=units, label_range=label_range)
    return ImageDataset(images, labels.values, np.zeros((len(keys), 0)), train, test, scm, graph,
                        manifest)


def _read_cache(npz: Path, meta: Path, params: dict, n: int, resolution: int):
    if not npz.exists() or not meta.exists():
        return None
    try:
        info = json.loads(meta.read_text())
        if info.get("params") != params:
            raise ValueError("its files or settings differ")
        images = np.load(npz, allow_pickle=False)
        if images.shape != (n, resolution, resolution, 3) or \
                hashlib.sha256(images.tobytes()).hexdigest() != info.get("sha256"):
            raise ValueError("its arrays do not match their manifest")
        return images
    except (OSError, ValueError) as e:
        warnings.warn(f"rebuilding the image cache {npz.name}: {e}", RuntimeWarning, stacklevel=3)
        return None


# ---------------------------------------------------------------- export
def export_folder(dataset: ImageDataset, out: Path | str, image_format: str = "png",
                  size: int | None = None, units: dict | None = None) -> Path:
    """Write a dataset in the folder format (graph.json, labels.csv with its split, images/),
    e.g. a built-in one to check the loader against it. ``size``: save the images at another
    size (resized bicubic); labels are written with 9 significant digits (float32 exactly)."""
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    out = Path(out)
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    units = units if units is not None else getattr(dataset.scm, "units", {}) or {}
    spec = {"variables": [{"name": v, **({"unit": units[v]} if units.get(v) else {})}
                          for v in dataset.graph.names],
            "edges": [list(e) for e in dataset.graph.edges]}
    (out / GRAPH_FILES[0]).write_text(json.dumps(spec, indent=1) + "\n")
    is_test = np.zeros(len(dataset), dtype=bool)
    is_test[np.asarray(dataset.test_idx)] = True
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", *dataset.graph.names, "split"])
    for i in range(len(dataset)):
        name = f"{i:06d}.{image_format}"
        img = Image.fromarray(dataset.images[i])
        if size is not None and size != img.size[0]:
            img = img.resize((size, size), Image.BICUBIC)
        img.save(out / IMAGES_DIR / name, **({"quality": 95} if image_format == "jpg" else {}))
        writer.writerow([name, *(f"{x:.9g}" for x in dataset.labels[i]),
                         "test" if is_test[i] else "train"])
    (out / LABELS_FILE).write_text(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.data.folder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check a folder as a run would, and summarise it")
    c.add_argument("folder", type=Path)
    e = sub.add_parser("export", help="write a built-in dataset (its grid) in the folder format")
    e.add_argument("dataset", choices=sorted(SCMS))
    e.add_argument("out", type=Path)
    e.add_argument("--resolution", type=int, default=64)
    e.add_argument("--format", choices=("png", "jpg"), default="png")
    e.add_argument("--size", type=int, default=None, help="save the images at this size")
    a = p.parse_args(argv)
    try:
        if a.command == "check":
            info = check_folder(a.folder)
            print(f"{a.folder}: {info['n']} labelled images; graph {info['graph']}")
        else:
            ds = load_dataset(a.dataset, resolution=a.resolution)
            out = export_folder(ds, a.out, a.format, a.size)
            print(f"wrote {len(ds)} images of {a.dataset} to {out} ({LAYOUT})")
    except FolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
