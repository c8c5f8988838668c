"""Interventions on caused variables: how much a caused variable must vary apart from its causes,
and what the decoder must assume, before its counterfactual follows the graph.

On the deterministic grid a shadow is a function of the angle and light that cast it, so an
image of a shadow apart from its pendulum and sun is never seen. The ladder trains ICM-VAE under
the recommended recipe on data whose caused variables carry more and more mechanism noise
(``noise_std`` in label units: none on the peers' grid, then seeded random samples of the SCM,
as many as the grid), with two decoders: one joint decoder, and one slot per object of the scene
(``decoder="objects"``: each slot reads only the blocks of the variables that draw its object,
as the renderer declares them, and can only darken the background, so it cannot erase another
slot's object). Every cell is scored beside its controls on its own data: counterfactual errors
by role, split by root and caused targets (do-nothing, simulator, and with noise the
no-abduction control), soundness, block identifiability, training health.

    python -m icm_utils.studies.support_ladder --run-dir ~/icm_runs/support --train --publish
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from icm_utils.core.io import atomic_write_text, cached_tables
from icm_utils.core.paths import FIGURES_DIR, RESULTS_DIR
from icm_utils.data.datasets import get_scm
from icm_utils.data.images import float_images
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation import counterfactual_plots as cfplots
from icm_utils.evaluation.analysis import control_codes, encode_runs, score_codes
from icm_utils.evaluation.controls import DO_NOTHING, NO_ABDUCTION, SIMULATOR, is_control, label
from icm_utils.evaluation.counterfactual_table import score_counterfactuals, score_soundness
from icm_utils.evaluation.plotting import save_figure
from icm_utils.evaluation.probe import cached_probe, probe_path
from icm_utils.model.recipes import RECOMMENDED_RECIPE
from icm_utils.studies.abduction import NOISE_STD
from icm_utils.training.config import TrainConfig
from icm_utils.training.health import health_table
from icm_utils.training.runs import (
    is_done,
    load_run,
    load_training_data,
    noisy_config,
    run_dir_for,
)
from icm_utils.training.sweep import sweep

# mechanism noise on the caused variables, label units: Pendulum's 2.0 is the abduction
# study's; Water flow's levels give its caused variables about the same share of noise
# (the tables state each level as a fraction of the caused variables' noiseless spread)
LEVELS: dict[str, tuple[float, ...]] = {"pendulum": (0.0, NOISE_STD / 2, NOISE_STD),
                                        "flow": (0.0, 0.35, 0.7)}
DECODERS = ("joint", "objects")
OBJECTS = {"decoder": "objects"}


@dataclass(frozen=True)
class Row:
    """One row of the ladder: the recommended recipe with these hparams, trained ``epochs``
    times the ladder's epochs, with ``train`` (other TrainConfig fields); ``seeds``: only these
    (a lead, said so in the tables), else the ladder's."""

    hparams: dict
    epochs: int = 1
    train: dict = field(default_factory=dict)
    seeds: tuple[int, ...] | None = None


# the decoders at every level, the rest only where ONLY_AT says (folders RUN_DIR/<row>/models/...)
ROWS: dict[str, Row] = {
    "joint": Row({}),
    "objects": Row(OBJECTS),
    # the object slots without their regions (each slot may draw anywhere): the regions' ablation
    "objects_anywhere": Row({**OBJECTS, "object_regions": False}),
    # abduction: with noise the mechanisms fit their parents' effect slowly. Twice the epochs,
    # and, one seed each (leads), a tenfold eps weight, a fivefold penalty, half the warm-up
    "objects_30ep": Row(OBJECTS, epochs=2),
    "objects_alpha1": Row(OBJECTS, train={"alpha_max": 1.0}, seeds=(0,)),
    "objects_indep5": Row({**OBJECTS, "independence": 5.0}, seeds=(0,)),
    "objects_ramp05": Row(OBJECTS, train={"ramp_fraction": 0.5}, seeds=(0,)),
}
_HIGHEST = {d: (max(levels),) for d, levels in LEVELS.items()}
ONLY_AT = {"objects_anywhere": {"pendulum": (0.0,)}, "objects_30ep": _HIGHEST,
           **dict.fromkeys(("objects_alpha1", "objects_indep5", "objects_ramp05"),
                           {"pendulum": (NOISE_STD,)})}
DATASETS = tuple(LEVELS)
SEEDS = (0, 1, 2)
EPOCHS, RESOLUTION, N_UNITS, PROBE_EPOCHS = 15, 64, 200, 10
SOUNDNESS_UNITS = 50
HEADLINE = ("pendulum_angle", "light_position", "shadow_length")  # the README's figure


def config(dataset: str, noise_std: float, row: str, seed: int, epochs: int = EPOCHS,
           resolution: int = RESOLUTION, n_random: int | None = None, **train) -> TrainConfig:
    """One cell's run: ICM-VAE under the recommended recipe as ``row`` says (ROWS), on the grid
    (``noise_std`` 0) or on as many noisy random samples as the grid (``n_random``: fewer, for
    tests). ``train``: other TrainConfig fields."""
    if row not in ROWS:
        raise ValueError(f"row must be one of {list(ROWS)}, got {row!r}")
    r = ROWS[row]
    cfg = TrainConfig(dataset=dataset, model="icm_vae", recipe=RECOMMENDED_RECIPE,
                      hparams=dict(r.hparams), seed=seed, epochs=epochs * r.epochs,
                      resolution=resolution, **{**r.train, **train}).validate()
    return noisy_config(cfg, noise_std, n_random) if noise_std > 0 else cfg


def runs_at(row: str, dataset: str, noise_std: float) -> bool:
    """Whether ``row`` is measured at this dataset and level (ONLY_AT; the decoders everywhere)."""
    return row not in ONLY_AT or noise_std in ONLY_AT[row].get(dataset, ())


def configs(datasets: Sequence[str] = DATASETS, rows: Sequence[str] = tuple(ROWS),
            seeds: Sequence[int] = SEEDS, levels: dict | None = None, **kw
            ) -> list[tuple[str, TrainConfig]]:
    """(row, config) of every cell, seed-major so that a stopped sweep leaves whole seeds."""
    levels = levels or LEVELS
    return [(r, config(d, lv, r, s, **kw)) for s in seeds for d in datasets
            for lv in levels[d] for r in rows if runs_at(r, d, lv) and s in row_seeds(r, seeds)]


def row_seeds(row: str, seeds: Sequence[int]) -> tuple[int, ...]:
    """The seeds a row trains on: its own (a lead) within ``seeds``, else ``seeds``."""
    own = ROWS[row].seeds
    return tuple(s for s in seeds if own is None or s in own)


def train(run_dir: Path | str, **kw) -> pd.DataFrame:
    """Train every cell into ``run_dir/<row>/`` (finished runs skipped, interrupted resumed)."""
    return pd.concat([sweep([c], Path(run_dir) / r, scheduler="sync").assign(row=r)
                      for r, c in configs(**kw)], ignore_index=True)


def evaluate(run_dir: Path | str, dataset: str, noise_std: float,
             rows: Sequence[str] = tuple(ROWS), seeds: Sequence[int] = SEEDS,
             n_units: int = N_UNITS, probe_epochs: int = PROBE_EPOCHS,
             soundness_units: int = SOUNDNESS_UNITS, **kw) -> dict[str, pd.DataFrame] | None:
    """Score the finished runs of one (dataset, noise level) on that data's held-out units, read
    by one probe trained on that data: tidy tables {"identifiability", "counterfactual_scores",
    "soundness", "health"} with columns dataset and noise_std; None when no run has finished."""
    plan = {r: [c for c in (config(dataset, noise_std, r, s, **kw) for s in row_seeds(r, seeds))
                if is_done(Path(run_dir) / r, c)] for r in rows if runs_at(r, dataset, noise_std)}
    plan = {r: cfgs for r, cfgs in plan.items() if cfgs}
    if not plan:
        return None
    # a cell's scores are kept beside its runs, keyed by what they were computed from, so an
    # interrupted or repeated evaluation does not score the same runs again
    key = {"runs": {r: [json.loads((run_dir_for(Path(run_dir) / r, c) / "done.json").read_text())
                        ["summary"]["seconds"] for c in cfgs] for r, cfgs in plan.items()},
           "seeds": [c.seed for cfgs in plan.values() for c in cfgs], "n_units": n_units,
           "probe_epochs": probe_epochs, "soundness_units": soundness_units}

    def compute() -> dict[str, pd.DataFrame]:
        cfg0 = next(iter(plan.values()))[0]
        ds = load_training_data(cfg0)[0]
        _, std = ds.label_stats()
        tag = f"{dataset}-noise{noise_std:g}"
        probe = cached_probe(probe_path(run_dir, tag, cfg0.resolution, probe_epochs), ds,
                             probe_epochs)
        cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=0)
        codes = [rc for dec, cfgs in plan.items()
                 for rc in encode_runs(Path(run_dir) / dec, cfgs, name=lambda c, dec=dec: dec)]
        models = [(dec, c.seed, load_run(Path(run_dir) / dec, c)[0])
                  for dec, cfgs in plan.items() for c in cfgs]
        scm = ds.scm if noise_std > 0 else None  # the no-abduction control needs mechanism noise
        cell = {"dataset": dataset, "noise_std": noise_std}
        return {
            "identifiability": score_codes(codes + control_codes(codes),
                                           dim_metrics=()).assign(**cell),
            "counterfactual_scores": score_counterfactuals(models, cfset, probe, std, ds.graph,
                                                           scm=scm).assign(**cell),
            "soundness": score_soundness(models, cfset, ds.graph, n_units=soundness_units
                                         ).assign(**cell),
            "health": pd.concat([health_table(Path(run_dir) / dec, cfgs).assign(model=dec)
                                 for dec, cfgs in plan.items()], ignore_index=True).assign(**cell),
        }

    kept = Path(run_dir) / "evaluations" / f"{dataset}-noise{noise_std:g}"
    return cached_tables(kept, key, compute, {"identifiability": {"seed": str}})


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count of the factor error by role and of the image error, per dataset,
    noise level, model (decoder or control) and kind of intervened variable (root / caused)."""
    per_seed = pd.concat([cf.role_summary(g, by_target=True).assign(dataset=d, noise_std=lv)
                          for (d, lv), g in scores.groupby(["dataset", "noise_std"], sort=False)],
                         ignore_index=True)
    cols = [c for c in (*cf.COUNTERFACTUAL_ROLES, "image_mse") if c in per_seed]
    g = per_seed.groupby(["dataset", "noise_std", "model", "intervened_on"], sort=False)[cols]
    return g.mean().join(g.std().add_suffix("_std")).join(g.size().rename("seeds")).reset_index()


@torch.no_grad()
def mechanism_fit(model, ds, n: int = 500) -> dict[str, float]:
    """How much of its parents' effect each caused variable's mechanism carries: R² of the
    flow's shift (the mechanism applied to zero noise, the parents' blocks as encoded) against
    the block the prior gives the noiseless value (the simulator's mechanism on the units'
    labelled parents), on the first ``n`` held-out units. Near 1, an intervention on a parent
    moves the child as the simulator does; near 0, the abducted noise carries the parents'
    effect and the child barely follows."""
    idx = np.asarray(ds.test_idx)[:n]
    z = model.encode(float_images(ds.images[idx]))
    noiseless = get_scm(ds.scm.name)
    values = {v: ds.labels[idx, i].astype(np.float64) for i, v in enumerate(ds.graph.names)}
    out = {}
    for i, var in enumerate(ds.graph.names):
        if not ds.graph.parents(i):
            continue
        shift = model.mechanism.transform(torch.zeros_like(z[:, i:i + 1]), z, nodes=[i])[0][:, 0]
        effect = noiseless.mechanism(var, values, ds.exogenous[idx])
        target = model.label_to_latent(i, torch.as_tensor(effect, dtype=z.dtype), z)
        out[var] = float(1 - ((shift - target) ** 2).mean() / target.var(0, unbiased=False).mean())
    return out


def mechanism_table(run_dir: Path | str, cells: Sequence[tuple[str, float]],
                    rows: Sequence[str] = tuple(ROWS), seeds: Sequence[int] = SEEDS, **kw
                    ) -> pd.DataFrame:
    """``mechanism_fit`` of every finished run of the given (dataset, level) cells: one row per
    (dataset, level, model, seed, caused variable)."""
    out = []
    for d, lv in cells:
        ds = None  # a cell's runs share its data (rows differ in model and training only): read once
        for r in (r for r in rows if runs_at(r, d, lv)):
            for c in (config(d, lv, r, s, **kw) for s in row_seeds(r, seeds)):
                if not is_done(Path(run_dir) / r, c):
                    continue
                ds = load_training_data(c)[0] if ds is None else ds
                fit = mechanism_fit(load_run(Path(run_dir) / r, c)[0], ds)
                out += [{"dataset": d, "noise_std": lv, "model": r, "seed": c.seed,
                         "variable": v, "r2": v2} for v, v2 in fit.items()]
    return pd.DataFrame(out)


def noise_share(dataset: str, noise_std: float, n: int = 8000) -> float:
    """A level as a share of its caused variables' spread: noise_std over the mean std of the
    caused variables on noiseless samples (so the levels of both datasets compare)."""
    scm = get_scm(dataset)
    caused = [i for i in range(scm.graph.n) if scm.graph.parents(i)]
    labels = scm.labels_from_exogenous(scm.sample_exogenous(n, np.random.default_rng(0)))
    return float(noise_std / labels[:, caused].std(0).mean())


# the [caused-cf] targets: (intervened on, column) -> (bound kind, bound); label std / image MSE
TARGETS = {("non-root", "intervened"): ("max", 0.15), ("non-root", "non-descendant"): ("max", 0.08),
           ("non-root", "image_mse"): ("max", 0.005), ("root", "intervened"): ("max", 0.10),
           ("root", "descendant"): ("max", 0.15), ("root", "non-descendant"): ("max", 0.10)}
DCI_TARGET = 0.95


def target_check(scores: pd.DataFrame, ident: pd.DataFrame) -> pd.DataFrame:
    """Every target for every (dataset, level, decoder): mean, std and seed count over seeds and
    whether the mean meets it (block DCI on the test split beside the errors)."""
    rows = []
    for (d, lv), g in scores.groupby(["dataset", "noise_std"], sort=False):
        per_seed = cf.role_summary(g, by_target=True)
        ids = ident[(ident["dataset"] == d) & (ident["noise_std"] == lv)
                    & (ident["metric"] == "dci_disentanglement")]
        for model in (m for m in dict.fromkeys(per_seed["model"]) if not is_control(m)):
            mine = per_seed[per_seed["model"] == model]
            values = {f"{'caused' if on == 'non-root' else 'root'} {col}": (
                mine.loc[mine["intervened_on"] == on, col], kind, bound)
                for (on, col), (kind, bound) in TARGETS.items()}
            values["block DCI"] = (ids.loc[ids["model"] == model, "value"], "min", DCI_TARGET)
            for name, (v, kind, bound) in values.items():
                mean = float(v.mean()) if len(v) else float("nan")
                rows.append({"dataset": d, "noise_std": lv, "model": model, "criterion": name,
                             "mean": mean, "std": float(v.std()) if len(v) > 1 else float("nan"),
                             "seeds": len(v),
                             "target": f"{'<=' if kind == 'max' else '>='} {bound}",
                             "met": bool(len(v)) and (mean <= bound if kind == "max"
                                                      else mean >= bound)})
    return pd.DataFrame(rows)


PANELS = (("root", "descendant", "root interventions: descendants"),
          ("non-root", "intervened", "caused interventions: intervened"),
          ("non-root", "non-descendant", "caused interventions: non-descendants"),
          ("non-root", "image_mse", "caused interventions: image MSE"))


# one colour per row of the ladder on every panel, none of them the targets' red
ROW_COLOURS = [f"C{i}" for i in (0, 1, 2, 4, 5, 6, 8, 9)]


def plot_ladder(table: pd.DataFrame):
    """Errors against the mechanism noise (as a share of the caused variables' spread): one row
    per dataset, one panel per question, a line per row of the ladder (mean ± std over seeds),
    doing nothing, the simulator and dropping the unit's noise in grey, the targets as red dashes."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(len(datasets), len(PANELS), figsize=(4.2 * len(PANELS),
                                                                   3.3 * len(datasets)),
                             squeeze=False)
    for r, d in enumerate(datasets):
        t = table[table["dataset"] == d]
        for c, (on, col, title) in enumerate(PANELS):
            ax = axes[r, c]
            for model, style in ((label(DO_NOTHING), dict(color="0.4", ls="--")),
                                 (label(SIMULATOR), dict(color="0.4", ls=":")),
                                 (label(NO_ABDUCTION), dict(color="0.6", ls="-.", marker="x")),
                                 *((m, dict(marker="o", capsize=3, color=ROW_COLOURS[i]))
                                   for i, m in enumerate(ROWS))):
                g = t[(t["model"] == model) & (t["intervened_on"] == on)].sort_values("share")
                if g.empty:
                    continue
                name = model.removeprefix("control:").replace("_", " ")
                ax.errorbar(100 * g["share"], g[col], yerr=g.get(f"{col}_std"), label=name,
                            **style)
            ax.axhline(TARGETS[(on, col)][1], color="tab:red", lw=0.8, ls="--", label="target")
            ax.set_title(f"{d}: {title}", fontsize=9)
            ax.set_xlabel("mechanism noise (% of the caused variables' spread)", fontsize=8)
            ax.set_ylabel("image MSE" if col == "image_mse" else "error (label std)", fontsize=8)
            ax.tick_params(labelsize=8)
    legend = {}  # every row drawn anywhere, not only in the first panel
    for ax in axes.flat:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    names, handles = list(legend), list(legend.values())
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def ladder_table(scores: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with each level's noise share (column ``share``)."""
    out = summary(scores)
    shares = {(d, lv): noise_share(d, lv) for d, lv in
              out[["dataset", "noise_std"]].drop_duplicates().itertuples(index=False)}
    out["share"] = [shares[(d, lv)] for d, lv in zip(out["dataset"], out["noise_std"])]
    return out


def grid_figure(run_dir: Path | str, dataset: str, noise_std: float,
                variables: Sequence[str] | None = None, seed: int = 0,
                unit: int = cfplots.SHOWCASE_UNIT):
    """Intervention grids of both decoders beside the simulator, one held-out unit of the
    level's data; only the named ``variables`` (default all)."""
    panels, ds = {}, None
    for dec in DECODERS:
        cfg = config(dataset, noise_std, dec, seed)
        ds = load_training_data(cfg)[0] if ds is None else ds
        model_images, true_images, values = cfplots.intervention_grid(
            load_run(Path(run_dir) / dec, cfg)[0], ds, unit)
        panels[f"{dec} decoder"] = model_images
    panels["simulator"] = true_images
    keep = [ds.graph.index(v) for v in variables] if variables else list(range(ds.graph.n))
    share = noise_share(dataset, noise_std)
    return cfplots.plot_intervention_grids(
        {k: v[keep] for k, v in panels.items()}, values[keep], [ds.graph.names[i] for i in keep],
        title=f"{dataset}, mechanism noise {noise_std:g} ({100 * share:.0f}% of the caused "
              f"variables' spread): held-out unit {unit}, seed {seed}", units=ds.scm.units)


def publish(tables: dict[str, pd.DataFrame], out: Path, seeds: Sequence[int] = SEEDS) -> None:
    """Write the ladder's tidy tables, its summary, targets and settings (study.json)."""
    out.mkdir(parents=True, exist_ok=True)
    tables["identifiability"].to_csv(out / "identifiability_tidy.csv", index=False)
    tables["counterfactual_scores"].to_csv(out / "counterfactual_scores.csv", index=False)
    ladder_table(tables["counterfactual_scores"]).to_csv(out / "counterfactual_summary.csv",
                                                         index=False)
    tables["soundness"].to_csv(out / "soundness_scores.csv", index=False)
    tables["health"].to_csv(out / "training_health.csv", index=False)
    target_check(tables["counterfactual_scores"], tables["identifiability"]).to_csv(
        out / "targets.csv", index=False)
    atomic_write_text(out / "study.json", json.dumps(
        {"study": __name__, "epochs": EPOCHS, "resolution": RESOLUTION, "n_units": N_UNITS,
         "soundness_units": SOUNDNESS_UNITS, "probe_epochs": PROBE_EPOCHS, "seeds": list(seeds),
         "levels": LEVELS, "recipe": RECOMMENDED_RECIPE}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.studies.support_ladder",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=Path.home() / "icm_runs" / "support")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--train", action="store_true", help="train missing runs first (hours on CPU)")
    p.add_argument("--publish", type=Path, nargs="?", const=RESULTS_DIR / "support_ladder",
                   help="write the tables (default results/support_ladder) and figures")
    a = p.parse_args(argv)
    if a.train:
        train(a.run_dir, datasets=a.datasets, rows=a.rows, seeds=a.seeds)
    parts = [t for d in a.datasets for lv in LEVELS[d]
             if (t := evaluate(a.run_dir, d, lv, a.rows, a.seeds)) is not None]
    if not parts:
        print(f"[support_ladder] no finished runs in {a.run_dir}", file=sys.stderr)
        return 1
    tables = {k: pd.concat([t[k] for t in parts], ignore_index=True) for k in parts[0]}
    table = ladder_table(tables["counterfactual_scores"])
    print(table.drop(columns=[c for c in table if c.endswith("_std")]).round(3)
          .to_string(index=False))
    if a.publish:
        publish(tables, a.publish, a.seeds)
        mechanism_table(a.run_dir, [(d, lv) for d in a.datasets for lv in LEVELS[d]], a.rows,
                        a.seeds).to_csv(a.publish / "mechanism_fit.csv", index=False)
        figs = FIGURES_DIR if a.publish == RESULTS_DIR / "support_ladder" else a.publish
        save_figure(plot_ladder(table), "05_support_ladder", figs)
        if "pendulum" in a.datasets:
            save_figure(grid_figure(a.run_dir, "pendulum", 0.0, HEADLINE), "00_headline_counterfactuals",
                        figs)
            save_figure(grid_figure(a.run_dir, "pendulum", 0.0), "05_intervention_grid_objects",
                        figs)
            save_figure(grid_figure(a.run_dir, "pendulum", max(LEVELS["pendulum"])),
                        "05_intervention_grid_noisy", figs)
        print(f"[support_ladder] tables in {a.publish}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
