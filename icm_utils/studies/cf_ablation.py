"""Counterfactuals that follow the graph: the ablation of each ingredient beyond the paper.

Every row trains ICM-VAE (or the CausalVAE-style baseline) under ``official_joint`` with one or
more recipe fields changed (``model.recipes``; docs/counterfactuals.md says why each exists):

- ``free_shift``: the flows' shift t unbounded (flow_bound="scale"; official: t in (0, 1));
- ``label_prior``: the prior's block i from its own label only (prior_parents="none");
- ``penalty``: the abducted noise of each caused variable made independent of its parents'
  labels (independence=1, ``model.independence``);
- ``free_shift+label_prior``, and ``independent_noise`` (all three: the named recipe);
- ``noise_vs_latents``, ``per_variable_decoders``: the named recipe with the penalty on the
  parents' latents, or with one decoder per variable (averaged): remedies tried for interventions
  on caused variables.

Scored beside their controls on the same units: identifiability (oracle, entangled nulls),
counterfactual error by role, split by whether a root or a caused variable is intervened on
(do-nothing, simulator), soundness (composition, reversibility), training health.

    python -m icm_utils.studies.cf_ablation --run-dir ~/icm_runs/ladder --publish results/causal_cf
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from icm_utils.core.io import atomic_write_text
from icm_utils.core.paths import FIGURES_DIR, RESULTS_DIR
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation import counterfactual_plots as cfplots
from icm_utils.evaluation.analysis import control_codes, encode_runs, score_codes
from icm_utils.evaluation.counterfactual_table import score_counterfactuals, score_soundness
from icm_utils.evaluation.plotting import save_figure
from icm_utils.evaluation.probe import cached_probe, probe_path
from icm_utils.model.recipes import DEFAULT_RECIPE, RECOMMENDED_RECIPE
from icm_utils.training.config import TrainConfig
from icm_utils.training.health import health_table
from icm_utils.training.runs import is_done, load_run, load_training_data
from icm_utils.training.sweep import sweep

# name -> (model, recipe, recipe fields changed): the rows of the ladder, in reading order
VARIANTS: dict[str, tuple[str, str, dict]] = {
    DEFAULT_RECIPE: ("icm_vae", DEFAULT_RECIPE, {}),
    "free_shift": ("icm_vae", DEFAULT_RECIPE, {"flow_bound": "scale"}),
    "label_prior": ("icm_vae", DEFAULT_RECIPE, {"prior_parents": "none"}),
    "penalty": ("icm_vae", DEFAULT_RECIPE, {"independence": 1.0}),
    "free_shift+label_prior": ("icm_vae", DEFAULT_RECIPE,
                               {"flow_bound": "scale", "prior_parents": "none"}),
    RECOMMENDED_RECIPE: ("icm_vae", RECOMMENDED_RECIPE, {}),
    # remedies tried for interventions on caused variables (Pendulum): the noise made
    # independent of the parents' latents (what the flow reads at an intervention) instead of
    # their labels; one decoder per variable, averaged (the official decoder)
    "noise_vs_latents": ("icm_vae", RECOMMENDED_RECIPE, {"independence_of": "latents"}),
    "per_variable_decoders": ("icm_vae", RECOMMENDED_RECIPE, {"decoder": "mean"}),
    "causal_vae": ("causal_vae", DEFAULT_RECIPE, {}),
}
ABLATION_DATASETS = ("pendulum", "flow")
REMEDY_DATASETS = ("pendulum",)  # where caused-variable interventions leak (docs/counterfactuals.md)
ONLY_ON = {"noise_vs_latents": REMEDY_DATASETS, "per_variable_decoders": REMEDY_DATASETS}
EPOCHS, RESOLUTION, N_UNITS, PROBE_EPOCHS = 30, 64, 200, 10
SOUNDNESS_UNITS = 50  # image MSEs settle on fewer units than probe-read errors


def configs(variant: str, datasets: Sequence[str] = ABLATION_DATASETS, seeds: Sequence[int] = (0, 1, 2),
            epochs: int = EPOCHS, resolution: int = RESOLUTION, **train) -> list[TrainConfig]:
    """The TrainConfigs of one row (folders ``RUN_DIR/<variant>/models/...``), on the datasets it
    is run on (``ONLY_ON``); ``train``: other TrainConfig fields (tests pass a small n_train)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {list(VARIANTS)}")
    model, recipe, hp = VARIANTS[variant]
    return [TrainConfig(dataset=d, model=model, recipe=recipe, hparams=dict(hp), seed=s,
                        epochs=epochs, resolution=resolution, **train).validate()
            for d in datasets if d in ONLY_ON.get(variant, ABLATION_DATASETS) for s in seeds]


def train(run_dir: Path | str, variants: Sequence[str] = tuple(VARIANTS), **kw) -> pd.DataFrame:
    """Train every row (finished runs are skipped, interrupted ones resume)."""
    plan = {v: configs(v, **kw) for v in variants}
    return pd.concat([sweep(cfgs, Path(run_dir) / v, scheduler="sync").assign(variant=v)
                      for v, cfgs in plan.items() if cfgs], ignore_index=True)


def finished(run_dir: Path | str, variants: Sequence[str], dataset: str, **kw
             ) -> dict[str, list[TrainConfig]]:
    """The finished runs of each row on one dataset (rows with none are left out)."""
    plan = {v: [c for c in configs(v, datasets=(dataset,), **kw) if is_done(Path(run_dir) / v, c)]
            for v in variants}
    return {v: cfgs for v, cfgs in plan.items() if cfgs}


def evaluate(run_dir: Path | str, dataset: str, variants: Sequence[str] = tuple(VARIANTS),
             n_units: int = N_UNITS, probe_epochs: int = PROBE_EPOCHS, **kw) -> dict[str, pd.DataFrame]:
    """Score the finished runs of one dataset: {"identifiability", "counterfactual_scores",
    "soundness", "health"} tidy tables, every model row named by its variant."""
    plan = finished(run_dir, variants, dataset, **kw)
    if not plan:
        raise FileNotFoundError(f"no finished runs of {list(variants)} on {dataset} in {run_dir}")
    codes = [rc for v, cfgs in plan.items()
             for rc in encode_runs(Path(run_dir) / v, cfgs, name=lambda c, v=v: v)]
    ident = score_codes(codes + control_codes(codes), dim_metrics=())
    ds = load_training_data(next(iter(plan.values()))[0])[0]
    _, std = ds.label_stats()
    probe = cached_probe(probe_path(run_dir, dataset, ds.images.shape[1], probe_epochs), ds,
                         probe_epochs)
    cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=0)
    models = [(v, c.seed, load_run(Path(run_dir) / v, c)[0]) for v, cfgs in plan.items()
              for c in cfgs]
    scores = score_counterfactuals(models, cfset, probe, std, ds.graph)
    sound = score_soundness(models, cfset, ds.graph, n_units=SOUNDNESS_UNITS).assign(dataset=dataset)
    health = pd.concat([health_table(Path(run_dir) / v, cfgs).assign(model=v)
                        for v, cfgs in plan.items()], ignore_index=True)
    return {"identifiability": ident, "counterfactual_scores": scores.assign(dataset=dataset),
            "soundness": sound, "health": health}


def counterfactual_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of the factor error by role, per dataset, row and kind of
    intervened variable (root / non-root), with each row's seed count."""
    per_seed = pd.concat([cf.role_summary(g, by_target=True).assign(dataset=d)
                          for d, g in scores.groupby("dataset", sort=False)], ignore_index=True)
    cols = [c for c in (*cf.COUNTERFACTUAL_ROLES, "image_mse") if c in per_seed]
    g = per_seed.groupby(["dataset", "model", "intervened_on"], sort=False)[cols]
    out = g.mean().join(g.std().add_suffix("_std")).join(g.size().rename("seeds"))
    return out.reset_index()


# the [causal-cf] targets: root interventions' errors (label std) and block scores, 3 seeds
TARGETS = {"root intervened": ("max", 0.15), "root descendants": ("max", 0.20),
           "root non-descendants": ("max", 0.10), "block DCI": ("min", 0.95),
           "own-factor R2": ("min", 0.90)}


def target_check(scores: pd.DataFrame, ident: pd.DataFrame, model: str = RECOMMENDED_RECIPE,
                 baseline: str = "causal_vae") -> pd.DataFrame:
    """Per dataset, each target of ``TARGETS`` for ``model`` (mean, std and seed count over seeds,
    met or not), and its descendant error against ``baseline``'s: the difference and how many
    standard errors it spans (Welch), "better" meaning lower by more than 2."""
    rows = []
    for dataset, g in scores.groupby("dataset", sort=False):
        per_seed = cf.role_summary(g, by_target=True)
        root = per_seed[per_seed["intervened_on"] == "root"]
        ids = ident[ident["dataset"] == dataset]
        values = {
            "root intervened": root.loc[root["model"] == model, "intervened"],
            "root descendants": root.loc[root["model"] == model, "descendant"],
            "root non-descendants": root.loc[root["model"] == model, "non-descendant"],
            "block DCI": ids.loc[(ids["model"] == model)
                                 & (ids["metric"] == "dci_disentanglement"), "value"],
            "own-factor R2": ids.loc[(ids["model"] == model) & (ids["metric"] == "own_factor_r2"),
                                     "value"]}
        for name, v in values.items():
            kind, bound = TARGETS[name]
            mean = float(v.mean()) if len(v) else float("nan")
            met = bool(len(v)) and (mean <= bound if kind == "max" else mean >= bound)
            rows.append({"dataset": dataset, "criterion": name, "mean": mean,
                         "std": float(v.std()) if len(v) > 1 else float("nan"),
                         "seeds": len(v), "target": f"{'<=' if kind == 'max' else '>='} {bound}",
                         "met": met})
        a = root.loc[root["model"] == model, "descendant"]
        b = root.loc[root["model"] == baseline, "descendant"]
        se = float(np.sqrt(a.var() / len(a) + b.var() / len(b))) if len(a) > 1 and len(b) > 1 \
            else float("nan")
        diff = float(b.mean() - a.mean()) if len(a) and len(b) else float("nan")
        rows.append({"dataset": dataset, "criterion": f"root descendants: {baseline} - {model}",
                     "mean": diff, "std": se, "seeds": min(len(a), len(b)),
                     "target": "> 2 standard errors", "met": bool(se > 0 and diff > 2 * se)})
    return pd.DataFrame(rows)


def soundness_summary(sound: pd.DataFrame) -> pd.DataFrame:
    """Soundness per dataset, row and kind of intervened variable: mean (std) over seeds."""
    cols = list(cf.SOUNDNESS_COLUMNS)
    per_seed = sound.groupby(["dataset", "model", "seed", "intervened_on"], sort=False)[cols].mean()
    g = per_seed.groupby(["dataset", "model", "intervened_on"], sort=False)
    return g.mean().join(g.std().add_suffix("_std")).reset_index()


def grid_figure(run_dir: Path | str, dataset: str = "pendulum",
                variants: Sequence[str] = (DEFAULT_RECIPE, RECOMMENDED_RECIPE), seed: int = 0,
                unit: int = cfplots.SHOWCASE_UNIT, variables: Sequence[str] | None = None, **kw):
    """Intervention grids of the named rows beside the simulator, one held-out unit; only the
    named ``variables`` (default all)."""
    ds = None
    panels = []
    for v in variants:
        cfg = configs(v, datasets=(dataset,), seeds=(seed,), **kw)[0]
        model, _ = load_run(Path(run_dir) / v, cfg)
        ds = ds or load_training_data(cfg)[0]
        panels.append((v, *cfplots.intervention_grid(model, ds, unit)))
    keep = [ds.graph.index(v) for v in variables] if variables else list(range(ds.graph.n))
    grids = {v: imgs[keep] for v, imgs, _, _ in panels}
    grids["simulator"] = panels[0][2][keep]
    return cfplots.plot_intervention_grids(grids, panels[0][3][keep],
                                      [ds.graph.names[i] for i in keep],
                                      title=f"{dataset}: counterfactuals of held-out unit {unit}, "
                                            f"seed {seed}", units=ds.scm.units)


def publish(tables: dict[str, pd.DataFrame], out: Path, seeds: Sequence[int] = (0, 1, 2)
            ) -> None:
    """Write the study's tidy tables and summaries to ``out``, with its settings (study.json)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "study.json", json.dumps(
        {"study": __name__, "epochs": EPOCHS, "resolution": RESOLUTION, "n_units": N_UNITS,
         "soundness_units": SOUNDNESS_UNITS, "probe_epochs": PROBE_EPOCHS,
         "seeds": list(seeds)}, indent=1) + "\n")
    tables["identifiability"].to_csv(out / "identifiability_tidy.csv", index=False)
    tables["counterfactual_scores"].to_csv(out / "counterfactual_scores.csv", index=False)
    counterfactual_summary(tables["counterfactual_scores"]).to_csv(
        out / "counterfactual_summary.csv", index=False)
    tables["soundness"].to_csv(out / "soundness_scores.csv", index=False)
    soundness_summary(tables["soundness"]).to_csv(out / "soundness_summary.csv", index=False)
    tables["health"].to_csv(out / "training_health.csv", index=False)
    target_check(tables["counterfactual_scores"], tables["identifiability"]).to_csv(
        out / "targets.csv", index=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.studies.cf_ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=Path.home() / "icm_runs" / "ladder")
    p.add_argument("--datasets", nargs="+", default=list(ABLATION_DATASETS), choices=ABLATION_DATASETS)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--train", action="store_true", help="train missing runs first (hours on CPU)")
    p.add_argument("--publish", type=Path, nargs="?", const=RESULTS_DIR / "causal_cf",
                   help="write the tables (default results/causal_cf) and the grid figure")
    a = p.parse_args(argv)
    if a.train:
        train(a.run_dir, a.variants, datasets=a.datasets, seeds=a.seeds)
    parts = [evaluate(a.run_dir, d, a.variants, seeds=a.seeds) for d in a.datasets]
    tables = {k: pd.concat([t[k] for t in parts], ignore_index=True) for k in parts[0]}
    print(counterfactual_summary(tables["counterfactual_scores"]).round(3).to_string(index=False))
    if a.publish:
        publish(tables, a.publish, a.seeds)
        if "pendulum" in a.datasets:
            figs = FIGURES_DIR if a.publish == RESULTS_DIR / "causal_cf" else a.publish
            save_figure(grid_figure(a.run_dir), "05_intervention_grid_causal_cf", figs)
        print(f"[cf_ablation] tables in {a.publish}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
