"""Graph misspecification: train ICM-VAE with a wrong causal graph and see what the graph buys.

ICM-VAE is told the causal graph. ``misspecify(graph, kind)`` gives the graph a run is trained
with, from the true one:
  - ``true``: the graph itself;
  - ``reversed``: the first listed edge whose reversal leaves a DAG, reversed;
  - ``dropped``: the first listed edge removed;
  - ``empty``: no edges (every variable a root: the prior is a per-variable label prior);
  - ``complete``: every pair of variables joined along the true graph's topological order (a
    supergraph of the truth: the model may use any edge, the prior forbids none).
Runs select one with ``TrainConfig(graph=kind)`` (image models) or ``SynthConfig(graph=kind)``
(the synthetic SCM); scoring always uses the TRUE graph (roles of variables, allowed movement).
"""
from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from icm_utils.data.graph import GRAPH_KINDS
from icm_utils.evaluation import controls
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.analysis import control_codes, encode_runs, per_factor_mcc, score_codes
from icm_utils.evaluation.codes import RunCodes
from icm_utils.evaluation.counterfactual_table import score_counterfactuals
from icm_utils.studies.synthetic_model import counterfactual_errors
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import load_run
from icm_utils.training.synthetic import SynthConfig, encode, make_data, train_synthetic


# ---------------------------------------------------------------- the studies
def image_configs(dataset: str, kinds=GRAPH_KINDS, seeds=(0,), **train):
    """One ICM-VAE TrainConfig per (graph kind, seed); ``train``: other TrainConfig fields."""
    return [TrainConfig(dataset=dataset, model="icm_vae", graph=k, seed=s, **train).validate()
            for k in kinds for s in seeds]


def run_name(kind: str) -> str:
    return f"icm_vae[{kind}]"


def image_study(root, cfgs, ds, probe, cfset, seed: int = 0):
    """Finished runs of ``image_configs`` scored against the TRUE graph: (identifiability tidy
    table with the control rows, counterfactual tidy rows with the do-nothing and simulator
    rows). Models are named ``icm_vae[<kind>]``."""
    codes = encode_runs(root, cfgs, name=lambda c: run_name(c.graph))
    ident = score_codes(codes + control_codes(codes), dim_metrics=(), seed=seed)
    _, std = ds.label_stats()
    models = [(run_name(c.graph), c.seed, load_run(root, c)[0]) for c in cfgs]
    return ident, score_counterfactuals(models, cfset, probe, std, ds.graph)


def synthetic_study(scm, kinds=GRAPH_KINDS, seeds=(0, 1, 2), epochs: int = 100,
                    metric_seed: int = 0, **cfg_kwargs):
    """ICM-VAE on the synthetic SCM told each graph kind: (per-node MCC table, tidy scores,
    counterfactual tidy rows; graph kind in column "graph", model ``icm_vae[<kind>]``).
    Counterfactuals are read exactly through the mixing's inverse
    (synthetic_model.counterfactual_errors)."""
    base = SynthConfig(epochs=epochs, **cfg_kwargs).validate()
    data = make_data(scm, base)
    codes, cf_rows = [], []
    for kind in kinds:
        for s in seeds:
            cfg = dataclasses.replace(base, graph=kind, seed=s).validate()
            model, _ = train_synthetic(scm, cfg, data)
            codes.append(RunCodes("synthetic", run_name(kind), s, encode(model, data.x_test),
                                  data.z_test, scm.names, aligned=True))
            rows = counterfactual_errors(model, scm, data, run_name(kind), s)
            keep = rows["model"] == run_name(kind) if cf_rows else slice(None)
            cf_rows.append(rows[keep])  # the controls once
    scores = score_codes(codes + control_codes(codes), dim_metrics=(), seed=metric_seed)
    per = per_factor_mcc(codes, method="spearman")
    per["graph"] = per["model"].str.slice(len("icm_vae["), -1)
    return per, scores, pd.concat(cf_rows, ignore_index=True)


def summary(ident, cf_rows, per=None):
    """One row per model (graph kinds, then controls): the DISCRIMINATIVE identifiability
    metrics (controls.control_gaps on ``ident``), mean over seeds; counterfactual factor error
    by role (roles of the true graph); with ``per``, per-node MCC mean and worst node."""
    gaps = controls.control_gaps(ident)
    disc = [m for m in gaps.loc[gaps["discriminative"], "metric"] if m in set(ident["metric"])]
    # per-run metrics average over seeds, between-seed ones over pairs of seeds
    one = ident[ident["metric"].isin(disc)]
    out = one.pivot_table(index="model", columns="metric", values="value", sort=False)
    out = out[[m for m in disc if m in out.columns]]
    roles = cf_rows.pivot_table(index="model", columns="role", values="factor_error",
                                sort=False)
    out = out.join(roles[[r for r in cf.COUNTERFACTUAL_ROLES if r in roles]], how="outer")
    if per is not None:
        seeds = per.groupby(["model", "seed"])["corr"]
        out = out.join(pd.DataFrame({"node_mcc_mean": seeds.mean().groupby("model").mean(),
                                     "node_mcc_min": seeds.min().groupby("model").min()}))
    order = [run_name(k) for k in GRAPH_KINDS if run_name(k) in out.index]
    return out.reindex(order + sorted(set(out.index) - set(order)))


def plot_counterfactual_error(cf_rows: pd.DataFrame, dataset: str):
    """Counterfactual error by role of the true graph, one bar per graph told (and control),
    mean ± sd over seeds of each seed's mean; the legend beside the axes, off the bars."""
    runs = cf_rows[cf_rows["model"].str.startswith(("icm_vae[", "control:"))]
    per_seed = runs.groupby(["model", "seed", "role"], as_index=False)["factor_error"].mean()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(data=per_seed, x="role", y="factor_error", hue="model",
                order=list(cf.COUNTERFACTUAL_ROLES), errorbar="sd", ax=ax)
    ax.set_ylabel("|probe(model cf) - true cf|\n(label std; bars: mean ± sd over seeds)")
    ax.set_xlabel("role in the true graph")
    ax.set_title(f"{dataset}: counterfactual error by role of the TRUE graph, per graph told")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig


def reading(table, name: str, same: float = 0.05) -> str:
    """Markdown: each wrong graph's row of ``summary`` against the true graph's, per column
    (identifiability and per-node MCC: higher is better; intervened and descendant errors:
    lower is better; the non-discriminative non-descendant error is left out)."""
    if run_name("true") not in table.index:
        return f"**{name}**: no run with the true graph to compare with."
    ref = table.loc[run_name("true")]
    lower = {"intervened", "descendant"}
    cols = [c for c in table.columns if c != "non-descendant" and ref.notna()[c]]
    lines = [f"**{name}** (true graph: " + ", ".join(f"{c} {ref[c]:.2f}" for c in cols) + ")"]
    for kind in GRAPH_KINDS[1:]:
        if run_name(kind) not in table.index:
            continue
        row, parts = table.loc[run_name(kind)], []
        for c in cols:
            d = (ref[c] - row[c]) if c in lower else (row[c] - ref[c])  # > 0: better
            verdict = "same" if abs(d) < same else ("better" if d > 0 else "worse")
            parts.append(f"{c} {row[c]:.2f} ({verdict})" if verdict == "same" else
                         f"{c} {row[c]:.2f} (**{verdict}** by {abs(d):.2f})")
        lines.append(f"- `{kind}`: " + "; ".join(parts))
    return "\n".join(lines)
