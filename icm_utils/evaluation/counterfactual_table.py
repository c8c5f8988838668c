"""The counterfactual evaluation chain in one call: every model's counterfactuals on the same
held-out units, read by one probe, beside the do-nothing and simulator controls, summarised by
role; and the verdict of a model against those controls."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from icm_utils.evaluation.controls import (
    DO_NOTHING,
    MIN_GAP,
    SIMULATOR,
    counterfactual_controls,
    counterfactual_gaps,
    label,
)
from icm_utils.evaluation.counterfactual import (
    COUNTERFACTUAL_ROLES,
    SOUNDNESS_COLUMNS,
    CounterfactualSet,
    evaluate_counterfactuals,
    intervened_on,
    probe_shift,
    soundness,
)
from icm_utils.evaluation.probe import Probe

Models = Mapping[tuple[str, int], object] | Iterable[tuple[str, int, object]]


def _runs(models: Models) -> list[tuple[str, int, object]]:
    if isinstance(models, Mapping):
        return [(name, seed, m) for (name, seed), m in models.items()]
    return list(models)


def score_counterfactuals(models: Models, cfset: CounterfactualSet, probe: Probe, label_std,
                          graph, scm=None) -> pd.DataFrame:
    """Tidy rows (``counterfactual.score_counterfactual_images``' columns) of every model and of
    the controls on the same held-out units, read by one probe, roles taken from ``graph`` (the
    TRUE graph, also for a model told another one). ``models``: {(name, seed): model} or
    (name, seed, model) triples. Controls: do-nothing and simulator; with the ``scm`` of data
    with mechanism noise, also no-abduction (``controls.counterfactual_controls``)."""
    rows = [evaluate_counterfactuals(m, cfset, probe, label_std, name, seed, graph=graph)
            for name, seed, m in _runs(models)]
    rows.append(counterfactual_controls(cfset, probe, label_std, graph, scm=scm))
    return pd.concat(rows, ignore_index=True)


def descendant_shift(models: Models, cfset: CounterfactualSet, probe: Probe, label_std,
                     graph) -> pd.DataFrame:
    """Where the descendants' true values are not known (``cfset.cf_labels`` NaN there): how far
    every model moves each variable, read by the probe (``counterfactual.probe_shift``), mean by
    model and role; shown beside the scores, not scored. Empty where the truth is known (the
    descendants are scored against it)."""
    if not any(np.isnan(lab).any() for lab in cfset.cf_labels):
        return pd.DataFrame(columns=["model", *COUNTERFACTUAL_ROLES])
    rows = pd.concat([probe_shift(m, cfset, probe, label_std, graph, name, seed)
                      for name, seed, m in _runs(models)], ignore_index=True)
    return rows.pivot_table(index="model", columns="role", values="probe_shift").reset_index()


def score_soundness(models: Models, cfset: CounterfactualSet, graph,
                    n_units: int | None = None) -> pd.DataFrame:
    """``counterfactual.soundness`` rows of every model (composition, reversibility: image MSE to
    the model's reconstruction). The do-nothing and simulator controls score 0 on every column
    by construction (they return the factual image, or the simulator's exact render): rows of
    zeros, shown so that soundness is never read without effectiveness (doing nothing is sound).
    ``n_units``: score the first units only (each unit costs 7 passes per target)."""
    cfset = cfset.head(n_units) if n_units else cfset
    rows = [soundness(m, cfset, name, seed, graph=graph) for name, seed, m in _runs(models)]
    for kind in (DO_NOTHING, SIMULATOR) if cfset.has_true_images else (DO_NOTHING,):
        rows.append(pd.DataFrame([
            {"model": label(kind), "seed": 0, "target": t, "value": v,
             "intervened_on": intervened_on(graph, t), **dict.fromkeys(SOUNDNESS_COLUMNS, 0.0)}
            for t, v in cfset.targets]))
    return pd.concat(rows, ignore_index=True)


def check_target(summary: pd.DataFrame, probe_err: float, model: str = "icm_vae",
                 baseline: str = "beta_vae", min_gap: float = MIN_GAP) -> dict:
    """The workbook's counterfactual target, from the role summary (means over seeds), judged
    only on roles where the controls are apart (``controls.counterfactual_gaps``): a criterion
    on a role that doing nothing passes about as well as the simulator reads "not
    discriminative", and "no controls" when the summary lacks the control rows. For each
    discriminative role, ``<role>_error_removed`` places the model between doing nothing (0)
    and the simulator's true counterfactual (1)."""
    gaps = counterfactual_gaps(summary, min_gap).set_index("metric")["discriminative"]

    def unusable(role: str) -> str | None:
        if role not in gaps.index:
            return "no controls"
        return None if gaps[role] else "not discriminative"

    mean = summary.groupby("model")[list(COUNTERFACTUAL_ROLES)].mean()
    out = {}
    if model in mean.index and baseline in mean.index:
        out["descendant_ratio"] = float(mean.loc[model, "descendant"] / mean.loc[baseline, "descendant"])
        out["descendants_at_most_a_third"] = (unusable("descendant")
                                              or out["descendant_ratio"] <= 1 / 3)
    if model in mean.index:
        out["non_descendant_error"] = float(mean.loc[model, "non-descendant"])
        out["probe_error"] = float(probe_err)
        out["non_descendants_within_probe_error"] = (unusable("non-descendant")
                                                     or out["non_descendant_error"] <= probe_err)
        for role in COUNTERFACTUAL_ROLES:
            if unusable(role) is None:
                nothing = mean.loc[label(DO_NOTHING), role]
                sim = mean.loc[label(SIMULATOR), role]
                out[f"{role}_error_removed"] = float((nothing - mean.loc[model, role])
                                                     / (nothing - sim))
    return out
