"""The synthetic SCM's identifiability and counterfactual scores: vector ICM models
(``model.vector``, trained by ``training.synthetic``) scored against the exact latents."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from icm_utils.data.synthetic import SyntheticSCM
from icm_utils.evaluation.analysis import TIDY_COLUMNS, RunCodes, control_codes, score_codes
from icm_utils.evaluation.counterfactual import roles
from icm_utils.model.vector import VARIANTS, VectorICM
from icm_utils.training.synthetic import SynthConfig, SynthData, encode, make_data, train_synthetic


def synthetic_codes(scm: SyntheticSCM, variants: Sequence[str] = VARIANTS,
                    seeds: Sequence[int] = (0, 1), epochs: int = 30, **cfg_kwargs
                    ) -> tuple[list[RunCodes], list[tuple]]:
    """Train every (variant, seed) on the same data; return their test codes (model=variant)
    and a tidy row of "train_seconds" per run."""
    base = SynthConfig(epochs=epochs, **cfg_kwargs).validate()
    data = make_data(scm, base)
    codes, secs = [], []
    for v in variants:
        for s in seeds:
            cfg = dataclasses.replace(base, variant=v, seed=s).validate()
            t0 = time.perf_counter()
            model, _ = train_synthetic(scm, cfg, data)
            secs.append(("synthetic", v, str(s), "train_seconds", time.perf_counter() - t0))
            codes.append(RunCodes("synthetic", v, s, encode(model, data.x_test), data.z_test,
                                  scm.names, aligned=model.prior is not None))
    return codes, secs


def synthetic_identifiability(scm: SyntheticSCM, variants: Sequence[str] = VARIANTS,
                              seeds: Sequence[int] = (0, 1), epochs: int = 30,
                              metric_seed: int = 0,
                              control_kinds: Sequence[str] | None = None, **cfg_kwargs
                              ) -> tuple[pd.DataFrame, list[RunCodes]]:
    """Train every (variant, seed) on the same data and score the test codes against the exact
    latents. Returns a tidy DataFrame (dataset="synthetic", model=variant, seed, metric, value)
    and the models' codes. Metrics: analysis.score_codes at block level (k=1: a block is a dim,
    so MCC is dim-level MCC) with the between-seed scores per pair of seeds, plus
    "train_seconds" per run; and the same scores of the controls (analysis.control_codes on the
    same test units, model "control:<kind>", seeds 0 and 1): ``control_kinds`` None for every
    kind, () for none.
    """
    codes, secs = synthetic_codes(scm, variants, seeds, epochs, **cfg_kwargs)
    ctrl = control_codes(codes, **({} if control_kinds is None else {"kinds": control_kinds}))
    df = score_codes(codes + ctrl, level="block", seed=metric_seed, dim_metrics=())
    df = pd.concat([df, pd.DataFrame(secs, columns=TIDY_COLUMNS)], ignore_index=True)
    return df, codes


@torch.no_grad()
def counterfactual_errors(model: VectorICM, scm: SyntheticSCM, data: SynthData, name: str = "icm",
                          seed: int = 0, quantiles=(0.1, 0.5, 0.9)) -> pd.DataFrame:
    """Counterfactual factor errors on the test units, read EXACTLY: the model's counterfactual
    observation is mapped back to latents by the mixing's inverse, and compared with the SCM's
    counterfactual of the same units (their own noises: every non-root needs abduction).
    Tidy rows as counterfactual.score_counterfactual_images (roles in the TRUE graph), plus the
    controls "control:do_nothing" (the factual observation) and "control:simulator" (0 by
    construction, shown for the table's shape)."""
    g, std = scm.graph, data.z_train.std(0)
    values = np.quantile(data.z_train, quantiles, axis=0)
    x = torch.as_tensor(data.x_test, dtype=torch.float32)
    model.eval()
    rows = []
    for j, var in enumerate(g.names):
        role = roles(g, j)
        for v in values[:, j]:
            true = scm.counterfactual(data.eps_test, {var: float(v)}).latents
            x_cf = model.counterfactual(x, {var: float(v)})[0].double().numpy()
            for who, obs in ((name, x_cf), ("control:do_nothing", data.x_test),
                             ("control:simulator", scm.mixing(true))):
                err = np.abs(scm.mixing.inverse(obs) - true) / std
                rows += [{"model": who, "seed": seed, "target": var, "value": float(v),
                          "variable": w, "factor_error": float(err[:, i].mean()),
                          "role": role[i]}
                         for i, w in enumerate(g.names)]
    return pd.DataFrame(rows)
