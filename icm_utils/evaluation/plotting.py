"""Plot helpers shared by the notebooks: one place to style and save figures."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use(matplotlib.get_backend() if matplotlib.get_backend() else "Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd
import seaborn as sns

from icm_utils.core.paths import FIGURES_DIR, ensure_dir  # noqa: E402


def save_figure(fig, name: str, directory: Path | str | None = None, dpi: int = 110) -> Path:
    """Save `fig` as PNG under `directory` (default: the project's figures/); return the path.

    Notebooks pass `directory=FIG_DIR` from their parameters so papermill runs write into
    their run folder instead of overwriting the committed figures.
    """
    out = ensure_dir(directory or FIGURES_DIR) / f"{name}.png"
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    return out


def image_grid(images: np.ndarray, nrow: int, titles=None, ax=None, pad: int = 2,
               gap: int = 255):
    """Tile (N, H, W, 3) images (uint8 or float in [0,1]) into one picture on `ax`, ``pad``
    pixels apart, the gaps in grey level ``gap`` (255: white; darker shows where white tiles end)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255).astype(np.uint8)
    n, h, w, c = images.shape
    ncol = int(np.ceil(n / nrow))
    canvas = np.full((nrow * (h + pad) - pad, ncol * (w + pad) - pad, c), gap, np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, ncol)
        canvas[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = im
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * ncol, 1.2 * nrow))
    ax.imshow(canvas)
    ax.axis("off")
    return ax


def plot_history(history, terms=("loss", "rec", "kl_eps", "logdet", "kl_prior"), ax=None):
    """Loss terms per epoch (seaborn), one line each, with the alpha/beta warm-up on a twin axis."""
    df = pd.DataFrame(history)
    cols = [t for t in terms if t in df and df[t].abs().sum() > 0]
    long = df.melt(id_vars="epoch", value_vars=cols, var_name="term", value_name="value")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    sns.lineplot(data=long, x="epoch", y="value", hue="term", marker="o", ax=ax)
    ax.set_yscale("symlog")
    ax.set_title("loss terms per epoch (mean per image)")
    if "beta" in df:
        tw = ax.twinx()
        tw.plot(df["epoch"], df["alpha"], "k:", lw=1, label="alpha")
        tw.plot(df["epoch"], df["beta"], "k--", lw=1, label="beta")
        tw.set_ylabel("warm-up weight")
        tw.legend(loc="center right", fontsize=8)
    return ax


def to_hwc(x) -> np.ndarray:
    """(N,3,H,W) float tensor/array in [0,1] -> (N,H,W,3) numpy for image_grid."""
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return np.clip(x.transpose(0, 2, 3, 1), 0, 1)
