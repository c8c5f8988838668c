"""Latent collapse of flow models: how much of the abducted noise eps still carries the image.

The official objective's alpha term is 0.5 ||eps||^2 - log|det dz/deps| with eps the encoder's
mean (never sampled). Shrinking eps lowers the first part, and the flow can undo the shrinking by
a steeper slope, which the second part *rewards*. The official affine flow caps every slope at e
(s in (0, 1)), so the reward saturates at a mean log-slope of 1 per dim. A spline's slope is
bounded only by its bin ratios: eps can shrink until a dim's variation is lost to the encoder's
precision and the dim carries no factor ("dead"), up to the whole code being constant.

``collapse_scores`` measures that per run: the mean log-slope per dim (the log-det's share), the
spread of eps and z, the dims of eps that no factor explains (held-out R^2 from all factors
together below ``identifiability.MIN_EXPLAINED``, the threshold exclusivity uses) and the block
of eps that its own factor explains least.

    python -m icm_utils.studies.collapse RUN_FOLDER --datasets pendulum flow --out results/paper
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from icm_utils.data.images import float_images
from icm_utils.evaluation import controls
from icm_utils.evaluation.identifiability import MIN_EXPLAINED, block_scores, heldout_r2, rank_gauss
from icm_utils.training.runs import data_key, finished_configs, load_run, load_training_data

COLLAPSE_COLUMNS = ["dataset", "model", "seed", "log_slope", "eps_sd", "z_sd", "dead_dims", "dims",
           "weakest", "weakest_own_r2"]
FLOW_MODELS = ("icm_vae", "icm_vae_spline")  # the flow models; others have no log-det term


def dead_dims(z, factors, *, seed: int = 0) -> np.ndarray:
    """(D,) bool: dims of the code that no factor explains (held-out R^2 from all factors
    together < MIN_EXPLAINED; constant dims are dead). z: (N, ...) codes, factors (N, F)."""
    z = np.asarray(z, float).reshape(len(z), -1)
    r2 = heldout_r2(rank_gauss(factors), rank_gauss(z), seed=seed)
    return np.nan_to_num(r2, nan=0.0) < MIN_EXPLAINED


def code_scores(code, factors, names: Sequence[str] | None = None, *, seed: int = 0) -> dict:
    """Dead dims of a (N, n, k) code and the factor whose own block it explains least
    (held-out R^2; block i is variable i's, as the prior ties them)."""
    code = np.asarray(code, float)
    dead = dead_dims(code, factors, seed=seed)
    own = block_scores(code, factors, block_of=np.arange(code.shape[1]), seed=seed).own_r2
    names = list(names) if names is not None else [str(i) for i in range(len(own))]
    return {"dead_dims": int(dead.sum()), "dims": int(dead.size),
            "weakest": names[int(own.argmin())], "weakest_own_r2": float(own.min())}


@torch.no_grad()
def collapse_scores(model, x: torch.Tensor, factors, names: Sequence[str] | None = None, *,
                    seed: int = 0) -> dict:
    """Per-run collapse scores of a flow model on images x (B, 3, R, R) in [0, 1]: mean
    log-slope per dim, mean sd of eps and z, and ``code_scores`` of eps."""
    model.eval()
    eps = model.abduct(x)
    z, logdet = model.mechanism(eps)
    return {"log_slope": float(logdet.mean()) / eps[0].numel(),
            "eps_sd": float(eps.std(0).mean()), "z_sd": float(z.std(0).mean()),
            **code_scores(eps.numpy(), factors, names, seed=seed)}


def control_rows(dataset: str, factors, names: Sequence[str], k: int) -> list[dict]:
    """The same code scores for the oracle, the linear null and a constant (fully collapsed)
    code of the same units; the flow columns stay empty."""
    codes = {f"{controls.PREFIX}{kind}": controls.ControlCode(kind, k)(factors)
             for kind in (controls.ORACLE, controls.NULL_LINEAR)}
    codes[f"{controls.PREFIX}constant"] = np.zeros((len(factors), len(names), k))
    return [{"dataset": dataset, "model": m, "seed": 0, **code_scores(c, factors, names)}
            for m, c in codes.items()]


def run_configs(root: Path | str, datasets: Sequence[str], models: Sequence[str] = FLOW_MODELS):
    """The finished plain runs' configs (``runs.run_tags``: true graph, grid data) of these
    datasets and models under ``root``, in that order, then by seed."""
    cfgs = [c for c in finished_configs(root, plain=True)
            if c.dataset in datasets and c.model in models]
    return sorted(cfgs, key=lambda c: (list(datasets).index(c.dataset),
                                       list(models).index(c.model), c.seed))


def collapse_table(root: Path | str, cfgs, split: str = "test") -> pd.DataFrame:
    """One row per run (COLLAPSE_COLUMNS): collapse scores on ``split`` of its dataset, after the
    control rows of each dataset."""
    rows, cache = [], {}
    for cfg in cfgs:
        key = data_key(cfg)
        fresh = key not in cache
        if fresh:
            cache[key] = load_training_data(cfg)[0]
        ds = cache[key]
        idx = ds.indices(split)
        if fresh:  # the controls once per dataset, on the same units
            rows += control_rows(cfg.dataset, ds.labels[idx].astype(float), ds.names, cfg.k)
        model, _ = load_run(root, cfg)
        x = float_images(ds.images[idx])
        s = collapse_scores(model, x, ds.labels[idx].astype(float), ds.names)
        rows.append({"dataset": cfg.dataset, "model": cfg.model, "seed": cfg.seed, **s})
    return pd.DataFrame(rows, columns=COLLAPSE_COLUMNS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.studies.collapse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, help="a profile's run folder (holds models/)")
    p.add_argument("--datasets", nargs="+", default=["pendulum", "flow"])
    p.add_argument("--models", nargs="+", default=list(FLOW_MODELS))
    p.add_argument("--out", type=Path, help="write collapse.csv there (default: print only)")
    a = p.parse_args(argv)
    if not (a.root / "models").is_dir():
        p.error(f"{a.root} has no models/ folder; pass a profile's run folder")
    cfgs = run_configs(a.root, a.datasets, a.models)
    if not cfgs:
        p.error(f"no finished runs of {a.models} on {a.datasets} under {a.root}")
    df = collapse_table(a.root, cfgs)
    print(df.to_string(index=False, float_format="%.3f", na_rep=""))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        df.to_csv(a.out / "collapse.csv", index=False)
        print(f"wrote {a.out / 'collapse.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
