"""Result tables of the README and docs/results.md, rendered from committed result folders
(``results/<profile>/``).

The documents' tables of a profile's runs sit between marker lines such as
``<!-- report:identifiability results/paper pendulum -->`` and ``<!-- /report -->``; this module
renders each block from the CSV files it names, so no number is typed by hand, and
``tests/test_report.py`` fails when a document and the committed tables disagree.

    python -m icm_utils.report                 # check the documents' blocks
    python -m icm_utils.report --write         # rewrite them from the tables
    python -m icm_utils.report --show results/paper pendulum   # print one folder's tables
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from icm_utils.core.paths import PROJECT_ROOT
from icm_utils.data.graph import GRAPH_KINDS
from icm_utils.evaluation import controls
from icm_utils.evaluation.analysis import mean_std, summary_table, wide_summary
from icm_utils.evaluation.controls import label
from icm_utils.evaluation.counterfactual import COUNTERFACTUAL_ROLES, QUANTILES, role_summary
from icm_utils.model.models import MODEL_NAMES
from icm_utils.model.recipes import DEFAULT_RECIPE, RECOMMENDED_RECIPE
from icm_utils.training import health

README = PROJECT_ROOT / "README.md"
STUDY_FILE = "study.json"  # a study's settings, beside its tables
# the documents whose report blocks are rendered from the committed tables
DOCUMENTS = (README, PROJECT_ROOT / "docs" / "results.md", PROJECT_ROOT / "docs" / "own_data.md",
             PROJECT_ROOT / "pretrained" / "README.md")
# block-level scores in the README's column order; non-discriminative ones are marked as such
BLOCK_METRICS = ("dci_disentanglement", "dci_completeness", "own_factor_r2", "exclusivity", "irs",
                 "agreement_between_seeds", "mcc_spearman", "dci_informativeness")
HEADERS = {"dci_disentanglement": "DCI disent.", "dci_completeness": "DCI complete.",
           "own_factor_r2": "own-factor R²", "exclusivity": "exclusivity", "irs": "IRS",
           "agreement_between_seeds": "seed agreement", "mcc_spearman": "MCC Spearman",
           "dci_informativeness": "DCI inform."}
CONTROL_ORDER = ("control:oracle", "control:partial", "control:null_linear",
                 "control:null_nonlinear", "control:simulator", "control:no_abduction",
                 "control:do_nothing")
BLOCK = re.compile(r"(<!-- report:(\w+) (\S+) (\w+) -->\n)(.*?)(<!-- /report -->)", re.S)


def study_settings(folder: Path | str) -> dict:
    """The settings a study's tables were made with (its ``study.json``, written by the study's
    publish step): the facts a block states beside its numbers, read like the numbers."""
    path = Path(folder) / STUDY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the study's publish step writes it")
    return json.loads(path.read_text())


def _seeds(values) -> str:
    seeds = sorted({int(s) for s in values})
    return (f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1))
            else ", ".join(map(str, seeds)))


def _dataset_rows(path: Path, dataset: str, what: str, **read) -> pd.DataFrame:
    """The rows of one dataset in a tidy CSV; a clear error when it has none."""
    df = pd.read_csv(path, **read)
    df = df[df["dataset"] == dataset]
    if df.empty:
        raise ValueError(f"{path.parent} has no {what} for {dataset!r}")
    return df


def _interventions(scores: pd.DataFrame) -> int:
    """How many interventions (target, value) a level's scores hold (the most of any level)."""
    by = [c for c in ("dataset", "noise_std") if c in scores]
    pairs = scores.drop_duplicates(by + ["target", "value"])
    return int(pairs.groupby(by).size().max()) if by else len(pairs)


def _cell(values: pd.Series, digits: int = 2) -> str:
    """Mean, with ± the standard deviation over seeds when there are several (the format of
    ``analysis.summary_table``)."""
    v = values.dropna()
    return mean_std(v.mean(), v.std(), digits) if len(v) else "—"


def _order(models) -> list[str]:
    """Controls first (in CONTROL_ORDER), then models in MODEL_NAMES order, a model's graph
    variants (``icm_vae[reversed]``) in GRAPH_KINDS order, then the rest."""
    rank = {m: i for i, m in enumerate(CONTROL_ORDER + MODEL_NAMES)}

    def key(m: str):
        base, _, graph = m.partition("[")
        graph = graph.rstrip("]")
        return (rank.get(base, len(rank)),
                GRAPH_KINDS.index(graph) if graph in GRAPH_KINDS else -1, m)
    return sorted(set(models), key=key)


def _row(name: str, cells: list[str]) -> str:
    return f"| `{name}` | " + " | ".join(cells) + " |"


def identifiability_table(folder: Path | str, dataset: str,
                          file: str = "identifiability_tidy.csv") -> str:
    """Models x block scores (mean ± std over seeds) beside the control rows, from a tidy
    (dataset, model, seed, metric, value) file. A column is bold when the metric is
    discriminative on this dataset (oracle - best null >= 0.3)."""
    tidy = _dataset_rows(Path(folder) / file, dataset, "rows", dtype={"seed": str})
    gaps = controls.control_gaps(tidy).set_index("metric")
    metrics = [m for m in BLOCK_METRICS if m in set(tidy["metric"])]
    head = ["model"]
    for m in metrics:
        disc = m in gaps.index and bool(gaps.loc[m, "discriminative"])
        head.append(f"**{HEADERS[m]}**" if disc else f"{HEADERS[m]} *(not discr.)*")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    wide = wide_summary(summary_table(tidy), metrics).loc[dataset]
    for model in _order(tidy["model"]):
        lines.append(_row(model, list(wide.loc[model].fillna("—"))))
    runs = tidy[~tidy["model"].map(controls.is_control) & ~tidy["seed"].str.contains("-")]
    n = runs.groupby("model")["seed"].nunique()  # "0-1" rows are seed pairs, not seeds
    seeds = "-".join(str(s) for s in sorted(set(n))) if len(n) else "0"
    lines.append(f"\n*{dataset}, {seeds} seed(s) per model; ± is the standard deviation over "
                 f"seeds (between-seed scores: over seed pairs; control rows: over their random "
                 f"draws).*")
    return "\n".join(lines)


def counterfactual_report(folder: Path | str, dataset: str, prefix: str = "counterfactual") -> str:
    """Counterfactual factor error by role (label std, lower is better), image MSE and
    block-movement robustness, mean ± std over seeds, beside the simulator and do-nothing rows.
    Reads ``<prefix>_summary_<dataset>.csv`` (one row per model and seed), else the per-unit
    ``<prefix>_scores_<dataset>.csv``; robustness from ``<prefix>_robustness_<dataset>.csv``."""
    folder = Path(folder)
    path = folder / f"{prefix}_summary_{dataset}.csv"
    summ = (pd.read_csv(path) if path.exists()
            else role_summary(pd.read_csv(folder / f"{prefix}_scores_{dataset}.csv")))
    rob_path = folder / f"{prefix}_robustness_{dataset}.csv"
    rob = pd.read_csv(rob_path) if rob_path.exists() else None
    gaps = controls.counterfactual_gaps(summ).set_index("metric")
    head = ["model"]
    for r in COUNTERFACTUAL_ROLES:
        disc = r in gaps.index and bool(gaps.loc[r, "discriminative"])
        head.append(f"**cf error: {r}**" if disc else f"cf error: {r} *(not discr.)*")
    head.append("image MSE")
    if rob is not None:
        gap = controls.control_gaps(rob.rename(columns={"robustness": "value"}).assign(
            metric="robustness"), by=("metric",))
        disc = not gap.empty and bool(gap["discriminative"].iloc[0])
        head.append("**robustness**" if disc else "robustness *(not discr.)*")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    models = list(summ["model"]) + ([] if rob is None else list(rob["model"]))
    for model in _order(models):
        g = summ[summ["model"] == model]
        cells = [_cell(g[c]) if c in g else "—" for c in COUNTERFACTUAL_ROLES]
        cells.append(_cell(g["image_mse"], digits=3) if "image_mse" in g else "—")
        if rob is not None:
            cells.append(_cell(rob.loc[rob["model"] == model, "robustness"]))
        lines.append(_row(model, cells))
    return "\n".join(lines)


def theorem_table(folder: Path | str, _: str = "all") -> str:
    """Per graph: ICM-VAE's node mean and worst node (mean ± std over seeds, 3 decimals, the
    worst nodes named), the no-prior ablation's, the nulls' node mean and the oracle's, from the
    theorem check's ``per_node.csv`` (``python -m icm_utils.studies.theorem``)."""
    per = pd.read_csv(Path(folder) / "per_node.csv")
    by_seed = per.groupby(["graph", "model", "seed"])["corr"]
    stats = pd.DataFrame({"mean": by_seed.mean(), "min": by_seed.min(),
                          "worst": per.loc[by_seed.idxmin(), ["graph", "model", "seed", "node"]]
                          .set_index(["graph", "model", "seed"])["node"]}).reset_index()
    lines = ["| graph | ICM-VAE: node mean | ICM-VAE: worst node | no prior: mean / worst "
             "| nulls (lin. / nonlin.): mean | oracle |", "|---|---|---|---|---|---|"]
    for graph, g in stats.groupby("graph", sort=True):
        def col(model, stat, digits=2, g=g):
            return _cell(g.loc[g["model"] == model, stat], digits)
        worst = ", ".join(dict.fromkeys(g.loc[g["model"] == "icm", "worst"]))
        lines.append(f"| {graph} | {col('icm', 'mean', 3)} | {col('icm', 'min', 3)} ({worst}) | "
                     f"{col('noprior', 'mean')} / {col('noprior', 'min')} | "
                     f"{col('control:null_linear', 'mean')} / "
                     f"{col('control:null_nonlinear', 'mean')} | "
                     f"{col('control:oracle', 'mean')} |")
    return "\n".join(lines)


def diagnosis_table(folder: Path | str, _: str = "all") -> str:
    """One row per condition of ``scripts/theorem_diagnosis.py`` (``diagnosis.csv``): ICM-VAE's
    node mean and worst node, beside the supervised reference's under the same condition (the
    same net, data and epochs trained on the true latents; — where not run). Over several seeds:
    the mean ± std over seeds of each, and the seed count."""
    df = pd.read_csv(Path(folder) / "diagnosis.csv")
    by_seed = df.groupby(["graph", "condition", "model", "seed"], sort=False)["corr"]
    runs = pd.DataFrame({"mean": by_seed.mean(), "min": by_seed.min(),
                         "worst": df.loc[by_seed.idxmin(), "node"].to_numpy()}).reset_index()
    g = runs.groupby(["graph", "condition", "model"], sort=False)

    def cell(stat: pd.Series) -> str:
        return f"{stat.mean():.3f}" + (f" ± {stat.std():.3f}" if len(stat) > 1 else "")

    lines = ["| graph: condition | seeds | ICM-VAE: node mean | ICM-VAE: worst node "
             "| supervised reference: mean / worst |", "|---|---|---|---|---|"]
    rows = dict.fromkeys((gr, c) for gr, c, m in g.groups if m == "icm")
    for graph, cond in sorted(rows, key=lambda gc: gc[0]):  # stable: file order within a graph
        icm = g.get_group((graph, cond, "icm"))
        worst = ", ".join(dict.fromkeys(icm["worst"]))
        ref = "—"
        if (graph, cond, "supervised") in g.groups:
            sup = g.get_group((graph, cond, "supervised"))
            ref = f"{cell(sup['mean'])} / {cell(sup['min'])}"
        lines.append(f"| {graph}: {cond} | {len(icm)} | {cell(icm['mean'])} | "
                     f"{cell(icm['min'])} ({worst}) | {ref} |")
    return "\n".join(lines)


def collapse_table(folder: Path | str, dataset: str) -> str:
    """One row per flow run (``collapse.csv``, ``python -m icm_utils.studies.collapse``) with its block
    DCI from the identifiability table, after the oracle, linear-null and constant-code rows."""
    folder = Path(folder)
    df = _dataset_rows(folder / "collapse.csv", dataset, "rows")
    tidy = pd.read_csv(folder / "identifiability_tidy.csv", dtype={"seed": str})
    dci = tidy[(tidy["dataset"] == dataset) & (tidy["metric"] == "dci_disentanglement")]
    dci = dict(zip(zip(dci["model"], dci["seed"]), dci["value"], strict=True))
    lines = ["| model | seed | DCI disent. | log-slope per dim | eps sd | z sd | dead dims of eps | "
             "weakest block of eps (own-factor R²) |", "|" + "---|" * 8]
    ctrl = df["model"].map(controls.is_control)
    for r in pd.concat([df[ctrl], df[~ctrl]]).itertuples():
        is_ctrl = controls.is_control(r.model)
        d = None if is_ctrl else dci.get((r.model, str(r.seed)))
        cells = ["" if is_ctrl else str(r.seed), "—" if d is None else f"{d:.2f}"]
        cells += ["—" if is_ctrl else f"{v:.{n}f}"
                  for v, n in ((r.log_slope, 2), (r.eps_sd, 3), (r.z_sd, 2))]
        cells += [f"{r.dead_dims} / {r.dims}", f"{r.weakest} ({r.weakest_own_r2:.2f})"]
        lines.append(_row(r.model, cells))
    return "\n".join(lines)


def causal_cf_table(folder: Path | str, dataset: str) -> str:
    """The counterfactual ablation (``studies.cf_ablation``): per row, block DCI and own-factor
    R² beside the oracle and the best null, then the factor error by role for interventions on
    roots and on caused variables (label std, lower is better), mean ± std over seeds, beside
    the do-nothing and simulator rows. Reads ``identifiability_tidy.csv`` and the per-unit
    ``counterfactual_scores.csv`` (split by seed here), or a notebook-05 run's
    ``counterfactual_scores_<dataset>.csv`` (a profile's folder, e.g. results/quick)."""
    folder = Path(folder)
    tidy = _dataset_rows(folder / "identifiability_tidy.csv", dataset, "rows", dtype={"seed": str})
    if (folder / "counterfactual_scores.csv").exists():
        scores = _dataset_rows(folder / "counterfactual_scores.csv", dataset, "rows")
    else:  # one notebook run scores one dataset
        scores = pd.read_csv(folder / f"counterfactual_scores_{dataset}.csv")
    per_seed = role_summary(scores, by_target=True)
    head = ["model", "seeds", "block DCI", "own-factor R²", "root: intervened", "root: descendants",
            "root: non-desc.", "non-root: intervened", "non-root: descendants", "non-root: non-desc."]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ident = tidy[tidy["metric"].isin(["dci_disentanglement", "own_factor_r2"])]
    keep = [m for m in ident["model"].unique()
            if not controls.is_control(m) or m in ("control:oracle", "control:null_linear")]
    order = [m for m in CONTROL_ORDER if m in set(keep) | set(per_seed["model"])]
    order += [m for m in dict.fromkeys([*keep, *per_seed["model"]]) if m not in order]
    for model in order:
        i = ident[ident["model"] == model]
        r = per_seed[(per_seed["model"] == model) & (per_seed["intervened_on"] == "root")]
        n = per_seed[(per_seed["model"] == model) & (per_seed["intervened_on"] == "non-root")]
        seeds = per_seed.loc[per_seed["model"] == model, "seed"].nunique()
        cells = [str(seeds) if seeds and not controls.is_control(model) else "—",
                 _cell(i.loc[i["metric"] == "dci_disentanglement", "value"]),
                 _cell(i.loc[i["metric"] == "own_factor_r2", "value"])]
        cells += [_cell(r[c]) if c in r else "—" for c in COUNTERFACTUAL_ROLES]
        cells += [_cell(n[c]) if c in n else "—" for c in COUNTERFACTUAL_ROLES]
        lines.append(_row(model, cells))
    # a role that never occurs (Pendulum's caused variables have no descendants), or that data
    # without a simulator cannot score (the descendants of a user's folder), is a dash
    desc = scores.loc[scores["role"] == "descendant", "factor_error"]
    scored = desc.empty or desc.notna().any()
    why = ("a role does not occur" if scored else
           "a role does not occur or has no ground truth (no simulator: the descendants' change "
           "is shown in notebook 05, not scored)")
    lines.append(f"\n*{dataset}, {study_settings(folder)['resolution']} px; ± is the standard "
                 f"deviation over seeds; — where {why}.*")
    return "\n".join(lines)


def causal_cf_headline(folder: Path | str, _: str = "all") -> str:
    """The README's counterfactual headline: root interventions on both datasets for the
    recipes that matter, beside the simulator and doing nothing (mean ± std over seeds)."""
    folder = Path(folder)
    scores = pd.read_csv(folder / "counterfactual_scores.csv")
    tidy = pd.read_csv(folder / "identifiability_tidy.csv", dtype={"seed": str})
    models = ["control:simulator", "control:do_nothing", DEFAULT_RECIPE, "causal_vae",
              RECOMMENDED_RECIPE]
    datasets = list(dict.fromkeys(scores["dataset"]))
    head = ["model"]
    for d in datasets:
        head += [f"{d}: intervened", f"{d}: descendants", f"{d}: block DCI"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    roots = {d: role_summary(scores[scores["dataset"] == d], by_target=True).query(
        "intervened_on == 'root'") for d in datasets}
    for model in models:
        cells = []
        for d in datasets:
            r = roots[d][roots[d]["model"] == model]
            i = tidy[(tidy["dataset"] == d) & (tidy["model"] == model)
                     & (tidy["metric"] == "dci_disentanglement")]
            cells += [_cell(r["intervened"]), _cell(r["descendant"]), _cell(i["value"])]
        lines.append(_row(model, cells))
    s = study_settings(folder)
    epochs = sorted(set(pd.read_csv(folder / "training_health.csv")["epochs"]))
    lines.append(f"\n*Interventions on root variables, error of the probe-read factors in label "
                 f"std (lower is better), {s['n_units']} held-out units, {s['resolution']} px, "
                 f"{'/'.join(map(str, epochs))} epochs, seeds {_seeds(scores['seed'])}; block DCI "
                 f"on the test split (oracle 1.00).*")
    return "\n".join(lines)


def causal_cf_targets(folder: Path | str, dataset: str) -> str:
    """The [causal-cf] targets of ``targets.csv`` (``studies.cf_ablation.target_check``)."""
    df = _dataset_rows(Path(folder) / "targets.csv", dataset, "targets")
    lines = ["| criterion | value | seeds | target | met |", "|---|---|---|---|---|"]
    for r in df.itertuples():
        value = mean_std(r.mean, r.std) if r.std == r.std else f"{r.mean:.2f}"
        lines.append(f"| {r.criterion} | {value} | {r.seeds} | {r.target} | "
                     f"{'yes' if r.met else '**no**'} |")
    return "\n".join(lines)


def causal_cf_soundness(folder: Path | str, dataset: str) -> str:
    """Soundness of the ablation's rows (image MSE to the model's reconstruction; ×1e3)."""
    df = _dataset_rows(Path(folder) / "soundness_scores.csv", dataset, "soundness rows")
    repeated = next(c for c in df.columns if c.startswith("composition_x"))
    repeats = int(repeated.removeprefix("composition_x"))
    cols = [repeated, "reversibility", "reconstruction_mse"]
    per_seed = df.groupby(["model", "seed", "intervened_on"], sort=False)[cols].mean().reset_index()
    head = ["model", "targets", f"composition ×{repeats}", "reversibility",
            "reconstruction (to the image)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (model, on), g in per_seed.groupby(["model", "intervened_on"], sort=False):
        lines.append(_row(model, [on] + [_cell(g[c] * 1e3) for c in cols]))
    lines.append(f"\n*Image MSE ×1e3, mean ± std over seeds, on the first "
                 f"{study_settings(folder)['soundness_units']} held-out units; one null "
                 f"intervention returns a flow model's reconstruction exactly (composition 0), so "
                 f"the table shows {repeats} in a row.*")
    return "\n".join(lines)


def _ladder_rows(scores: pd.DataFrame, ident: pd.DataFrame, models):
    """Per model of one ladder cell (``scores`` and ``ident`` of one dataset and noise level), in
    the order of ``models``: (model, seeds, block DCI, its root and its caused interventions'
    per-seed rows), the seeds and DCI as cells ("—" for a control)."""
    per_seed = role_summary(scores, by_target=True)
    dci = ident[ident["metric"] == "dci_disentanglement"]
    for model in models:
        mine = per_seed[per_seed["model"] == model]
        ctrl = controls.is_control(model)
        yield (model, "—" if ctrl else str(mine["seed"].nunique()),
               "—" if ctrl else _cell(dci.loc[dci["model"] == model, "value"]),
               mine[mine["intervened_on"] == "root"], mine[mine["intervened_on"] == "non-root"])


def support_ladder_table(folder: Path | str, dataset: str) -> str:
    """The support ladder (``studies.support_ladder``): per noise level, each decoder's errors for
    interventions on roots and on caused variables (label std, mean ± std over seeds), the caused
    interventions' image MSE and block DCI, beside the level's do-nothing, simulator and (with
    noise) no-abduction rows."""
    folder = Path(folder)
    table = _dataset_rows(folder / "counterfactual_summary.csv", dataset, "ladder rows")
    ident = _dataset_rows(folder / "identifiability_tidy.csv", dataset, "rows", dtype={"seed": str})
    scores = _dataset_rows(folder / "counterfactual_scores.csv", dataset, "rows")
    head = ["noise (share of spread)", "model", "seeds", "block DCI", "root: intervened",
            "root: descendants", "root: non-desc.", "caused: intervened", "caused: non-desc.",
            "caused: image MSE ×1e3"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lv, t in table.groupby("noise_std", sort=True):
        level = f"{lv:g} ({100 * t['share'].iloc[0]:.0f}%)"
        models = [m for m in CONTROL_ORDER if m in set(t["model"])]
        models += [m for m in dict.fromkeys(t["model"]) if m not in models]
        for model, seeds, dci, root, caused in _ladder_rows(
                scores[scores["noise_std"] == lv], ident[ident["noise_std"] == lv], models):
            cells = [level, f"`{model}`", seeds, dci,
                     _cell(root["intervened"]), _cell(root["descendant"]),
                     _cell(root["non-descendant"]), _cell(caused["intervened"]),
                     _cell(caused["non-descendant"]), _cell(caused["image_mse"] * 1e3, digits=1)]
            lines.append("| " + " | ".join(cells) + " |")
    s = study_settings(folder)
    health = _dataset_rows(folder / "training_health.csv", dataset, "training runs")
    epochs = health.groupby("model")["epochs"].first()
    other = ", ".join(f"{m}: {e}" for m, e in epochs.items() if e != epochs.min())
    lines.append(f"\n*{dataset}, ICM-VAE under {s['recipe']}, {s['resolution']} px, "
                 f"{epochs.min()} epochs{f' ({other})' if other else ''}, seeds "
                 f"{_seeds(scores['seed'])}; noise in label units on "
                 f"each caused variable (share: over their noiseless spread); level 0 is the "
                 f"peers' grid, the others as many seeded random units; {s['n_units']} held-out "
                 f"units x {_interventions(scores)} interventions; ± is the standard deviation "
                 f"over seeds.*")
    return "\n".join(lines)


HEADLINE_ROWS = ("joint", "objects", "objects_30ep")  # the ladder's rows the README shows


def support_headline(folder: Path | str, _: str = "all") -> str:
    """The README's caused-variable answer from the support ladder: per dataset, on the grid and
    at the highest noise level, each decoder's caused interventions (intervened, non-descendants,
    image MSE), its root interventions' descendants and block DCI, beside doing nothing and the
    simulator (mean ± std over seeds)."""
    folder = Path(folder)
    scores = pd.read_csv(folder / "counterfactual_scores.csv")
    ident = pd.read_csv(folder / "identifiability_tidy.csv", dtype={"seed": str})
    head = ["data", "model", "seeds", "caused: intervened", "caused: non-desc.",
            "caused: image MSE ×1e3", "root: descendants", "block DCI"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in dict.fromkeys(scores["dataset"]):
        mine = scores[scores["dataset"] == d]
        for lv in sorted({min(mine["noise_std"]), max(mine["noise_std"])}):
            at = mine[mine["noise_std"] == lv]
            data = f"{d}, {'grid' if lv == 0 else f'noise {lv:g}'}"
            present = set(at["model"])
            models = [m for m in ("control:do_nothing", "control:simulator") if m in present]
            models += [m for m in dict.fromkeys(at["model"]) if m in HEADLINE_ROWS]
            cell_ident = ident[(ident["dataset"] == d) & (ident["noise_std"] == lv)]
            for model, seeds, dci, root, caused in _ladder_rows(at, cell_ident, models):
                lines.append("| " + " | ".join([
                    data, f"`{model}`", seeds,
                    _cell(caused["intervened"]), _cell(caused["non-descendant"]),
                    _cell(caused["image_mse"] * 1e3, digits=1), _cell(root["descendant"]),
                    dci]) + " |")
    s = study_settings(folder)
    lines.append(f"\n*ICM-VAE under {s['recipe']}, {s['resolution']} px, {s['epochs']} epochs "
                 f"(`objects_30ep`: twice as many), seeds {_seeds(scores['seed'])}; errors of the "
                 f"probe-read factors in label std, {s['n_units']} held-out units per "
                 f"intervention; `joint`: one decoder, `objects`: one slot per object; noise in "
                 f"label units on each caused variable (`results/support_ladder/`).*")
    return "\n".join(lines)


def mechanism_fit_table(folder: Path | str, dataset: str) -> str:
    """How much of its parents' effect each caused variable's learned mechanism carries
    (``support_ladder.mechanism_fit``: R², 1 = all of it), per noise level and row, mean ± std
    over seeds."""
    df = _dataset_rows(Path(folder) / "mechanism_fit.csv", dataset, "mechanism fits")
    variables = list(dict.fromkeys(df["variable"]))
    lines = ["| noise | model | seeds | " + " | ".join(f"{v}: R²" for v in variables) + " |",
             "|" + "---|" * (3 + len(variables))]
    for (lv, model), g in df.groupby(["noise_std", "model"], sort=True):
        cells = [_cell(g.loc[g["variable"] == v, "r2"]) for v in variables]
        lines.append(f"| {lv:g} | `{model}` | {g['seed'].nunique()} | " + " | ".join(cells)
                     + " |")
    lines.append("\n*R² of the mechanism's shift (zero noise, the parents as encoded) against "
                 "the prior's block of the simulator's noiseless value, on 500 held-out units.*")
    return "\n".join(lines)


def support_targets(folder: Path | str, dataset: str) -> str:
    """The [caused-cf] targets of the ladder (``support_ladder.target_check``): one row per
    noise level and decoder, one column per criterion, met in bold-free text, missed in bold."""
    df = _dataset_rows(Path(folder) / "targets.csv", dataset, "targets")
    criteria = list(dict.fromkeys(df["criterion"]))
    bounds = dict(zip(df["criterion"], df["target"]))
    head = ["noise", "decoder", *(f"{c} ({bounds[c]})" for c in criteria)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (lv, model), g in df.groupby(["noise_std", "model"], sort=True):
        g = g.set_index("criterion")
        cells = []
        for c in criteria:
            r = g.loc[c]
            v = mean_std(r["mean"], r["std"], 3 if "image" in c else 2) if r["std"] == r["std"] \
                else f"{r['mean']:.{3 if 'image' in c else 2}f}"
            cells.append(v if r["met"] else f"**{v}**")
        lines.append(f"| {lv:g} | `{model}` | " + " | ".join(cells) + " |")
    lines.append("\n*Mean ± std over seeds; a missed target in bold.*")
    return "\n".join(lines)


def shipped_cards(folder: Path | str, _: str = "all") -> str:
    """The shipped checkpoints' cards (``explore.pretrained``): per checkpoint, its data and
    decoder, and the counterfactual errors of interventions on roots and on caused variables
    beside doing nothing and the simulator (label std; image MSE of the caused ones)."""
    cards = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*/card.json"))]
    head = ["checkpoint", "data", "decoder", "row", "root: intervened", "root: descendants",
            "root: non-desc.", "caused: intervened", "caused: descendants", "caused: non-desc.",
            "caused: image MSE"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for card in cards:
        t = card["train"]
        data = "grid" if t["data_mode"] == "grid" else f"noise {t['noise_std']:g}, random"
        decoder = t["hparams"].get("decoder", "joint")
        shown = ("icm_vae", label(controls.DO_NOTHING), label(controls.NO_ABDUCTION),
                 label(controls.SIMULATOR))
        for i, row in enumerate(r for r in shown if r in card["counterfactual_error"]["root"]):
            root = card["counterfactual_error"]["root"][row]
            caused = card["counterfactual_error"]["non-root"][row]

            def get(d, k):
                return f"{d[k]:.2f}" if k in d else "—"
            cells = [f"`{card['name']}`" if i == 0 else "", f"{t['dataset']}, {data}" if i == 0
                     else "", decoder if i == 0 else "", f"`{row}`",
                     get(root, "intervened"), get(root, "descendant"),
                     get(root, "non-descendant"), get(caused, "intervened"),
                     get(caused, "descendant"), get(caused, "non-descendant"),
                     f"{caused['image_mse']:.3f}"]
            lines.append("| " + " | ".join(cells) + " |")
    n = {c["n_units"] for c in cards}
    lines.append(f"\n*{'/'.join(map(str, sorted(n)))} held-out units x {len(QUANTILES)} values of "
                 f"each variable, seed "
                 f"{', '.join(sorted({str(c['train']['seed']) for c in cards}))}, "
                 f"{', '.join(sorted({str(c['train']['epochs']) for c in cards}))} epochs, "
                 f"{', '.join(sorted({str(c['train']['resolution']) for c in cards}))} px; errors "
                 f"in label std (lower is better), from each card.json.*")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    """The sweep's format (health.duration), with hours from 90 min on."""
    if seconds < 5400:
        return health.duration(seconds)
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def _min_s(seconds: float) -> str:
    """A short time to the second: "48 s", "4 min 05 s"."""
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def health_report(folder: Path | str, dataset: str) -> str:
    """One row per run of ``training_health.csv`` (``python -m icm_utils.training.health``): its measured
    time and whether (and at which epoch) its reconstruction diverged for good."""
    df = _dataset_rows(Path(folder) / "training_health.csv", dataset, "training runs")
    lines = ["| model | seed | epochs | time | median s / epoch | best reconstruction (epoch) | "
             "final reconstruction | diverged at epoch |", "|" + "---|" * 8]
    for r in df.itertuples():
        div = "—" if pd.isna(r.diverged_at) else f"**{int(r.diverged_at)}**"
        lines.append(_row(r.model, [str(r.seed), str(r.epochs), _duration(r.seconds),
                                    f"{r.median_epoch_seconds:.1f}",
                                    f"{r.best_rec:.2f} ({r.best_epoch})", f"{r.final_rec:.2f}", div]))
    total = df["seconds"].sum()
    lines.append(f"\n*{len(df)} run(s), {_duration(total)} of training in all; reconstruction: "
                 f"the official per-image term; diverged: from that epoch on it stays above "
                 f"{health.FACTOR:g}x its best before.*")
    return "\n".join(lines)


def time_to_quality_table(folder: Path | str, dataset: str) -> str:
    """Quality against training epochs (``studies.time_to_quality``), mean ± std over seeds."""
    df = _dataset_rows(Path(folder) / "time_to_quality.csv", dataset, "time-to-quality rows")
    cols = ["block_dci", "own_factor_r2", "root_intervened", "root_descendants",
            "root_non_descendants"]
    head = ["epochs", "seeds", "training time", "block DCI", "own-factor R²",
            "roots: intervened", "roots: descendants", "roots: non-descendants"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e, g in df.groupby("epochs"):
        lines.append("| " + " | ".join([str(e), str(len(g)), _min_s(g["train_seconds"].median())]
                                       + [_cell(g[c]) for c in cols]) + " |")
    recipe = ", ".join(dict.fromkeys(df["recipe"]))
    lines.append(f"\n*ICM-VAE, recipe {recipe}, {dataset}, {study_settings(folder)['resolution']} "
                 f"px; each row its own "
                 f"trainings (the warm-up spans a fixed fraction of a run); errors in label std "
                 f"on held-out units; median training time at {df['s_per_epoch'].median():.1f} s "
                 f"per epoch.*")
    return "\n".join(lines)


def speed_levers(folder: Path | str, _: str = "all") -> str:
    """Seconds per epoch under each speed lever (``scripts/benchmark_training.py --levers``):
    the median over interleaved repeats, with their min and max."""
    df = pd.read_csv(Path(folder) / "speed_levers.csv")
    lines = ["| lever | s / epoch: median (min-max) | repeats | images / s | peak memory |",
             "|---|---|---|---|---|"]
    for r in df.itertuples():
        lines.append(f"| {r.lever} | {r.s_per_epoch:.1f} ({r.s_per_epoch_min:.1f}-"
                     f"{r.s_per_epoch_max:.1f}) | {r.s_per_epoch_count} | {r.images_per_s:,.0f} | "
                     f"{r.peak_MB:.0f} MB |")
    lines.append(f"\n*{df['model'].iloc[0]} under {df['recipe'].iloc[0]}, {df['dataset'].iloc[0]} "
                 f"at {df['resolution'].iloc[0]} px, batch {int(df['batch_size'].iloc[0])}, "
                 f"on {df['cpu'].iloc[0]}.*")
    return "\n".join(lines)


def speed_profile(folder: Path | str, name: str) -> str:
    """Where one training step's time goes (``scripts/profile_training.py``'s ``<name>.csv``):
    ms per step and share by part, with FLOPs per step and the fraction of the cores' peak."""
    df = pd.read_csv(Path(folder) / f"{name}.csv")
    r = df.iloc[0]
    lines = ["| part of a training step | ms per step | share |", "|---|---|---|"]
    lines += [f"| {p.part} | {p.ms_per_step:.1f} | {100 * p.share_of_step:.0f}% |"
              for p in df.itertuples() if p.part != "step"]
    step = df.loc[df["part"] == "step", "ms_per_step"].iloc[0]
    lines.append(f"| **step** | **{step:.1f}** | 100% |")
    lines.append(f"\n*{r['model']} under {r['recipe']}, {r['dataset']} at {r['resolution']} px, "
                 f"batch {r['batch_size']}, mean of {r['steps']} steps on {r['cpu']} "
                 f"({r['isa']}, {r['threads']} threads, {r['clock_GHz']:.2f} GHz as reported): "
                 f"{r['GFLOP_per_step']:.2f} GFLOP per step (torch's flop counter, forward and "
                 f"backward), {r['GFLOP_per_s']:.0f} GFLOP/s = {100 * r['fraction_of_peak']:.0f}% "
                 f"of a {r['peak_GFLOP_per_s']:.0f} GFLOP/s peak; {r['s_per_epoch']:.1f} s per "
                 "epoch at this step time.*")
    return "\n".join(lines)


def speed_convs(folder: Path | str, name: str) -> str:
    """Each convolution alone (``scripts/profile_convs.py``'s ``<name>.csv``): ms and GFLOP/s of
    its forward and backward, and the step time if every layer ran at the best rate seen."""
    df = pd.read_csv(Path(folder) / f"{name}.csv")
    r = df.iloc[0]
    lines = ["| layer | input (C x H x W) | out channels | forward: ms | GFLOP/s | "
             "backward: ms | GFLOP/s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| `{c.layer}` | {c.input} | {c.out_channels} | {c.fwd_ms:.1f} | "
              f"{c.fwd_GFLOP_per_s:.0f} | {c.bwd_ms:.1f} | {c.bwd_GFLOP_per_s:.0f} |"
              for c in df.itertuples()]
    lines.append(f"| **all** | | | {df['fwd_ms'].sum():.1f} | | {df['bwd_ms'].sum():.1f} | |")
    lines.append(f"\n*{r['model']} under {r['recipe']} at {r['resolution']} px, batch "
                 f"{r['batch_size']}, each layer alone (median of repeats) on {r['cpu']} "
                 f"({r['isa']}, {r['threads']} threads). The convolutions take "
                 f"{r['convs_ms']:.1f} ms; every layer at the best rate seen here "
                 f"({r['best_GFLOP_per_s']:.0f} GFLOP/s) would take {r['convs_ms_at_best_rate']:.1f} "
                 f"ms, and a {r['step_ms']:.1f} ms step would then take "
                 f"{r['step_ms_at_best_rate']:.1f} ms: at most {r['bound_speedup']:.2f}x.*")
    return "\n".join(lines)


def run_times(folder: Path | str, _: str = "all") -> str:
    """What a profile's run cost, notebook by notebook (``reproduce.run``'s notebook_times.csv)."""
    df = pd.read_csv(Path(folder) / "notebook_times.csv")
    cells = [f"{r.notebook} {_min_s(r.seconds)}" for r in df.itertuples()]
    speed = ""
    if (Path(folder) / "training_health.csv").exists():  # the run's own trainings, if any
        epoch = pd.read_csv(Path(folder) / "training_health.csv")["median_epoch_seconds"].median()
        speed = f", {epoch:.1f} s per training epoch"
    return (f"**{_min_s(df['seconds'].sum())}** in all ({', '.join(cells)}) on "
            f"{df['cpu'].iloc[0]}, {df['cores'].iloc[0]} cores{speed}")


def _spread_cell(r, digits: int = 2) -> str:
    """One row of a ``claims.spread`` table: mean ± std over seeds (the mean alone for one)."""
    return mean_std(r["mean"], r["std"], digits)


CLAIM_COLUMNS = ("root: descendants", "root: non-descendants", "caused: intervened",
                 "caused: descendants",
                 "caused: non-descendants", "block DCI", "seed agreement", "node MCC")


def claims_misspec(folder: Path | str, dataset: str) -> str:
    """What the graph buys on one dataset (``studies.claims``): per recipe, ICM-VAE told each
    graph kind, beside the controls, on the criteria the dataset has (mean ± std over seeds)."""
    table = _dataset_rows(Path(folder) / "misspec_summary.csv", dataset, "misspecification rows")
    cols = [c for c in CLAIM_COLUMNS if c in set(table["criterion"])]
    lines = ["| recipe (epochs) | graph told | seeds | " + " | ".join(cols) + " |",
             "|" + "---|" * (len(cols) + 3)]
    for recipe, t in table.groupby("recipe", sort=False):
        models = [m for m in _order(t["model"])
                  if m.startswith("icm_vae[") or m in (label(controls.DO_NOTHING),
                                                        label(controls.SIMULATOR),
                                                        label(controls.ORACLE))]
        for m in models:
            mine = t[t["model"] == m].set_index("criterion")
            name = m.removeprefix("icm_vae[").rstrip("]") if m.startswith("icm_vae[") else m
            seeds = "—" if controls.is_control(m) else str(int(mine["seeds"].max()))
            cells = [_spread_cell(mine.loc[c]) if c in mine.index else "—" for c in cols]
            lines.append(f"| {recipe} ({int(t['epochs'].max())}) | `{name}` | {seeds} | "
                         + " | ".join(cells) + " |")
    lines.append(f"\n*{dataset}: errors of the counterfactual factors in label std against the "
                 "TRUE graph's roles (root: an intervention on a root variable; caused: on a "
                 "caused one), block DCI on the test split, seed agreement over pairs of seeds; "
                 f"{DEFAULT_RECIPE} as the paper profile published it (`results/paper/`), "
                 f"{RECOMMENDED_RECIPE} from `results/claims/`; ± is the standard deviation over "
                 "seeds.*")
    return "\n".join(lines)


def claims_costs(folder: Path | str, dataset: str) -> str:
    """What each wrong graph costs against the true one (``claims.costs``): per recipe and graph,
    the difference on each criterion (positive: worse) and its size in standard errors; a cost
    beyond two standard errors and 0.05 in bold."""
    c = _dataset_rows(Path(folder) / "misspec_costs.csv", dataset, "costs")
    cols = [k for k in CLAIM_COLUMNS if k in set(c["criterion"])]
    lines = ["| recipe | graph told | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for (recipe, graph), t in c.groupby(["recipe", "graph"], sort=False):
        t = t.set_index("criterion")

        def cell(k, t=t):
            if k not in t.index:
                return "—"
            r = t.loc[k]
            text = f"{r['cost']:+.2f} ({r['z']:+.1f} SE)"
            return f"**{text}**" if r["reading"] == "worse" else text
        lines.append(f"| {recipe} | `{graph}` | " + " | ".join(cell(k) for k in cols) + " |")
    lines.append(f"\n*{dataset}: how much worse each wrong graph is than the true one (errors up, "
                 "DCI and agreement down: positive), and that difference in standard errors of "
                 "the difference over seeds (Welch); bold: worse by at least 2 standard errors "
                 "and 0.05.*")
    return "\n".join(lines)


def claims_theorem(folder: Path | str, _: str = "all") -> str:
    """The theorem check under both recipes (``studies.claims``): per graph and recipe, the node
    mean and worst node (mean ± std over seeds), roots' and non-roots' means, seeds meeting both
    targets."""
    per = pd.read_csv(Path(folder) / "theorem_per_node.csv")
    check = pd.read_csv(Path(folder) / "theorem_check.csv")
    lines = ["| graph | recipe | node mean | worst node | roots | non-roots | seeds meeting both |",
             "|---|---|---|---|---|---|---|"]
    order = {r: i for i, r in enumerate((DEFAULT_RECIPE, RECOMMENDED_RECIPE))}
    keys = sorted(per.groupby(["graph", "recipe"]).groups, key=lambda k: (k[0], order.get(k[1], 9)))
    for graph, recipe in keys:
        g = per[(per["graph"] == graph) & (per["recipe"] == recipe)]
        by_seed = g.groupby("seed")["corr"]
        roles = g.groupby(["role", "seed"])["corr"].mean()
        ch = check[(check["graph"] == graph) & (check["recipe"] == recipe)]
        worst = ", ".join(dict.fromkeys(ch["min_node"]))
        lines.append(f"| {graph} | {recipe} | {_cell(by_seed.mean(), 3)} | "
                     f"{_cell(by_seed.min(), 3)} ({worst}) | {_cell(roles['root'], 3)} | "
                     f"{_cell(roles['non-root'], 3)} | {int(ch['holds'].sum())}/{len(ch)} |")
    lines.append("\n*|Spearman| of each node's matched dim with its true latent on the test set, "
                 "100 epochs, seeds " + _seeds(per["seed"]) + "; targets: every node ≥ 0.95 and "
                 f"their mean ≥ 0.97. {DEFAULT_RECIPE}'s prior ties each latent to its label given "
                 f"its parents, {RECOMMENDED_RECIPE}'s to its own label only.*")
    return "\n".join(lines)


def claims_abduction(folder: Path | str, _: str = "all") -> str:
    """The noisy-shadow study under both recipes (``studies.claims``): each recipe's errors by kind
    of target and role beside doing nothing, the simulator and dropping each unit's noise."""
    t = pd.read_csv(Path(folder) / "abduction_summary.csv")
    cols = [c for c in ("root: intervened", "root: descendants", "root: non-descendants",
                        "caused: intervened", "caused: non-descendants") if c in set(t["criterion"])]
    lines = ["| model | seeds | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for m in _order(t["model"]):
        mine = t[t["model"] == m].set_index("criterion")
        seeds = "—" if controls.is_control(m) else str(int(mine["seeds"].max()))
        lines.append(f"| `{m}` | {seeds} | " + " | ".join(
            _spread_cell(mine.loc[c]) if c in mine.index else "—" for c in cols) + " |")
    s = study_settings(folder)
    lines.append(f"\n*Pendulum with mechanism noise {s['abduction_noise_std']:g} (label units) on "
                 f"each caused variable, ICM-VAE with one decoder, {s['abduction_epochs']} epochs, "
                 f"{s['resolution']} px, {s['n_units']} held-out units; errors in label std; ± is "
                 "the standard deviation over seeds.*")
    return "\n".join(lines)


def claims_table(folder: Path | str, _: str = "all") -> str:
    """The paper's claims, one row each (``studies.claims.claims_table``, ``claims.csv``)."""
    t = pd.read_csv(Path(folder) / "claims.csv")
    lines = [f"| claim of the paper | what was measured | `{DEFAULT_RECIPE}` (the paper's) | "
             f"`{RECOMMENDED_RECIPE}` (beyond the paper) | seeds | verdict |",
             "|---|---|---|---|---|---|"]
    def cell(text) -> str:  # a "|" inside a cell would end it
        return str(text).replace("|", "\\|")
    for r in t.itertuples(index=False):
        lines.append(f"| {cell(r.claim)} | {cell(r.measured)} | {cell(r.official_joint)} | "
                     f"{cell(r.beyond_paper)} | {r.seeds} | **{r.verdict}** |")
    lines.append("\n*Every cell is computed from committed tables by "
                 "`icm_utils.studies.claims.claims_table` (sources: "
                 + "; ".join(dict.fromkeys(t["tables"])) + ").*")
    return "\n".join(lines)


def claims_verdicts(folder: Path | str, _: str = "all") -> str:
    """The README's short form of ``claims_table``: each claim and its verdict."""
    t = pd.read_csv(Path(folder) / "claims.csv")
    lines = ["| claim of the paper | verdict | seeds |", "|---|---|---|"]
    lines += [f"| {r.claim} | **{r.verdict}** | {r.seeds} |" for r in t.itertuples(index=False)]
    return "\n".join(lines)


TABLES = {
    "identifiability": identifiability_table,
    "counterfactual": counterfactual_report,
    "misspec_identifiability": lambda folder, ds: identifiability_table(
        folder, ds, f"misspec_identifiability_{ds}.csv"),
    "misspec_counterfactual": lambda folder, ds: counterfactual_report(folder, ds, "misspec_counterfactual"),
    "synthetic_identifiability": lambda folder, ds: identifiability_table(
        folder, ds, "synthetic_identifiability_tidy.csv"),
    "theorem": theorem_table,
    "theorem_diagnosis": diagnosis_table,
    "collapse": collapse_table,
    "training_health": health_report,
    "causal_cf": causal_cf_table,
    "causal_cf_targets": causal_cf_targets,
    "causal_cf_headline": causal_cf_headline,
    "causal_cf_soundness": causal_cf_soundness,
    "time_to_quality": time_to_quality_table,
    "support_ladder": support_ladder_table,
    "support_headline": support_headline,
    "support_targets": support_targets,
    "mechanism_fit": mechanism_fit_table,
    "shipped": shipped_cards,
    "run_times": run_times,
    "speed_levers": speed_levers,
    "speed_profile": speed_profile,
    "speed_convs": speed_convs,
    "claims": claims_table,
    "claims_verdicts": claims_verdicts,
    "claims_misspec": claims_misspec,
    "claims_costs": claims_costs,
    "claims_theorem": claims_theorem,
    "claims_abduction": claims_abduction,
}


def render_blocks(text: str, root: Path = PROJECT_ROOT) -> str:
    """``text`` with every report block re-rendered from the folder it names."""
    def fill(m: re.Match) -> str:
        kind, folder, dataset = m.group(2), m.group(3), m.group(4)
        if kind not in TABLES:
            raise ValueError(f"unknown report block {kind!r}; expected one of {list(TABLES)}")
        return m.group(1) + TABLES[kind](root / folder, dataset) + "\n" + m.group(6)
    return BLOCK.sub(fill, text)


def stale_blocks(path: Path = README, root: Path = PROJECT_ROOT) -> list[str]:
    """The headers of the README's report blocks whose numbers differ from their tables."""
    text = path.read_text()
    fresh = render_blocks(text, root)
    old = {m.group(1): m.group(5) for m in BLOCK.finditer(text)}
    return [h.strip() for h, body in ((m.group(1), m.group(5)) for m in BLOCK.finditer(fresh))
            if old.get(h) != body]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="rewrite the documents' report blocks")
    p.add_argument("--show", nargs=2, metavar=("FOLDER", "DATASET"),
                   help="print one result folder's tables instead")
    a = p.parse_args(argv)
    if a.show:
        folder, ds = Path(a.show[0]), a.show[1]
        print(identifiability_table(folder, ds))
        if (folder / f"counterfactual_summary_{ds}.csv").exists():
            print("\n" + counterfactual_report(folder, ds))
        return 0
    if a.write:
        for doc in DOCUMENTS:
            doc.write_text(render_blocks(doc.read_text()))
            print(f"rewrote {len(BLOCK.findall(doc.read_text()))} block(s) of {doc}")
        return 0
    n_stale = 0
    for doc in DOCUMENTS:
        stale = stale_blocks(doc)
        n_stale += len(stale)
        for h in stale:
            print(f"stale: {doc.name}: {h}")
        print(f"{doc}: {len(BLOCK.findall(doc.read_text()))} block(s), {len(stale)} stale")
    return 1 if n_stale else 0


if __name__ == "__main__":
    sys.exit(main())
