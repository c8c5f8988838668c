"""The paper's claims re-judged under the recipe whose counterfactuals follow the graph.

Three studies, each over three seeds under the recommended recipe beside the paper's
(``official_joint``), with their controls:
  - **what the graph buys**: ICM-VAE told the true graph, one edge reversed, one dropped, the
    empty graph or a complete DAG (``misspec``), on Pendulum, Water flow and the synthetic SCM,
    scored against the TRUE graph; counterfactual errors split by root and caused targets;
  - **the identifiability theorem** node by node on the 6- and 8-node SCMs (``theorem``) with
    the recipe's prior (each block from its own label) beside the official one;
  - **abduction**: the noisy-shadow study (``abduction``) under both recipes.
``claims_table`` turns the committed tables into one verdict per claim of the paper.

    python -m icm_utils.studies.claims --run-dir ~/icm_runs/claims --train --publish
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

from icm_utils.core.io import atomic_write_text, cached_tables
from icm_utils.core.paths import FIGURES_DIR, RESULTS_DIR
from icm_utils.data.datasets import get_scm
from icm_utils.data.graph import GRAPH_KINDS
from icm_utils.data.synthetic import preset
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.analysis import mean_std
from icm_utils.evaluation.controls import MIN_GAP
from icm_utils.evaluation.plotting import save_figure
from icm_utils.evaluation.probe import cached_probe, probe_path
from icm_utils.model.recipes import DEFAULT_RECIPE, RECOMMENDED_RECIPE
from icm_utils.studies import abduction, misspec, theorem
from icm_utils.studies.support_ladder import TARGETS
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import is_done, load_run, load_training_data, run_dir_for
from icm_utils.training.sweep import sweep

DATASETS = ("pendulum", "flow")
SEEDS = (0, 1, 2)
# the support ladder's settings (its `joint` cells are this study's true-graph runs)
EPOCHS, RESOLUTION, N_UNITS, PROBE_EPOCHS = 15, 64, 200, 10
ABDUCTION_EPOCHS = 30  # the abduction study's own
SYNTH_EPOCHS = 100
RECIPES = (DEFAULT_RECIPE, RECOMMENDED_RECIPE)
OUT = RESULTS_DIR / "claims"


def misspec_configs(dataset: str, recipe: str = RECOMMENDED_RECIPE,
                    kinds: Sequence[str] = GRAPH_KINDS, seeds: Sequence[int] = SEEDS,
                    epochs: int = EPOCHS, resolution: int = RESOLUTION) -> list[TrainConfig]:
    """ICM-VAE told each graph kind, one config per (kind, seed)."""
    return misspec.image_configs(dataset, kinds, seeds, recipe=recipe, epochs=epochs,
                                 resolution=resolution)


def abduction_configs(recipe: str, seeds: Sequence[int] = SEEDS,
                      epochs: int = ABDUCTION_EPOCHS) -> list[TrainConfig]:
    return [abduction.config(recipe, s, epochs) for s in seeds]


def folder(run_dir: Path | str, study: str, recipe: str) -> Path:
    """Runs of one study and recipe: RUN_DIR/<study>-<recipe> (run folders do not name the
    recipe, so recipes never share one)."""
    return Path(run_dir) / f"{study}-{recipe}"


def plan(datasets: Sequence[str] = DATASETS, seeds: Sequence[int] = SEEDS,
         recipes: Sequence[str] = (RECOMMENDED_RECIPE,), abduction_recipes: Sequence[str] = RECIPES,
         **kw) -> list[tuple[Path, TrainConfig]]:
    """(folder, config) of every image run, seed-major so that a stopped queue leaves whole
    seeds: the misspecification runs, then the abduction runs of that seed."""
    out = []
    for s in seeds:
        for r in recipes:
            out += [(folder(".", "misspec", r), c) for d in datasets
                    for c in misspec_configs(d, r, seeds=(s,), **kw)]
        out += [(folder(".", "abduction", r), c) for r in abduction_recipes
                for c in abduction_configs(r, (s,))]
    return out


def train(run_dir: Path | str, **kw) -> pd.DataFrame:
    """Train every run of ``plan`` under ``run_dir`` (finished runs skipped, stopped resumed)."""
    return pd.concat([sweep([c], Path(run_dir) / f, scheduler="sync")
                      for f, c in plan(**kw)], ignore_index=True)


# ---------------------------------------------------------------- scoring, kept beside the runs
SEED_STR = {"identifiability": {"seed": str}}  # between-seed scores' seeds are pairs ("0-1")


def cached(kept: Path, key: dict, compute) -> dict[str, pd.DataFrame]:
    return cached_tables(kept, key, compute, SEED_STR)


def _finished(root: Path, cfgs: Sequence[TrainConfig]) -> list[TrainConfig]:
    return [c for c in cfgs if is_done(root, c)]


def _run_key(root: Path, cfgs: Sequence[TrainConfig]) -> list:
    return [[run_dir_for(".", c).as_posix(),
             json.loads((run_dir_for(root, c) / "done.json").read_text())["summary"]["seconds"]]
            for c in cfgs]


def with_targets(scores: pd.DataFrame, graph) -> pd.DataFrame:
    """``scores`` with column ``intervened_on`` (root / non-root in the TRUE ``graph``)."""
    return scores.assign(intervened_on=[cf.intervened_on(graph, t) for t in scores["target"]])


def evaluate_misspec(run_dir: Path | str, dataset: str, recipe: str = RECOMMENDED_RECIPE,
                     seeds: Sequence[int] = SEEDS, n_units: int = N_UNITS,
                     probe_epochs: int = PROBE_EPOCHS, **kw) -> dict[str, pd.DataFrame] | None:
    """The finished misspecification runs of one dataset and recipe scored against the TRUE
    graph on the grid's held-out units, read by one probe: {"identifiability",
    "counterfactual_scores"}; None when no run has finished."""
    root = folder(run_dir, "misspec", recipe)
    cfgs = _finished(root, misspec_configs(dataset, recipe, seeds=seeds, **kw))
    if not cfgs:
        return None

    def compute():
        ds = load_training_data(cfgs[0])[0]
        probe = cached_probe(probe_path(run_dir, f"{dataset}-noise0", cfgs[0].resolution,
                                        probe_epochs), ds, probe_epochs)
        cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=0)
        ident, scores = misspec.image_study(root, cfgs, ds, probe, cfset)
        return {"identifiability": ident, "counterfactual_scores": scores}

    key = {"runs": _run_key(root, cfgs), "n_units": n_units, "probe_epochs": probe_epochs}
    return cached(Path(run_dir) / "evaluations" / f"misspec-{recipe}-{dataset}", key, compute)


def synthetic_misspec(run_dir: Path | str, recipe: str = RECOMMENDED_RECIPE,
                      seeds: Sequence[int] = SEEDS, epochs: int = SYNTH_EPOCHS
                      ) -> dict[str, pd.DataFrame]:
    """notebook 06's synthetic study (the 6-node SCM, every graph kind) under ``recipe``:
    {"per_node", "identifiability", "counterfactual_scores"} (kept in RUN_DIR)."""
    def compute():
        per, ident, scores = misspec.synthetic_study(preset(seed=0), GRAPH_KINDS, seeds, epochs,
                                                     recipe=recipe)
        return {"per_node": per, "identifiability": ident, "counterfactual_scores": scores}

    key = {"seeds": list(seeds), "epochs": epochs, "recipe": recipe}
    return cached(Path(run_dir) / "evaluations" / f"misspec-{recipe}-synthetic", key, compute)


def theorem_under(run_dir: Path | str, recipe: str = RECOMMENDED_RECIPE,
                  seeds: Sequence[int] = SEEDS, epochs: int = SYNTH_EPOCHS) -> pd.DataFrame:
    """``theorem.per_node_mcc`` of ICM-VAE on both graphs under ``recipe`` (kept in RUN_DIR)."""
    def compute():
        per = [theorem.per_node_mcc(theorem.scm_for(g), seeds, ("icm",), epochs, label=g,
                                    scores=False, recipe=recipe)[0] for g in theorem.GRAPHS]
        return {"per_node": pd.concat(per, ignore_index=True)}

    key = {"seeds": list(seeds), "epochs": epochs, "recipe": recipe}
    return cached(Path(run_dir) / "evaluations" / f"theorem-{recipe}", key, compute)["per_node"]


def evaluate_abduction(run_dir: Path | str, recipes: Sequence[str] = RECIPES,
                       seeds: Sequence[int] = SEEDS, n_units: int = N_UNITS,
                       probe_epochs: int = PROBE_EPOCHS) -> pd.DataFrame | None:
    """The noisy-shadow runs of every recipe on one set of held-out units and one probe, with
    the do-nothing, simulator and no-abduction controls (models named by their recipe)."""
    plan_ = {r: _finished(folder(run_dir, "abduction", r), abduction_configs(r, seeds))
             for r in recipes}
    plan_ = {r: cfgs for r, cfgs in plan_.items() if cfgs}
    if not plan_:
        return None

    def compute():
        cfg0 = next(iter(plan_.values()))[0]
        ds = load_training_data(cfg0)[0]
        probe = cached_probe(probe_path(run_dir, f"pendulum-noise{cfg0.noise_std:g}",
                                        cfg0.resolution, probe_epochs), ds, probe_epochs)
        models = [(r, c.seed, load_run(folder(run_dir, "abduction", r), c)[0])
                  for r, cfgs in plan_.items() for c in cfgs]
        return {"counterfactual_scores": abduction.score_noisy(models, ds, probe, n_units)}

    key = {"runs": {r: _run_key(folder(run_dir, "abduction", r), c) for r, c in plan_.items()},
           "n_units": n_units, "probe_epochs": probe_epochs}
    return cached(Path(run_dir) / "evaluations" / "abduction", key,
                  compute)["counterfactual_scores"]


# ---------------------------------------------------------------- tables
# (kind of intervened variable, role) -> criterion; lower is better for every error
ERRORS = {("root", "intervened"): "root: intervened", ("root", "descendant"): "root: descendants",
          ("root", "non-descendant"): "root: non-descendants",
          ("non-root", "intervened"): "caused: intervened",
          ("non-root", "descendant"): "caused: descendants",
          ("non-root", "non-descendant"): "caused: non-descendants"}
HIGHER = {"dci_disentanglement": "block DCI", "agreement_between_seeds": "seed agreement",
          "node_mcc": "node MCC"}
Z_SAME = 2.0  # |difference| under two standard errors reads as "within noise"
SAME = 0.05  # and under this (label std, DCI) as "the same", however small its spread


def per_seed(scores: pd.DataFrame, graph, ident: pd.DataFrame | None = None,
             per_node: pd.DataFrame | None = None) -> pd.DataFrame:
    """One value per (model, seed, criterion): counterfactual errors by kind of target in the
    TRUE ``graph`` and role (ERRORS), block DCI and seed agreement (``ident``), per-node MCC
    mean (``per_node``)."""
    scores = with_targets(scores, graph)
    if "image_mse" not in scores:  # the synthetic SCM has no images
        scores = scores.assign(image_mse=np.nan)
    rs = cf.role_summary(scores, by_target=True)
    out = []
    for (on, role), name in ERRORS.items():
        one = rs[rs["intervened_on"] == on]
        if role in one and len(one):
            out.append(pd.DataFrame({"model": one["model"], "seed": one["seed"].astype(str),
                                     "criterion": name, "value": one[role]}))
    if ident is not None:
        keep = ident[ident["metric"].isin(HIGHER)]
        out.append(pd.DataFrame({"model": keep["model"], "seed": keep["seed"].astype(str),
                                 "criterion": keep["metric"].map(HIGHER),
                                 "value": keep["value"]}))
    if per_node is not None:
        m = per_node.groupby(["model", "seed"], as_index=False)["corr"].mean()
        out.append(pd.DataFrame({"model": m["model"], "seed": m["seed"].astype(str),
                                 "criterion": HIGHER["node_mcc"], "value": m["corr"]}))
    return pd.concat(out, ignore_index=True).dropna(subset=["value"])


def spread(long: pd.DataFrame, by: Sequence[str] = ("model", "criterion")) -> pd.DataFrame:
    """Mean, std and count over seeds (or seed pairs) of ``per_seed``'s values."""
    g = long.groupby(list(by), sort=False)["value"]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(), "seeds": g.size()}).reset_index()


def welch_se(std_a: float, n_a: int, std_b: float, n_b: int) -> float:
    """Standard error of a difference of two means over independent seeds (Welch)."""
    return float(np.sqrt(std_a ** 2 / n_a + std_b ** 2 / n_b))


def costs(table: pd.DataFrame) -> pd.DataFrame:
    """Each wrong graph against the true one, per dataset, recipe and criterion of ``spread``:
    how much worse (positive: worse; errors up, DCI down), in label std and in standard errors
    of the difference (Welch), and the reading at Z_SAME."""
    rows = []
    for (d, r), t in table.groupby(["dataset", "recipe"], sort=False):
        ref = t[t["model"] == misspec.run_name("true")].set_index("criterion")
        for kind in GRAPH_KINDS[1:]:
            wrong = t[t["model"] == misspec.run_name(kind)].set_index("criterion")
            for crit in (c for c in ref.index if c in wrong.index):
                a, b = ref.loc[crit], wrong.loc[crit]
                sign = -1 if crit in HIGHER.values() else 1
                diff = sign * (b["mean"] - a["mean"])
                se = welch_se(a["std"], a["seeds"], b["std"], b["seeds"])
                z = diff / se if se > 0 else float("nan")
                rows.append({"dataset": d, "recipe": r, "graph": kind, "criterion": crit,
                             "true": a["mean"], "wrong": b["mean"], "cost": diff,
                             "z": z, "seeds": int(min(a["seeds"], b["seeds"])),
                             "reading": "within noise" if not abs(z) >= Z_SAME else
                             "same" if abs(diff) < SAME else ("worse" if z > 0 else "better")})
    return pd.DataFrame(rows)


def paper_misspec(dataset: str, folder_: Path = RESULTS_DIR / "paper") -> dict | None:
    """``official_joint``'s misspecification tables as the paper profile published them
    (Pendulum and the synthetic SCM; None where it has none)."""
    f = Path(folder_) / f"misspec_counterfactual_scores_{dataset}.csv"
    if not f.exists():
        return None
    out = {"counterfactual_scores": pd.read_csv(f),
           "identifiability": pd.read_csv(f.with_name(f"misspec_identifiability_{dataset}.csv"))}
    per = f.with_name(f"misspec_per_node_{dataset}.csv")
    if per.exists():
        out["per_node"] = pd.read_csv(per)
    return out


def abduction_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """``spread`` of the abduction study's rows (models named by recipe, and the controls)."""
    return spread(per_seed(scores, get_scm("pendulum").graph))


# ---------------------------------------------------------------- the claims, one row each
# The paper's claims as its abstract and introduction state them (../shared/REFERENCE.md).
VERDICTS = ("holds", "holds only beyond the paper", "partly", "does not hold", "not measurable")
DISENTANGLED = 0.9  # block DCI a "highly disentangled" code reaches (oracle 1.00, nulls <= 0.52)
DATASET_NAMES = {"pendulum": "Pendulum", "flow": "Water flow", "synthetic": "synthetic SCM"}


def _pm(v: pd.Series, digits: int = 2) -> str:
    v = pd.Series(v, dtype=float).dropna()
    return mean_std(v.mean(), v.std(), digits)


def _z(a: pd.Series, b: pd.Series) -> float:
    """(mean b - mean a) in standard errors of the difference (Welch)."""
    se = welch_se(a.std(), len(a), b.std(), len(b))
    return float((b.mean() - a.mean()) / se) if se > 0 else float("inf") * np.sign(
        b.mean() - a.mean())


def _metric(tidy: pd.DataFrame, dataset: str, model: str, metric: str) -> pd.Series:
    m = tidy[(tidy["dataset"] == dataset) & (tidy["model"] == model) & (tidy["metric"] == metric)]
    return m["value"].astype(float).reset_index(drop=True)


def _row(claim: str, measured: str, recipes: str, seeds: int, official: str, beyond: str,
         verdict: str, source: str) -> dict:
    assert verdict in VERDICTS, verdict
    return {"claim": claim, "measured": measured, "recipes": recipes, "seeds": seeds,
            "official_joint": official, "beyond_paper": beyond, "verdict": verdict,
            "tables": source}


def _beyond(official_ok: bool, recipe_ok: bool) -> str:
    return "holds" if official_ok else ("holds only beyond the paper" if recipe_ok else
                                        "does not hold")


def claim_disentanglement(results: Path, own: Path) -> dict:
    paper = pd.read_csv(results / "paper" / "identifiability_tidy.csv")
    ccf = pd.read_csv(results / "causal_cf" / "identifiability_tidy.csv")
    off, rec, ok_off, ok_rec, vae = [], [], True, True, []
    for d in ("pendulum", "flow"):
        o = _metric(paper, d, "icm_vae", "dci_disentanglement")
        r = _metric(ccf, d, RECOMMENDED_RECIPE, "dci_disentanglement")
        nulls = max(_metric(paper, d, f"control:{k}", "dci_disentanglement").mean()
                    for k in ("null_linear", "null_nonlinear"))
        ok_off &= o.mean() >= DISENTANGLED and o.mean() - nulls >= MIN_GAP
        ok_rec &= r.mean() >= DISENTANGLED and r.mean() - nulls >= MIN_GAP
        off.append(f"{DATASET_NAMES[d]} {_pm(o)} (nulls ≤ {nulls:.2f})")
        rec.append(f"{DATASET_NAMES[d]} {_pm(r)}")
        vae.append(_pm(_metric(paper, d, "causal_vae", "dci_disentanglement")))
    return _row("highly disentangled causal factors",
                f"block DCI on the test split ≥ {DISENTANGLED} and ≥ {MIN_GAP:g} above the entangled "
                f"nulls, both datasets (the CausalVAE-style baseline: {' / '.join(vae)})",
                f"{DEFAULT_RECIPE}, {RECOMMENDED_RECIPE}", 3, "; ".join(off), "; ".join(rec),
                _beyond(ok_off, ok_rec), "results/paper, results/causal_cf")


def claim_identifiability(results: Path, own: Path) -> dict:
    off = pd.read_csv(results / "theorem" / "check.csv")
    off = off[off["model"] == "icm"]
    rec = pd.read_csv(own / "theorem_check.csv")
    rec = rec[rec["recipe"] == RECOMMENDED_RECIPE]
    # the same encoder net told the answer (least squares on the true latents): a node it
    # reaches and ICM-VAE does not is not limited by the net or the data
    diag = pd.read_csv(results / "theorem" / "diagnosis.csv")
    ref = diag[(diag["model"] == "supervised") & (diag["condition"] == "default")]
    ref = ref.groupby(["graph", "seed"])["corr"].agg(["mean", "min"]).groupby("graph").mean()

    def text(c):
        return "; ".join(f"{g}: mean {_pm(t['mean_corr'], 3)}, worst node {t['min_corr'].min():.3f}, "
                         f"{int(t['holds'].sum())}/{len(t)} seeds meet both"
                         for g, t in c.groupby("graph", sort=False))

    def graphs_met(c):
        return {g for g, t in c.groupby("graph") if t["holds"].all()}
    graphs = set(off["graph"])
    met_off, met_rec = graphs_met(off), graphs_met(rec)
    verdict = ("holds" if met_off == graphs else "holds only beyond the paper"
               if met_rec == graphs else "partly" if met_off | met_rec else "does not hold")
    return _row("identifiable up to permutation and elementwise reparameterisation",
                f"synthetic SCMs (6 and 8 nodes, exact latents): every node's |Spearman| with its "
                f"own dim ≥ {theorem.TARGET_NODE} and their mean ≥ {theorem.TARGET_MEAN}, per "
                "seed; the same net told the answer (supervised reference): "
                + ", ".join(f"{g} {r['mean']:.3f} / worst {r['min']:.3f}"
                            for g, r in ref.iterrows()),
                f"{DEFAULT_RECIPE}, {RECOMMENDED_RECIPE} (its prior: each block from its own "
                "label)", int(off["seed"].nunique()), text(off), text(rec), verdict,
                "results/theorem, results/claims")


def claim_robustness(results: Path, own: Path) -> dict:
    paper = pd.read_csv(results / "paper" / "identifiability_tidy.csv")
    ccf = pd.read_csv(results / "causal_cf" / "identifiability_tidy.csv")
    peers = ("beta_vae", "icm_vae_noprior", "causal_vae")
    beaten, parts, rec = {p: True for p in peers}, [], []
    for d in ("pendulum", "flow"):
        o = _metric(paper, d, "icm_vae", "irs")
        cells = []
        for p in peers:
            v = _metric(paper, d, p, "irs")
            z = _z(v, o)
            beaten[p] &= z >= Z_SAME
            cells.append(f"{p} {_pm(v)}")
        parts.append(f"{DATASET_NAMES[d]} {_pm(o)} ({', '.join(cells)})")
        r, cv = (_metric(ccf, d, m, "irs") for m in (RECOMMENDED_RECIPE, "causal_vae"))
        rec.append(f"{DATASET_NAMES[d]} {_pm(r)} (causal_vae {_pm(cv)})")
    n = sum(beaten.values())
    verdict = "holds" if n == len(peers) else ("partly" if n else "does not hold")
    better = [p for p, b in beaten.items() if b]
    return _row("better interventional robustness",
                f"IRS, both datasets, against each baseline by {Z_SAME:g} standard errors "
                f"(above: {', '.join(better) or 'none'})",
                f"{DEFAULT_RECIPE}; {RECOMMENDED_RECIPE} shown", 3, "; ".join(parts),
                "; ".join(rec), verdict, "results/paper, results/causal_cf")


ROOT_COLUMNS = {"root intervened": "intervened", "root descendants": "descendant",
                "root non-descendants": "non-descendant"}  # causal_cf's targets -> columns


def claim_root_counterfactuals(results: Path, own: Path) -> dict:
    t = pd.read_csv(results / "causal_cf" / "targets.csv")
    t = t[t["criterion"].isin(ROOT_COLUMNS)]
    summ = pd.read_csv(results / "causal_cf" / "counterfactual_summary.csv")
    root = summ[summ["intervened_on"] == "root"].set_index(["dataset", "model"])

    def side(model):
        ok = all(root.loc[(d, model), ROOT_COLUMNS[c]] <= float(g.split()[-1])
                 for d, c, g in t[["dataset", "criterion", "target"]].itertuples(index=False))
        return "; ".join(f"{DATASET_NAMES[d]} intervened {root.loc[(d, model), 'intervened']:.2f}"
                         f", descendants {root.loc[(d, model), 'descendant']:.2f}"
                         for d in ("pendulum", "flow")), ok
    (off, off_ok), (rec, rec_ok) = side(DEFAULT_RECIPE), side(RECOMMENDED_RECIPE)
    crit = ", ".join(f"{c.removeprefix('root ')} {g}" for c, g in
                     t[["criterion", "target"]].drop_duplicates("criterion").itertuples(index=False))
    return _row("compatible with counterfactual generation: interventions on root variables",
                f"probe-read error of the counterfactual factors (label std), 200 held-out units, "
                f"both datasets, targets {crit}; doing nothing "
                f"{root.loc[('pendulum', 'control:do_nothing'), 'descendant']:.2f} on Pendulum's "
                "descendants", f"{DEFAULT_RECIPE}, {RECOMMENDED_RECIPE}", 3, off, rec,
                _beyond(off_ok, rec_ok), "results/causal_cf")


def claim_caused_counterfactuals(results: Path, own: Path) -> dict:
    t = pd.read_csv(results / "support_ladder" / "targets.csv")
    grid = t[(t["noise_std"] == 0) & t["criterion"].str.startswith("caused")]
    summ = pd.read_csv(results / "causal_cf" / "counterfactual_summary.csv")
    caused = summ[summ["intervened_on"] == "non-root"].set_index(["dataset", "model"])

    def met(model):
        g = grid[grid["model"] == model]
        return f"{int(g['met'].sum())}/{len(g)} targets met", bool(len(g)) and bool(g["met"].all())
    joint, objects = met("joint"), met("objects")
    off = "; ".join(f"{DATASET_NAMES[d]} intervened {caused.loc[(d, DEFAULT_RECIPE), 'intervened']:.2f}"
                    for d in ("pendulum", "flow"))
    crit = ", ".join(f"{c} {g}" for c, g in grid[["criterion", "target"]].drop_duplicates(
        "criterion").itertuples(index=False))
    return _row("compatible with counterfactual generation: interventions on caused variables",
                f"the grids of both datasets, targets {crit}",
                f"{DEFAULT_RECIPE}; {RECOMMENDED_RECIPE} with one decoder or with object slots",
                3, off, f"one decoder: {joint[0]}; object slots: {objects[0]}",
                _beyond(False, objects[1]), "results/causal_cf, results/support_ladder")


def claim_abduction(results: Path, own: Path) -> dict:
    s = pd.read_csv(own / "abduction_summary.csv")
    d = s[s["criterion"] == ERRORS[("root", "descendant")]].set_index("model")
    ctl = d.loc["control:no_abduction", "mean"]
    bound = TARGETS[("root", "descendant")][1]  # the support ladder's target
    parts, ok = [], {}
    for r in RECIPES:
        m = d.loc[r]
        ok[r] = m["mean"] <= bound
        parts.append(f"{r}: descendants {m['mean']:.2f} ± {m['std']:.2f}")
    better = {r: d.loc[r, "mean"] < ctl for r in RECIPES}
    verdict = ("holds" if ok[DEFAULT_RECIPE] else "holds only beyond the paper"
               if ok[RECOMMENDED_RECIPE] else "partly" if any(better.values())
               else "does not hold")
    return _row("compatible with counterfactual generation: a unit's own noise (abduction)",
                f"Pendulum with mechanism noise 2.0 on the shadow, root interventions, 30 epochs, "
                f"descendants ≤ {bound}; dropping the unit's noise (no abduction) {ctl:.2f}, doing "
                f"nothing {d.loc['control:do_nothing', 'mean']:.2f}",
                f"{DEFAULT_RECIPE}, {RECOMMENDED_RECIPE} (one decoder)",
                int(d.loc[RECOMMENDED_RECIPE, "seeds"]), parts[0], parts[1], verdict,
                "results/claims")


def claim_graph(results: Path, own: Path) -> dict:
    c = pd.read_csv(own / "misspec_costs.csv")
    crit = ERRORS[("root", "descendant")]
    c = c[c["criterion"] == crit]
    # a dataset's costs count only where the true graph's counterfactuals beat doing nothing:
    # a wrong graph cannot cost what the true one does not deliver
    s = pd.read_csv(own / "misspec_summary.csv")
    s = s[s["criterion"] == crit].set_index(["dataset", "recipe", "model"])["mean"]

    def informative(d, r):
        return s.get((d, r, misspec.run_name("true")), np.inf) < s.get(
            (d, r, "control:do_nothing"), -np.inf)

    def text(r):
        t = c[c["recipe"] == r]
        if t.empty:
            return "not run", False
        parts, any_cost = [], False
        for d, g in t.groupby("dataset", sort=False):
            if not informative(d, r):
                parts.append(f"{DATASET_NAMES[d]}: no reading (the true graph's "
                             f"{s[(d, r, misspec.run_name('true'))]:.2f} is no better than doing "
                             f"nothing, {s[(d, r, 'control:do_nothing')]:.2f})")
                continue
            worse = g[g["reading"] == "worse"]
            any_cost |= len(worse) > 0
            parts.append(f"{DATASET_NAMES[d]} (true graph "
                         f"{s[(d, r, misspec.run_name('true'))]:.2f}): " + (", ".join(
                             f"{k} +{v:.2f} ({z:.1f} SE)" for k, v, z in
                             worse[["graph", "cost", "z"]].itertuples(index=False))
                             or "no wrong graph costs beyond noise"))
        return "; ".join(parts), any_cost
    (off, off_ok), (rec, rec_ok) = text(DEFAULT_RECIPE), text(RECOMMENDED_RECIPE)
    verdict = ("holds" if off_ok else "holds only beyond the paper" if rec_ok
               else "not measurable")
    return _row("the causal graph, in the mechanisms and the prior, is what makes the "
                "representation causal",
                f"ICM-VAE told a wrong graph (reversed, dropped, empty, complete), scored against "
                f"the true one: what each costs on the root interventions' descendants, in label "
                f"std and standard errors (worse: ≥ {Z_SAME:g} SE and ≥ {SAME:g}), where the true "
                "graph beats doing nothing", f"{DEFAULT_RECIPE} (paper profile), "
                f"{RECOMMENDED_RECIPE}", int(c["seeds"].min()), off, rec, verdict,
                "results/paper, results/claims")


CLAIMS = (claim_disentanglement, claim_identifiability, claim_robustness,
          claim_root_counterfactuals, claim_caused_counterfactuals, claim_abduction, claim_graph)


def claims_table(results: Path | str = RESULTS_DIR, own: Path | str | None = None
                 ) -> pd.DataFrame:
    """One row per claim of the paper, every cell computed from committed tables: the other
    studies' in ``results``, this study's in ``own`` (default results/claims)."""
    results = Path(results)
    own = results / "claims" if own is None else Path(own)
    return pd.DataFrame([claim(results, own) for claim in CLAIMS])


# ---------------------------------------------------------------- publishing
def _graphs() -> dict:
    return {**{d: get_scm(d).graph for d in DATASETS}, "synthetic": preset(seed=0).graph}


def misspec_summary(run_dir: Path | str, seeds: Sequence[int] = SEEDS,
                    paper: Path = RESULTS_DIR / "paper") -> tuple[pd.DataFrame, dict]:
    """``spread`` of every misspecification table: the paper profile's ``official_joint`` rows
    (Pendulum, synthetic) and this study's ``independent_noise`` rows (Pendulum, Water flow,
    synthetic), columns dataset, recipe, epochs; and this study's tidy tables by name."""
    graphs, parts, tidy = _graphs(), [], {"identifiability": [], "counterfactual_scores": []}
    for d in (*DATASETS, "synthetic"):
        t = paper_misspec(d, paper)
        if t is not None:
            parts.append(spread(per_seed(t["counterfactual_scores"], graphs[d],
                                         t["identifiability"], t.get("per_node"))).assign(
                dataset=d, recipe=DEFAULT_RECIPE, epochs=30 if d != "synthetic" else SYNTH_EPOCHS))
        t = (evaluate_misspec(run_dir, d, seeds=seeds) if d != "synthetic"
             else synthetic_misspec(run_dir, seeds=seeds))
        if t is None:
            continue
        parts.append(spread(per_seed(t["counterfactual_scores"], graphs[d], t["identifiability"],
                                     t.get("per_node"))).assign(
            dataset=d, recipe=RECOMMENDED_RECIPE, epochs=EPOCHS if d != "synthetic" else SYNTH_EPOCHS))
        for k in tidy:
            tidy[k].append(t[k].assign(dataset=d, recipe=RECOMMENDED_RECIPE))
        if "per_node" in t:
            tidy["per_node_synthetic"] = [t["per_node"].assign(recipe=RECOMMENDED_RECIPE)]
    return pd.concat(parts, ignore_index=True), {k: pd.concat(v, ignore_index=True)
                                                 for k, v in tidy.items() if v}


def plot_costs(summary: pd.DataFrame, criterion: str = ERRORS[("root", "descendant")]):
    """One panel per dataset: ``criterion`` (mean ± sd over seeds) for each graph told, one bar
    per recipe, doing nothing and the simulator as lines."""
    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.4 * len(datasets), 3.6), squeeze=False)
    kinds = list(GRAPH_KINDS)
    for ax, d in zip(axes[0], datasets):
        t = summary[(summary["dataset"] == d) & (summary["criterion"] == criterion)]
        width, epochs = 0.8 / len(RECIPES), []
        for i, r in enumerate(RECIPES):
            g = t[t["recipe"] == r].set_index("model")
            rows = [misspec.run_name(k) for k in kinds]
            if not g.index.isin(rows).any():
                epochs.append(f"no {r} runs")
                continue
            g = g.reindex(rows)
            ax.bar(np.arange(len(kinds)) + (i - (len(RECIPES) - 1) / 2) * width, g["mean"],
                   width, yerr=g["std"], capsize=3, color=f"C{i}", label=r)
            epochs.append(f"{r}: {int(g['epochs'].max())} epochs")
        ctl = t.drop_duplicates("model").set_index("model")
        for name, ls in (("control:do_nothing", "--"), ("control:simulator", ":")):
            if name in ctl.index:
                ax.axhline(ctl.loc[name, "mean"], color="0.4", ls=ls,
                           label=name.removeprefix("control:").replace("_", " "))
        ax.set_xticks(range(len(kinds)), kinds, fontsize=8)
        ax.set_title(f"{DATASET_NAMES[d]}\n({'; '.join(epochs)})", fontsize=10)
        ax.set_xlabel("graph the model is told")
        ax.set_ylabel(f"{criterion}\nerror (label std; mean ± sd over seeds)", fontsize=9)
    handles = dict(zip(*reversed(axes[0, 0].get_legend_handles_labels())))
    for ax in axes.flat[1:]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
               fontsize=8, frameon=False)
    fig.suptitle("What the graph buys: counterfactual error on the descendants of an "
                 "intervened root, scored against the TRUE graph")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def publish(run_dir: Path | str, out: Path = OUT, seeds: Sequence[int] = SEEDS,
            figures: Path = FIGURES_DIR, results: Path = RESULTS_DIR) -> pd.DataFrame:
    """Score every finished run and write the study's tables, its figures and the claims table;
    return the claims table."""
    out.mkdir(parents=True, exist_ok=True)
    summary, tidy = misspec_summary(run_dir, seeds, results / "paper")
    summary.to_csv(out / "misspec_summary.csv", index=False)
    costs(summary).to_csv(out / "misspec_costs.csv", index=False)
    for name, table in tidy.items():
        table.to_csv(out / f"misspec_{name}.csv", index=False)
    save_figure(plot_costs(summary), "06_claims_misspecification", figures)
    # ICM-VAE's rows under both priors: the recipe's from this study, the official one's as the
    # theorem check published them (results/theorem/)
    per = theorem_under(run_dir, seeds=seeds)
    per = per[per["model"] == "icm"].assign(recipe=RECOMMENDED_RECIPE)
    official = pd.read_csv(results / "theorem" / "per_node.csv")
    official = official[official["model"] == "icm"].assign(recipe=DEFAULT_RECIPE)
    pd.concat([official, per], ignore_index=True).to_csv(out / "theorem_per_node.csv",
                                                         index=False)
    checks = pd.read_csv(results / "theorem" / "check.csv")
    pd.concat([checks[checks["model"] == "icm"].assign(recipe=DEFAULT_RECIPE),
               theorem.check(per).assign(recipe=RECOMMENDED_RECIPE)], ignore_index=True).to_csv(
        out / "theorem_check.csv", index=False)
    ab = evaluate_abduction(run_dir, seeds=seeds)
    if ab is not None:
        ab.to_csv(out / "abduction_scores.csv", index=False)
        abduction_summary(ab).to_csv(out / "abduction_summary.csv", index=False)
    atomic_write_text(out / "study.json", json.dumps(
        {"study": __name__, "epochs": EPOCHS, "abduction_epochs": ABDUCTION_EPOCHS,
         "synthetic_epochs": SYNTH_EPOCHS, "resolution": RESOLUTION, "n_units": N_UNITS,
         "probe_epochs": PROBE_EPOCHS, "seeds": list(seeds), "recipes": list(RECIPES),
         "abduction_noise_std": abduction.NOISE_STD}, indent=1) + "\n")
    table = claims_table(results, out)
    table.to_csv(out / "claims.csv", index=False)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.studies.claims", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=Path.home() / "icm_runs" / "claims")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--train", action="store_true", help="train missing runs first (hours on CPU)")
    p.add_argument("--publish", type=Path, nargs="?", const=OUT,
                   help="write the tables (default results/claims) and figures")
    a = p.parse_args(argv)
    if a.train:
        train(a.run_dir, seeds=a.seeds)
    if a.publish:
        figures = FIGURES_DIR if a.publish == OUT else a.publish
        table = publish(a.run_dir, a.publish, a.seeds, figures)
        print(table[["claim", "verdict"]].to_string(index=False))
        print(f"[claims] tables in {a.publish}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
