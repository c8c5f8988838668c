"""Train variants of one model on identical data, schedule and seeds, and compare their
identifiability scores (block DCI, IRS, MCC; mean and std over seeds).

    # the official architecture (MLP encoder, per-variable MLP decoders) against the conv nets
    python scripts/compare_variants.py --epochs 10 --variant conv --variant official:arch=official
    # does a stronger prior weight close the gap?
    python scripts/compare_variants.py --variant beta1.2 --variant beta6:beta_max=6
    # recipe ablation with counterfactual errors by role (200 held-out units x 12 interventions)
    python scripts/compare_variants.py --counterfactuals 200 --variant official \
        --variant elbo:recipe=elbo --variant joint:decoder=joint

A variant is NAME[:KEY=VALUE,...]; a KEY that is a TrainConfig field (beta_max, lr, ...) sets
it, any other KEY is a model hparam (arch, decoder, width, ...). Each variant trains into
OUT/<NAME>/ (finished runs are skipped, so a re-run only evaluates), and the tidy scores go
to OUT/results/variants.csv with the variant name in the ``model`` column.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from icm_utils.core.paths import RUNS_DIR


def parse_variant(text: str) -> tuple[str, dict, dict]:
    """'name:k=v,k2=v2' -> (name, TrainConfig overrides, hparams)."""
    from icm_utils.training.config import TrainConfig
    from icm_utils.training.params import parse_overrides

    name, _, rest = text.partition(":")
    if not name or "/" in name:
        raise ValueError(f"a variant needs a plain name before ':', got {text!r}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"hparams", "seed", "model",
                                                                    "dataset"}
    cfg, hp = {}, {}
    try:
        overrides = parse_overrides([item for item in rest.split(",") if item])
    except ValueError as e:
        raise ValueError(f"variant {name!r}: {e}") from None
    for k, v in overrides.items():
        (cfg if k in fields else hp)[k] = v
    from icm_utils.model.models import HPARAM_DEFAULTS
    from icm_utils.model.recipes import RECIPE_FIELDS

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
    p.add_argument("--counterfactuals", type=int, default=0, metavar="N_UNITS",
                   help="also score counterfactuals on N held-out units (probe-read factor error "
                        "by role, with the do-nothing and simulator controls)")
    p.add_argument("--probe-epochs", type=int, default=10)
    p.add_argument("--publish", type=Path, metavar="DIR",
                   help="also write DIR/identifiability_tidy.csv and, for flow models, "
                        "DIR/collapse.csv (the README's report blocks read them)")
    a = p.parse_args(argv)

    from icm_utils.evaluation.analysis import evaluate_runs, summary_table, wide_summary
    from icm_utils.training.config import TrainConfig
    from icm_utils.training.runs import train_run

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
    cols = ["dci_disentanglement", "own_factor_r2", "exclusivity", "dci_completeness",
            "dci_informativeness", "irs", "mcc_spearman",
            "dci_disentanglement_dim", "mcc_spearman_dim"]
    wide = wide_summary(summary_table(tidy))
    print(wide[[c for c in cols if c in wide.columns]].to_string())
    print(f"[variants] tidy scores: {a.out / 'results' / 'variants.csv'}")
    if a.publish:
        publish(plans, a.out, tidy, a.publish)
    if a.counterfactuals > 0:
        summary = score_variant_counterfactuals(plans, a.out, a.counterfactuals, a.probe_epochs)
        summary.to_csv(a.out / "results" / "counterfactuals.csv", index=False)
        print(summary.round(3).to_string(index=False))
        print(f"[variants] counterfactual errors: {a.out / 'results' / 'counterfactuals.csv'}")
    return 0


def publish(plans: dict, out: Path, tidy, dest: Path) -> None:
    """The variants' tidy scores and, for flow models, their collapse table (control rows once;
    the model column holds the variant name, as in the tidy scores)."""
    import pandas as pd

    from icm_utils.studies import collapse

    dest.mkdir(parents=True, exist_ok=True)
    tidy.to_csv(dest / "identifiability_tidy.csv", index=False)
    frames = []
    for name, cfgs in plans.items():
        if cfgs[0].model in collapse.FLOW_MODELS:
            df = collapse.collapse_table(out / name, cfgs)
            is_model = df["model"] == cfgs[0].model
            frames.append(df.assign(model=df["model"].where(~is_model, name)))
    if frames:
        df = pd.concat(frames, ignore_index=True).drop_duplicates(["dataset", "model", "seed"])
        df.to_csv(dest / "collapse.csv", index=False)
    print(f"[variants] published to {dest}", flush=True)


def score_variant_counterfactuals(plans: dict, out: Path, n_units: int, probe_epochs: int):
    """Role summary (factor error in label std: intervened, descendant, non-descendant; image
    MSE) of every variant and seed, with the do-nothing and simulator controls, on the same
    held-out units, read by one probe (``probe.fit_probe``: observational and
    interventional training images; trained once per dataset and resolution, cached in OUT)."""
    from icm_utils.evaluation import counterfactual as cf
    from icm_utils.evaluation.counterfactual_table import score_counterfactuals
    from icm_utils.evaluation.probe import cached_probe, probe_path
    from icm_utils.training.runs import load_run, load_training_data

    first = next(iter(plans.values()))[0]
    ds, _ = load_training_data(first)
    _, std = ds.label_stats()
    # observational + as many single-variable interventional images (probe.fit_probe)
    probe = cached_probe(probe_path(out, first.dataset, first.resolution, probe_epochs),
                         ds, probe_epochs)
    cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=0)
    models = [(name, cfg.seed, load_run(out / name, cfg)[0])
              for name, cfgs in plans.items() for cfg in cfgs]
    scores = score_counterfactuals(models, cfset, probe, std, ds.graph)
    scores.to_csv(out / "results" / "counterfactual_scores.csv", index=False)
    return cf.role_summary(scores)


if __name__ == "__main__":
    sys.exit(main())
