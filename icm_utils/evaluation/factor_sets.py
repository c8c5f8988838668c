"""How each block is identified: held-out R^2 of a factor's block from sets of true factors
(own, own + parents, own + ancestors, all), which separates elementwise identification from
identification up to the causal order."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict

from icm_utils.evaluation.codes import RunCodes, blocks_of, first_seed

FACTOR_SETS = ("own", "own+parents", "own+ancestors", "all")


def explained_by_factor_sets(rc: RunCodes, graph, block_of: Sequence[int] | None = None,
                             seed: int = 0, n_estimators: int = 50) -> pd.DataFrame:
    """Held-out R^2 of each factor's block predicted from sets of true factors (2-fold CV,
    gradient-boosted trees; variance-weighted over a block's k dims).

    Tells *how* a block is identified: R^2 from "own" near R^2 from "all" means the block is a
    function of its own factor (elementwise identifiability); a gap closed by "own+ancestors"
    means the block mixes its factor with its causes (identified up to a reparameterisation
    that respects the causal order). ``block_of[i]``: the block of factor i (default i, the
    supervised models' layout). Returns (factor, set, r2) rows.
    """
    n = rc.factors.shape[1]
    block_of = list(range(n)) if block_of is None else list(block_of)
    if graph.n != n or len(block_of) != n:
        raise ValueError(f"graph ({graph.n} nodes), factors ({n}) and block_of "
                         f"({len(block_of)}) must agree")
    cv = KFold(2, shuffle=True, random_state=seed)
    rows = []
    for i in range(n):
        sets = {"own": [i], "own+parents": [i, *graph.parents(i)],
                "own+ancestors": [i, *sorted(graph.ancestors(i))], "all": list(range(n))}
        y = rc.codes[:, block_of[i]].reshape(len(rc.codes), -1)
        var = y.var(0)
        for name in FACTOR_SETS:
            x = rc.factors[:, sets[name]]
            r2 = []
            for d in range(y.shape[1]):
                pred = cross_val_predict(GradientBoostingRegressor(
                    n_estimators=n_estimators, max_depth=3, random_state=seed), x, y[:, d], cv=cv)
                r2.append(1 - np.mean((y[:, d] - pred) ** 2) / var[d] if var[d] > 0 else 0.0)
            rows.append((rc.names[i], name, float(np.average(r2, weights=var + 1e-300))))
    return pd.DataFrame(rows, columns=["factor", "set", "r2"])


def factor_set_table(run_codes: Sequence[RunCodes], graph, seed: int = 0,
                     first_seed_only: bool = True) -> pd.DataFrame:
    """``explained_by_factor_sets`` for each run, with dataset, model, seed, block and the
    factor's role ("root" or "non-root") columns. Factor i's block: block i for aligned runs
    (the prior's block of variable i), else the one Hungarian matching gives (as in MCC)."""
    runs = first_seed(run_codes) if first_seed_only else list(run_codes)
    roots = {graph.names[i] for i in graph.roots()}
    out = []
    for rc in runs:
        block_of = blocks_of(rc)
        t = explained_by_factor_sets(rc, graph, block_of=block_of, seed=seed)
        t.insert(1, "block", np.repeat(block_of, len(FACTOR_SETS)))
        t.insert(0, "seed", str(rc.seed))
        t.insert(0, "model", rc.model)
        t.insert(0, "dataset", rc.dataset)
        t["role"] = np.where(t["factor"].isin(roots), "root", "non-root")
        out.append(t)
    return pd.concat(out, ignore_index=True)


def identification_pattern(table: pd.DataFrame) -> pd.DataFrame:
    """Mean R^2 per (model, role) and factor set, from ``factor_set_table``."""
    wide = table.pivot_table(index=["model", "role"], columns="set", values="r2", aggfunc="mean")
    return wide[[c for c in FACTOR_SETS if c in wide.columns]].rename_axis(columns=None)


def plot_factor_sets(table: pd.DataFrame):
    """Bars of held-out R^2 per factor and factor set, one panel per model; returns fig."""
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.2), squeeze=False,
                             sharey=True)
    for ax, m in zip(axes[0], models, strict=True):
        sns.barplot(data=table[table["model"] == m], x="factor", y="r2", hue="set",
                    hue_order=list(FACTOR_SETS), ax=ax)
        ax.set_title(f"{m}: each factor's block predicted from true factors", fontsize=9)
        ax.set_ylim(min(0.0, table["r2"].min()), 1.05)
        ax.set_ylabel("held-out R²")
        if ax is not axes[0, -1] and ax.get_legend():
            ax.get_legend().remove()
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1, 1), fontsize=7)
    fig.tight_layout()
    return fig
