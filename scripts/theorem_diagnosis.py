"""Which condition limits the per-node MCC of the synthetic theorem check? One ICM-VAE per
condition (6-node graph unless named, 100 epochs; seed 0, the key conditions also seeds 1-2),
each changing one thing from the default: training length, data size, label noise, prior and KL
weights, likelihood floor, network width, the mixing's depth, and the graph the model (or its
prior alone, or its flow alone) is told; beside them the supervised reference
(theorem.supervised_reference: the same encoder net, data and epochs trained by least squares on
the true latents). Writes results/theorem/diagnosis.csv (one row per condition, model, seed and
node) and prints one summary line per run.

    python scripts/theorem_diagnosis.py            # about 20 min on one core
    # run some (--only, --models, --seeds); the file's other rows are kept
    python scripts/theorem_diagnosis.py --only "8-node: mixing 1 layer" --models supervised
    python scripts/theorem_diagnosis.py --seeds 1 2 --only "6-node: default" \
        "6-node: empty graph in the prior only" "8-node: mixing 1 layer" \
        "8-node: mixing 1 layer, empty graph in the prior only"   # the key conditions, 4 min
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from icm_utils.core.paths import RESULTS_DIR
from icm_utils.studies import theorem

# (label, graph, SyntheticSCM kwargs, SynthConfig kwargs)
CONDITIONS = [
    ("default", "6-node", {}, {}),
    ("300 epochs", "6-node", {}, {"epochs": 300}),
    ("8,000 training samples", "6-node", {}, {"n_train": 8000}),
    ("label noise 0.1", "6-node", {}, {"label_noise": 0.1}),
    ("alpha = 0", "6-node", {}, {"alpha_max": 0.0}),
    ("beta x 4", "6-node", {}, {"beta_max": 4.8}),
    ("beta x 40", "6-node", {}, {"beta_max": 48.0}),
    ("likelihood std floor 0.5", "6-node", {}, {"min_sigma": 0.5}),
    ("floor 0.5 and beta x 40", "6-node", {}, {"min_sigma": 0.5, "beta_max": 48.0}),
    ("hidden 128", "6-node", {}, {"hidden": 128}),
    ("hidden 256", "6-node", {}, {"hidden": 256}),
    ("mixing 1 layer", "6-node", {"mixing_layers": 1}, {}),
    ("mixing 0 layers (linear)", "6-node", {"mixing_layers": 0}, {}),
    ("default", "8-node", {}, {}),
    ("hidden 256", "8-node", {}, {"hidden": 256}),
    ("mixing 1 layer", "8-node", {"mixing_layers": 1}, {}),
    ("mixing 1 layer, hidden 256", "8-node", {"mixing_layers": 1}, {"hidden": 256}),
    ("mixing 1 layer, 8,000 samples", "8-node", {"mixing_layers": 1}, {"n_train": 8000}),
    # the model told the empty graph: prior and flow lose their parent conditioning, so no
    # parent-dependent shift or slope can enter a node's latent (the labels still supervise)
    ("empty graph", "6-node", {}, {"graph": "empty"}),
    ("empty graph", "8-node", {}, {"graph": "empty"}),
    ("mixing 1 layer, empty graph", "8-node", {"mixing_layers": 1}, {"graph": "empty"}),
    # which of the two parent conditionings: the prior's alone, or the encoder-side flow's alone
    ("empty graph in the prior only", "6-node", {}, {"prior_graph": "empty"}),
    ("empty graph in the flow only", "6-node", {}, {"graph": "empty", "prior_graph": "true"}),
    ("mixing 1 layer, empty graph in the prior only", "8-node", {"mixing_layers": 1},
     {"prior_graph": "empty"}),
    ("mixing 1 layer, empty graph in the flow only", "8-node", {"mixing_layers": 1},
     {"graph": "empty", "prior_graph": "true"}),
    # the recommended recipe (results/claims/) and each of its ingredients taken away: its prior
    # (each block from its own label), its free flow shift, its noise-independence penalty
    *((f"independent_noise{label}", g, {}, {"recipe": "independent_noise", **kw})
      for g in ("6-node", "8-node") for label, kw in (
          ("", {}), (", prior on parents", {"prior_graph": "true"}),
          (", official flow bound", {"recipe_overrides": {"flow_bound": "sigmoid"}}),
          (", no penalty", {"recipe_overrides": {"independence": 0.0}}))),
]
# the supervised reference under the same conditions (seconds each)
SUPERVISED = [
    ("default", "6-node", {}, {}),
    ("mixing 1 layer", "6-node", {"mixing_layers": 1}, {}),
    ("default", "8-node", {}, {}),
    ("mixing 1 layer", "8-node", {"mixing_layers": 1}, {}),
    ("mixing 1 layer, hidden 256", "8-node", {"mixing_layers": 1}, {"hidden": 256}),
    ("mixing 1 layer, 8,000 samples", "8-node", {"mixing_layers": 1}, {"n_train": 8000}),
]


def run(label: str, graph: str, scm_kw: dict, cfg_kw: dict, model: str, seed: int) -> pd.DataFrame:
    kw = {"epochs": 100, **cfg_kw}
    scm = theorem.scm_for(graph, **scm_kw)
    if model == "supervised":
        per = theorem.supervised_reference(scm, seeds=[seed], label=graph, **kw)
    else:
        per, _ = theorem.per_node_mcc(scm, seeds=[seed], variants=["icm"], label=graph, **kw)
        per = per[per["model"] == "icm"]
    return per.assign(condition=label)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="training seeds (the data are the same for every seed)")
    p.add_argument("--out", default=str(RESULTS_DIR / "theorem" / "diagnosis.csv"))
    p.add_argument("--only", nargs="+", metavar="GRAPH: CONDITION",
                   help="run these conditions and keep the file's other rows")
    p.add_argument("--models", nargs="+", choices=["icm", "supervised"],
                   default=["icm", "supervised"])
    a = p.parse_args(argv)
    every = [(*c, "icm") for c in CONDITIONS] + [(*c, "supervised") for c in SUPERVISED]
    todo = [c for c in every if c[4] in a.models]
    if a.only:
        known = {f"{g}: {label}" for label, g, *_ in todo}
        unknown = set(a.only) - known
        if unknown:
            p.error(f"unknown conditions {sorted(unknown)} for models {a.models}; "
                    f"known: {sorted(known)}")
        todo = [c for c in todo if f"{c[1]}: {c[0]}" in a.only]
    keys = ["graph", "condition", "model", "seed"]
    keep = pd.DataFrame(columns=keys)
    if Path(a.out).exists():  # rows of other conditions, models or seeds are kept
        old = pd.read_csv(a.out)
        redo = {(g, label, m, seed) for label, g, _, _, m in todo for seed in a.seeds}
        keep = old[[k not in redo for k in zip(*(old[c] for c in keys))]]
    order = {(g, label, m): i for i, (label, g, _, _, m) in enumerate(every)}
    rows = [keep]
    for seed in a.seeds:
        for label, graph, scm_kw, cfg_kw, model in todo:
            t0 = time.perf_counter()
            per = run(label, graph, scm_kw, cfg_kw, model, seed)
            rows.append(per)
            print(f"[diagnosis] {graph:6s} {model:10s} seed {seed} {label:30s} min "
                  f"{per['corr'].min():.3f} ({per.loc[per['corr'].idxmin(), 'node']}) mean "
                  f"{per['corr'].mean():.3f} in {time.perf_counter() - t0:.0f} s", flush=True)
            df = pd.concat(rows)  # in the lists' order and by seed, however it was run
            rank = [(order.get(k[:3], len(order)), int(k[3])) for k in zip(*(df[c] for c in keys))]
            df = df.iloc[sorted(range(len(df)), key=rank.__getitem__)]
            df.to_csv(a.out, index=False)  # kept as it grows: an interrupted run shows what ran
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
