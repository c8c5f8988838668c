"""Training health and time: did a run's reconstruction blow up and stay up, and how long it took.

Under the official recipe (Adam 1e-3, no gradient clipping, the prior's weights ramping up) a run
can leave its basin: the reconstruction term jumps back to the level of the first epoch (the
decoder draws one mean image), the encoder's noise collapses onto the prior (kl_eps -> 0), and it
never recovers. Its code then carries no factor and every metric reads 0. ``diverged_at`` finds
that epoch in a run's history; ``health_table`` lists it, with the run's measured time, for every
run of a folder, so a divergence is a row of a table rather than a surprise in a mean.

    python -m icm_utils.training.health RUN_FOLDER --out results/official
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from icm_utils.training.runs import finished_runs, run_dir_for

FACTOR = 2.0  # a jump to over twice the best reconstruction so far that never comes back
HEALTH_COLUMNS = ["dataset", "model", "seed", "epochs", "seconds", "median_epoch_seconds", "best_rec",
           "best_epoch", "final_rec", "diverged_at"]


def duration(seconds: float) -> str:
    """A time as the sweep's lines print it: "78 s" under 90 s, else whole minutes "42 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def diverged_at(rec: Sequence[float], factor: float = FACTOR) -> int | None:
    """The first epoch (1-based) from which the reconstruction stays above ``factor`` x its best
    value before that epoch until the end of training; None if the run ends within that bound.
    A spike the run recovers from is not a divergence; a non-finite value counts as above."""
    rec = np.asarray(rec, float)
    rec = np.where(np.isfinite(rec), rec, np.inf)
    if len(rec) < 2:
        return None
    best_before = np.minimum.accumulate(rec)[:-1]  # best_before[e - 1]: min over epochs < e
    # the minimum of everything from epoch e on, to test "stays above" in one comparison
    min_after = np.minimum.accumulate(rec[::-1])[::-1][1:]
    hit = np.flatnonzero(min_after > factor * best_before)
    return int(hit[0]) + 2 if hit.size else None


def run_divergence(run_dir: Path | str) -> int | None:
    """A finished run's divergence epoch from its ``history.csv``; None if none or unreadable."""
    try:
        return diverged_at(pd.read_csv(Path(run_dir) / "history.csv")["rec"])
    except (OSError, KeyError, ValueError):
        return None


def run_health(history: pd.DataFrame) -> dict:
    """One run's row (without its ident): epochs, measured seconds, best and final
    reconstruction, the divergence epoch (None if none)."""
    rec = history["rec"].to_numpy(float)
    best = int(np.nanargmin(rec)) if np.isfinite(rec).any() else 0
    secs = history["seconds"].to_numpy(float) if "seconds" in history else np.full(len(rec), np.nan)
    return {"epochs": len(rec), "seconds": float(np.nansum(secs)),
            "median_epoch_seconds": float(np.nanmedian(secs)) if len(secs) else float("nan"),
            "best_rec": float(rec[best]), "best_epoch": best + 1, "final_rec": float(rec[-1]),
            "diverged_at": diverged_at(rec)}


def health_table(root: Path | str, cfgs: Sequence | None = None) -> pd.DataFrame:
    """One row per finished run, from its ``done.json`` and ``history.csv``: the runs of
    ``cfgs`` (TrainConfigs; unfinished ones left out), or every run under ``root/models`` (the
    sweep's layout)."""
    dones = [rd / "done.json" for rd in finished_runs(root, cfgs)]
    rows = []
    for done in dones:
        train = json.loads(done.read_text())["train"]
        hist = pd.read_csv(done.parent / "history.csv")
        # the folder name carries the variant tags (graph, data mode, noise): keep them apart
        rows.append({"dataset": train["dataset"], "model": done.parent.parent.name,
                     "seed": train["seed"], **run_health(hist)})
    if not rows:
        raise FileNotFoundError(f"no finished runs under {Path(root) / 'models'}")
    return pd.DataFrame(rows, columns=HEALTH_COLUMNS)


def _readable_axes(ax) -> None:
    """Whole epochs on x; plain decimals (1, 2, 3, 5 x 10^k) on the log y axis, no 6x10^0."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 3, 5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_reconstruction(root: Path | str, cfgs: Sequence):
    """Each finished run's reconstruction per epoch (log scale), one panel per dataset and model,
    seeds as lines; a cross marks the epoch a run diverged at."""
    runs = [(c, run_dir_for(root, c) / "history.csv") for c in cfgs]
    runs = [(c, pd.read_csv(h)) for c, h in runs if h.exists()]
    if not runs:
        raise FileNotFoundError(f"no finished runs of these configs under {root}")
    panels = list(dict.fromkeys((c.dataset, c.model) for c, _ in runs))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.8), squeeze=False,
                             sharey=True)
    for ax, (ds, model) in zip(axes[0], panels, strict=True):
        for c, hist in runs:
            if (c.dataset, c.model) != (ds, model):
                continue
            line, = ax.plot(hist["epoch"], hist["rec"], label=f"seed {c.seed}")
            e = diverged_at(hist["rec"])
            if e is not None:
                ax.plot(e, hist["rec"].iloc[e - 1], "x", color=line.get_color(), ms=9, mew=2)
        ax.set(title=f"{ds}: {model}", xlabel="epoch", yscale="log")
        _readable_axes(ax)
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("reconstruction term\n(Bernoulli NLL, nats; log scale)")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.training.health", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_folder", type=Path, help="a sweep's RUN_DIR (holds models/...)")
    p.add_argument("--out", type=Path, help="write training_health.csv into this folder")
    a = p.parse_args(argv)
    try:
        df = health_table(a.run_folder)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(df.to_string(index=False))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out / "training_health.csv", index=False)
        print(f"wrote {a.out / 'training_health.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
