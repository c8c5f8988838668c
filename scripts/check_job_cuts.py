"""What the main job's cuts change, measured: notebook 05's probe taken from the shipped one.

    python scripts/check_job_cuts.py --run-dir RUN_DIR    # a folder where the quick job ran

Fits the probe as notebook 05 does (``fit_probe`` on the whole Pendulum training split, 10
epochs, seed 0), loads the shipped probe that ``pretrained.probe_for`` would use instead, and
scores the folder's finished runs with each: the counterfactual error by role (notebook 05's
table) and the probe's own error on real test images. Writes results/speed/cuts_probe.csv (one row
per model, role and probe, with the seconds the fit took) and prints the largest difference.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from icm_utils.core.paths import PROJECT_ROOT
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.counterfactual_table import score_counterfactuals
from icm_utils.evaluation.probe import fit_probe
from icm_utils.explore import pretrained
from icm_utils.training.runs import finished_configs, load_run, load_training_data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--n-units", type=int, default=200, help="notebook 05's N_UNITS (quick)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "speed" / "cuts_probe.csv")
    a = p.parse_args(argv)
    cfgs = [c for c in finished_configs(a.run_dir) if c.dataset == "pendulum"]
    if not cfgs:
        raise SystemExit(f"no finished Pendulum runs under {a.run_dir}")
    ds = load_training_data(cfgs[0])[0]
    _, std = ds.label_stats()
    t0 = time.perf_counter()
    fitted = fit_probe(ds, epochs=pretrained.PROBE_EPOCHS, seed=0)
    fit_s = time.perf_counter() - t0
    shipped, name = pretrained.shipped_probe(ds, pretrained.PROBE_EPOCHS, seed=0)
    if shipped is None:
        raise SystemExit("no shipped probe matches these data: nothing to compare")
    same = all(torch.equal(x, y) for x, y in zip(fitted.state_dict().values(),
                                                shipped.state_dict().values()))
    models = {(c.model, c.seed): load_run(a.run_dir, c)[0] for c in cfgs}
    cfset = cf.counterfactual_set(ds, n_units=a.n_units, seed=0)
    rows = []
    for label, probe in (("fitted", fitted), ("shipped", shipped)):
        summary = cf.role_summary(score_counterfactuals(models, cfset, probe, std, ds.graph))
        own = cf.probe_error(probe, ds.images[ds.test_idx], ds.labels[ds.test_idx], std,
                             ds.graph.names)
        for _, r in summary.iterrows():
            for role in cf.COUNTERFACTUAL_ROLES:
                rows.append({"model": r["model"], "role": role, "probe": label,
                             "factor_error": float(r[role])})
        rows.append({"model": "probe itself", "role": "test images", "probe": label,
                     "factor_error": float(own.mean())})
    table = pd.DataFrame(rows).pivot_table(index=["model", "role"], columns="probe",
                                           values="factor_error", sort=False).reset_index()
    table["difference"] = table["shipped"] - table["fitted"]
    table = table.assign(shipped_from=f"pretrained/{name}/probe.pt", identical_weights=same,
                         fit_seconds=round(fit_s, 1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out, index=False)
    print(table.round(4).to_string(index=False))
    print(f"weights identical: {same}; largest |difference| "
          f"{table['difference'].abs().max():.4f} label std; fit took {fit_s:.0f} s -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
