"""Train variants of one model on identical data, schedule and seeds, and compare their
identifiability scores (block DCI, IRS, MCC; mean and std over seeds).

    # the official architecture (MLP encoder, per-variable MLP decoders) against the conv nets
    python scripts/compare_variants.py --epochs 10 --variant conv --variant official:arch=official
    # does a stronger prior weight close the gap?
    python scripts/compare_variants.py --variant beta1.2 --variant beta6:beta_max=6

A variant is NAME[:KEY=VALUE,...]; a KEY that is a TrainConfig field (beta_max, lr, ...) sets
it, any other KEY is a model hparam (arch, decoder, width, ...). Each variant trains into
OUT/<NAME>/ (finished runs are skipped, so a re-run only evaluates), and the tidy scores go
to OUT/results/variants.csv with the variant name in the ``model`` column.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

from icm_utils.paths import RUNS_DIR


def parse_variant(text: str) -> tuple[str, dict, dict]:
    """'name:k=v,k2=v2' -> (name, TrainConfig overrides, hparams)."""
    from icm_utils.train import TrainConfig

    name, _, rest = text.partition(":")
    if not name or "/" in name:
        raise ValueError(f"a variant needs a plain name before ':', got {text!r}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"hparams", "seed", "model",
                                                                    "dataset"}
    cfg, hp = {}, {}
    for item in filter(None, rest.split(",")):
        if "=" not in item:
            raise ValueError(f"variant {name!r}: expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            v = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            pass  # a bare string such as official
        (cfg if k in fields else hp)[k] = v
    from icm_utils.models import HPARAM_DEFAULTS
    from icm_utils.recipes import RECIPE_FIELDS

    unknown = sorted(set(hp) - set(HPARAM_DEFAULTS) - set(RECIPE_FIELDS))
    if unknown:
        raise ValueError(f"variant {name!r}: {unknown} are neither TrainConfig fields "
                         f"{sorted(fields)}, model hparams {sorted(HPARAM_DEFAULTS)} nor recipe "
                         f"fields {list(RECIPE_FIELDS)}")
    return name, cfg, hp


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", action="append", required=True, help="NAME[:KEY=VALUE,...]")
    p.add_argument("--dataset", default="pendulum")
    p.add_argument("--model", default="icm_vae")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", type=Path, default=RUNS_DIR / "variants")
    p.add_argument("--train-only", action="store_true", help="train, skip the evaluation")
    a = p.parse_args(argv)

    from icm_utils.analysis import evaluate_runs, summary_table, wide_summary
    from icm_utils.sweep import train_run
    from icm_utils.train import TrainConfig

    try:
        variants = [parse_variant(v) for v in a.variant]
        plans = {name: [TrainConfig(dataset=a.dataset, model=a.model, epochs=a.epochs,
                                    resolution=a.resolution, seed=s, hparams=hp, **cfg).validate()
                        for s in a.seeds] for name, cfg, hp in variants}
    except (TypeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, cfgs in plans.items():
        for cfg in cfgs:
            print(f"[variants] {name} seed {cfg.seed}", flush=True)
            r = train_run(cfg, a.out / name)
            print(f"[variants] {name} seed {cfg.seed}: {r['status']}", flush=True)
    if a.train_only:
        return 0
    import pandas as pd

    tables = []
    for name, cfgs in plans.items():
        df = evaluate_runs(a.out / name, cfgs)
        tables.append(df.assign(model=name))
    tidy = pd.concat(tables, ignore_index=True)
    (a.out / "results").mkdir(parents=True, exist_ok=True)
    tidy.to_csv(a.out / "results" / "variants.csv", index=False)
    cols = ["dci_disentanglement", "dci_completeness", "dci_informativeness", "irs", "mcc_spearman",
            "dci_disentanglement_dim", "mcc_spearman_dim"]
    wide = wide_summary(summary_table(tidy))
    print(wide[[c for c in cols if c in wide.columns]].to_string())
    print(f"[variants] tidy scores: {a.out / 'results' / 'variants.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
