"""Which condition limits the per-node MCC of the synthetic theorem check? One ICM-VAE per
condition (6-node graph unless named, seed 0, 100 epochs), each changing one thing from the
default: training length, data size, label noise, prior and KL weights, likelihood floor, network
width, and the mixing's depth. Writes results/theorem/diagnosis.csv (one row per condition and
node) and prints one summary line per condition.

    python scripts/theorem_diagnosis.py            # about 15 min on one core
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from icm_utils import theorem
from icm_utils.paths import RESULTS_DIR

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
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS_DIR / "theorem" / "diagnosis.csv"))
    a = p.parse_args(argv)
    rows = []
    for label, graph, scm_kw, cfg_kw in CONDITIONS:
        t0 = time.perf_counter()
        kw = {"epochs": 100, **cfg_kw}
        per, _ = theorem.per_node_mcc(theorem.scm_for(graph, **scm_kw), seeds=[a.seed],
                                      variants=["icm"], **kw)
        per = per[per["model"] == "icm"].assign(condition=label)
        rows.append(per)
        print(f"[diagnosis] {graph:6s} {label:26s} min {per['corr'].min():.3f} "
              f"({per.loc[per['corr'].idxmin(), 'node']}) mean {per['corr'].mean():.3f} "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)
        pd.concat(rows).to_csv(a.out, index=False)  # kept as it grows: an interrupted run shows what ran
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
