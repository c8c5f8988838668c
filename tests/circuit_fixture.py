"""Fixture CausalCircuit shards in the published layout, for the tests and for timing.

A toy SCM on CausalCircuit's graph (arm -> red, green, blue; green, blue -> red) draws each
pair's pre-intervention state, then intervenes on one variable (or none) with the same noise,
as the published pairs do. Images show the arm as a dark bar and the lights as discs whose
brightness is the light's value; they are stored as PNG bytes (N, 2) beside
original_latents (N, 2, 4) in the stored column order (red, green, blue, arm).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

STORED = ("red", "green", "blue", "arm")
GRAPH_ORDER = ("arm", "red", "green", "blue")


def _bump(a, c):
    return np.exp(-(((a - c) / 0.12) ** 2))


def _mechanisms(arm, noise, fixed: dict) -> dict:
    """Every variable from the arm and the noise, with ``fixed`` variables held (interventions)."""
    v = {"arm": fixed.get("arm", arm)}
    v["green"] = fixed.get("green", np.clip(_bump(v["arm"], 0.25) * (0.6 + 0.4 * noise[1]), 0, 1))
    v["blue"] = fixed.get("blue", np.clip(_bump(v["arm"], 0.85) * (0.6 + 0.4 * noise[2]), 0, 1))
    drive = max(v["green"], v["blue"], _bump(v["arm"], 0.55))
    v["red"] = fixed.get("red", np.clip(0.2 + 0.5 * drive + 0.3 * noise[0], 0, 1))
    return v


def render(state: dict, resolution: int) -> np.ndarray:
    r = resolution
    img = np.full((r, r, 3), 200, np.uint8)
    x = int((0.1 + 0.8 * state["arm"]) * r)
    img[: r // 2, max(0, x - r // 16): x + r // 16] = 40
    yy, xx = np.mgrid[:r, :r]
    for cx, name, ch in ((0.2, "red", 0), (0.5, "green", 1), (0.8, "blue", 2)):
        disc = (yy - 0.75 * r) ** 2 + (xx - cx * r) ** 2 < (r / 9) ** 2
        colour = np.full(3, 30)
        colour[ch] = 55 + int(200 * state[name])
        img[disc] = colour
    return img


def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def make_pairs(n: int, resolution: int, rng: np.random.Generator):
    """(imgs (n, 2) PNG bytes, original_latents (n, 2, 4) stored order, targets (n,) graph
    index of the intervened variable, -1 for an empty intervention)."""
    imgs = np.empty((n, 2), dtype=object)
    lat = np.zeros((n, 2, 4))
    targets = np.full(n, -1)
    for i in range(n):
        noise = rng.uniform(0, 1, 3)
        pre = _mechanisms(rng.uniform(0, 1), noise, {})
        t = int(rng.integers(-1, 4))  # -1: empty intervention
        fixed = {} if t < 0 else {GRAPH_ORDER[t]: float(rng.uniform(0, 1))}
        post = _mechanisms(pre["arm"], noise, fixed)
        changed = [GRAPH_ORDER.index(k) for k in GRAPH_ORDER if abs(post[k] - pre[k]) > 1e-6]
        targets[i] = t if changed else -1  # a do() to the same value changes nothing
        for v, s in enumerate((pre, post)):
            imgs[i, v] = png(render(s, resolution))
            lat[i, v] = [s[k] for k in STORED]
    return imgs.astype(bytes), lat, targets


def write_shards(folder: Path, n_train=(40, 40), n_test: int = 40, resolution: int = 32,
                 seed: int = 0) -> dict[str, dict]:
    """train-0.npz, train-1.npz ..., test.npz and a val.npz (which must be ignored) in
    ``folder``; returns each file's latents and true targets."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    names = [f"train-{i}" for i in range(len(n_train))] + ["test", "val"]
    for name, n in zip(names, [*n_train, n_test, 4]):
        imgs, lat, targets = make_pairs(n, resolution, rng)
        np.savez(folder / f"{name}.npz", imgs=imgs, original_latents=lat,
                 epsilon=np.zeros((n, 2, 4)))  # a published key this workbook ignores
        out[name] = {"latents": lat, "targets": targets}
    return out
