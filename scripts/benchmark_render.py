"""Time the full Pendulum grid (7,308 images): numpy rasteriser vs one matplotlib figure per image.

The matplotlib route is the peers': a 1 x 1 inch figure, patches added, ``savefig`` at dpi 96
(PNG, here into memory), ``clf``. It is timed on a subset and extrapolated to the grid.
A fidelity check also draws a few scenes with matplotlib on full-frame axes (the framing the
rasteriser uses) and reports how closely the two images agree.

    python scripts/benchmark_render.py [--mpl-subset 150] [--resolution 96]
"""
from __future__ import annotations

import argparse
import io
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import icm_utils.data.pendulum as pend  # noqa: E402


def draw_mpl(ax, label) -> None:
    """The peers' drawing calls for one pendulum label row (theta, phi, length, mid)."""
    theta, phi, length, mid = (float(v) for v in label)
    th = np.deg2rad(theta)
    (px, py), rod = pend.PIVOT, pend.ROD_LENGTH
    bx, by = px + rod * np.sin(th), py - rod * np.cos(th)
    sun_x = float(pend.proj(px, py, pend.SUN_Y, phi))
    ground = pend.GROUND_Y
    ax.add_artist(plt.Polygon([pend.PIVOT, (bx, by)], color="black", linewidth=3))
    ax.add_artist(plt.Circle((bx, by), pend.BOB_RADIUS, color="firebrick"))
    ax.add_artist(plt.Circle((sun_x, pend.SUN_Y), pend.SUN_RADIUS, color="orange"))
    ax.add_artist(plt.Polygon([(mid - length / 2, ground), (mid + length / 2, ground)],
                              color="black", linewidth=3))
    ax.set_xlim(pend.XLIM)
    ax.set_ylim(pend.YLIM)
    ax.axis("off")


def time_matplotlib(labels: np.ndarray) -> float:
    plt.rcParams["figure.figsize"] = (1.0, 1.0)
    fig = plt.figure()
    t0 = time.perf_counter()
    for lab in labels:
        draw_mpl(fig.gca(), lab)
        fig.savefig(io.BytesIO(), dpi=96)  # the peers write a PNG per image
        fig.clf()
    plt.close(fig)
    return time.perf_counter() - t0


def mpl_full_frame(labels: np.ndarray) -> np.ndarray:
    """matplotlib images with the axes filling the figure (the rasteriser's framing)."""
    out = []
    for lab in labels:
        fig = plt.figure(figsize=(1, 1), dpi=96)
        ax = fig.add_axes((0, 0, 1, 1))
        draw_mpl(ax, lab)
        fig.canvas.draw()
        out.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mpl-subset", type=int, default=150)
    ap.add_argument("--resolution", type=int, default=96)
    args = ap.parse_args()
    scm = pend.PendulumSCM()
    exo, _, _ = scm.grid_exogenous()
    n = len(exo)
    labels = scm.labels_from_exogenous(exo)

    scm.render(labels[:64], exo[:64], args.resolution)  # warm-up
    t0 = time.perf_counter()
    images = scm.render(labels, exo, args.resolution)
    t_np = time.perf_counter() - t0
    t0 = time.perf_counter()
    scm.render(labels, exo, 64)
    t_np64 = time.perf_counter() - t0

    idx = np.linspace(0, n - 1, args.mpl_subset).astype(int)
    t_sub = time_matplotlib(labels[idx])
    t_mpl = t_sub / len(idx) * n

    print(f"Pendulum grid: {n} images")
    print(f"numpy rasteriser  {args.resolution}x{args.resolution}: {t_np:8.2f} s "
          f"{n / t_np:10.0f} img/s")
    print(f"numpy rasteriser  64x64: {t_np64:8.2f} s {n / t_np64:10.0f} img/s")
    print(f"matplotlib (peers, 96x96 PNG): {t_mpl:8.2f} s {n / t_mpl:10.0f} img/s "
          f"(extrapolated from {len(idx)} images in {t_sub:.2f} s)")
    print(f"speedup at 96x96: {t_mpl / t_np:.0f}x")

    check = idx[:: max(1, len(idx) // 24)]
    ref = mpl_full_frame(labels[check]).astype(np.float64)
    ours = images[check].astype(np.float64)
    ink_ref, ink_ours = ref.min(-1) < 128, ours.min(-1) < 128
    iou = (ink_ref & ink_ours).sum() / (ink_ref | ink_ours).sum()
    print(f"fidelity vs matplotlib full-frame ({len(check)} images): mean |diff| "
          f"{np.abs(ref - ours).mean() / 255:.4f}, dark-pixel IoU {iou:.3f}")


if __name__ == "__main__":
    main()
