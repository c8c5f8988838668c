"""Time to quality: how many epochs (and training images) a recipe needs, measured.

Each point is its own training (the warm-up spans a fixed fraction of a run's epochs, so a
30-epoch run's epoch 10 is not a 10-epoch run), scored beside nothing but its own numbers: block
DCI and own-factor R² on the test split, and the counterfactual errors of interventions on the
roots (label std) on held-out units, with each run's measured training time.

    python -m icm_utils.studies.time_to_quality --run-dir ~/icm_runs/ttq --epochs 5 10 15 20 30
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from icm_utils.core.io import atomic_write_text
from icm_utils.core.paths import FIGURES_DIR, RESULTS_DIR
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.analysis import encode_runs, score_codes
from icm_utils.evaluation.counterfactual_table import score_counterfactuals
from icm_utils.evaluation.plotting import save_figure
from icm_utils.evaluation.probe import cached_probe, probe_path
from icm_utils.model.recipes import RECOMMENDED_RECIPE
from icm_utils.training.config import TrainConfig
from icm_utils.training.health import health_table
from icm_utils.training.runs import load_run, load_training_data
from icm_utils.training.sweep import sweep

EPOCHS = (5, 10, 15, 20, 30)
RESOLUTION, N_UNITS, PROBE_EPOCHS = 64, 100, 10


def configs(epochs: int, seeds: Sequence[int] = (0, 1, 2), recipe: str = RECOMMENDED_RECIPE,
            dataset: str = "pendulum", n_train: int | None = None, **train) -> list[TrainConfig]:
    """ICM-VAE runs of one schedule length (folder ``RUN_DIR/epochs<E>[-n<N>]``)."""
    train.setdefault("resolution", RESOLUTION)
    return [TrainConfig(dataset=dataset, model="icm_vae", recipe=recipe, epochs=epochs,
                        seed=s, n_train=n_train, **train).validate() for s in seeds]


def root_of(run_dir: Path | str, cfg: TrainConfig) -> Path:
    tag = f"epochs{cfg.epochs}" + (f"-n{cfg.n_train}" if cfg.n_train else "")
    return Path(run_dir) / tag


def measure(run_dir: Path | str, epochs: Sequence[int] = EPOCHS, seeds: Sequence[int] = (0, 1, 2),
            n_units: int = N_UNITS, probe_epochs: int = PROBE_EPOCHS, **kw) -> pd.DataFrame:
    """Train (or reuse) every schedule and score it: one row per (epochs, seed)."""
    first = configs(epochs[0], seeds, **kw)[0]  # every schedule trains on the same data
    ds = load_training_data(first)[0]
    probe = cached_probe(probe_path(run_dir, first.dataset, first.resolution, probe_epochs), ds,
                         probe_epochs)
    cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=0)
    std = ds.label_stats()[1]
    rows = []
    for e in epochs:
        cfgs = configs(e, seeds, **kw)
        root = root_of(run_dir, cfgs[0])
        sweep(cfgs, root, scheduler="sync")
        ident = score_codes(encode_runs(root, cfgs), dim_metrics=())
        scores = score_counterfactuals({(c.model, c.seed): load_run(root, c)[0] for c in cfgs},
                                       cfset, probe, std, ds.graph)
        roots = cf.role_summary(scores, by_target=True)
        roots = roots[(roots["intervened_on"] == "root") & (roots["model"] == "icm_vae")]
        health = health_table(root, cfgs).set_index("seed")
        for c in cfgs:
            i = ident[ident["seed"].astype(str) == str(c.seed)].set_index("metric")["value"]
            r = roots[roots["seed"] == c.seed].iloc[0]
            rows.append({"dataset": c.dataset, "recipe": c.recipe, "epochs": e,
                         "n_train": c.n_train or len(ds.train_idx), "seed": c.seed,
                         "train_seconds": float(health.loc[c.seed, "seconds"]),
                         "s_per_epoch": float(health.loc[c.seed, "median_epoch_seconds"]),
                         "block_dci": float(i["dci_disentanglement"]),
                         "own_factor_r2": float(i["own_factor_r2"]),
                         "root_intervened": float(r["intervened"]),
                         "root_descendants": float(r["descendant"]),
                         "root_non_descendants": float(r["non-descendant"])})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame):
    """Block DCI and root-intervention errors against epochs, mean ± sd over seeds."""
    g = table.groupby("epochs")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for col, label in (("block_dci", "block DCI"), ("own_factor_r2", "own-factor R²")):
        axes[0].errorbar(g[col].mean().index, g[col].mean(), g[col].std(), marker="o",
                         capsize=3, label=label)
    axes[0].set(xlabel="training epochs", ylabel="score (higher is better)", ylim=(0, 1.05),
                title="identifiability (test split)")
    for col, label in (("root_intervened", "intervened"), ("root_descendants", "descendants"),
                       ("root_non_descendants", "non-descendants")):
        axes[1].errorbar(g[col].mean().index, g[col].mean(), g[col].std(), marker="o",
                         capsize=3, label=label)
    axes[1].set(xlabel="training epochs", ylabel="counterfactual error (label std)",
                title="interventions on roots")
    for ax in axes:
        ax.legend(fontsize=8)
    secs = g["s_per_epoch"].median().median()
    fig.suptitle(f"ICM-VAE ({', '.join(table['recipe'].unique())}), "
                 f"{', '.join(table['dataset'].unique())}: mean ± sd over "
                 f"{table.groupby('epochs')['seed'].nunique().max()} seeds, each point its own "
                 f"trainings; median {secs:.1f} s per epoch", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.studies.time_to_quality",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=Path.home() / "icm_runs" / "ttq")
    p.add_argument("--epochs", type=int, nargs="+", default=list(EPOCHS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--recipe", default=RECOMMENDED_RECIPE)
    p.add_argument("--n-train", type=int, default=None, help="a seeded training subset")
    p.add_argument("--publish", type=Path, nargs="?", const=RESULTS_DIR / "time_to_quality",
                   help="write the table (default results/time_to_quality) and the figure")
    a = p.parse_args(argv)
    table = measure(a.run_dir, a.epochs, a.seeds, recipe=a.recipe, n_train=a.n_train)
    print(table.round(3).to_string(index=False))
    if a.publish:
        a.publish.mkdir(parents=True, exist_ok=True)
        table.to_csv(a.publish / "time_to_quality.csv", index=False)
        atomic_write_text(a.publish / "study.json", json.dumps(
            {"study": __name__, "resolution": RESOLUTION, "n_units": N_UNITS,
             "probe_epochs": PROBE_EPOCHS, "seeds": a.seeds}, indent=1) + "\n")
        save_figure(plot(table), "05_time_to_quality", FIGURES_DIR)
        print(f"[time_to_quality] table in {a.publish}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
