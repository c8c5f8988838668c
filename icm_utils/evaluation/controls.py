"""Controls for every published score: what a perfect code and an entangled code score.

A score says something about disentanglement only if the oracle (the true factors, each in its
own block) and an entangled null (every block a random invertible mix of all factors) land far
apart on it. The controls here are codes (and counterfactual images) built from the ground
truth of the very units the models are scored on; they go through the same scoring functions
and tidy tables, under model names starting with ``control:`` so that no comparison can take
one for a baseline.

* ``oracle``: block i = k fixed, different, strictly monotone functions of factor i.
* ``null_linear``: block j = f W_j, W_j a random (F, k) Gaussian matrix (invertible when
  k >= F; for k < F the blocks together are one invertible mix).
* ``null_nonlinear``: block j = w(w(f A_j) B_j), w a random strictly increasing elementwise
  warp x + a tanh(b x + c); A_j, B_j random Gaussian: invertible for k >= F.
* ``partial``: the oracle with its first block replaced by the linear null's (one of n blocks
  entangled), for reading model scores between the two.

Rule (``control_gaps``): a metric is *discriminative* on a dataset when the oracle beats the
best null by at least ``MIN_GAP`` in the metric's own units (oracle - max(null) for scores,
min(null) - oracle for errors); only discriminative metrics feed a verdict.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from icm_utils.evaluation.counterfactual import (
    COUNTERFACTUAL_ROLES,
    allowed_movement,
    movement_from_codes,
    robustness_score,
    score_counterfactual_images,
)

PREFIX = "control:"
ORACLE, NULL_LINEAR, NULL_NONLINEAR, PARTIAL = "oracle", "null_linear", "null_nonlinear", "partial"
KINDS = (ORACLE, NULL_LINEAR, NULL_NONLINEAR, PARTIAL)
NULLS = (NULL_LINEAR, NULL_NONLINEAR)
SEEDS = (0, 1)  # two seeds of each control, so between-seed scores have one pair
MIN_GAP = 0.3
# counterfactual controls: the factual image returned unchanged / the simulator's true image
DO_NOTHING, SIMULATOR, NO_ABDUCTION = "do_nothing", "simulator", "no_abduction"


def label(kind: str) -> str:
    """The model name a control's rows carry, e.g. "control:oracle"."""
    return PREFIX + kind


def is_control(model) -> bool:
    return isinstance(model, str) and model.startswith(PREFIX)


# ---------------------------------------------------------------- control codes
def _warp(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strictly increasing elementwise map: derivative 1 + a b sech^2(.) > 0."""
    a = rng.uniform(0.5, 1.5, x.shape[1])
    b = rng.uniform(1.0, 3.0, x.shape[1])
    return x + a * np.tanh(b * x + rng.normal(size=x.shape[1]))


@dataclass(frozen=True)
class ControlCode:
    """A fixed map from factors (N, F) to a code (N, F blocks, k): the same parameters (drawn
    from ``seed``) on every call, so factual and counterfactual labels go through one map."""

    kind: str
    k: int
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")

    def __call__(self, factors, ref=None) -> np.ndarray:
        """Code of ``factors``, standardised with the statistics of ``ref`` (default: factors)."""
        f = np.asarray(factors, dtype=float)
        ref = f if ref is None else np.asarray(ref, dtype=float)
        sd = ref.std(axis=0)
        x = (f - ref.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        if self.kind == ORACLE:
            return self._oracle(x)
        if self.kind == PARTIAL:
            z = self._oracle(x)
            z[:, 0] = self._entangled(x, nonlinear=False)[:, 0]  # the linear null's block 0
            return z
        return self._entangled(x, self.kind == NULL_NONLINEAR)

    def _oracle(self, x: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 0])
        n, nf = x.shape
        z = np.empty((n, nf, self.k))
        for i in range(nf):
            for d in range(self.k):  # k different monotone functions of the same factor
                a, b, c = rng.uniform(0.5, 2.0), rng.uniform(0.0, 1.5), rng.uniform(0.5, 2.0)
                sign = rng.choice([-1.0, 1.0])
                z[:, i, d] = sign * (a * x[:, i] + b * np.tanh(c * x[:, i] + rng.normal()))
        return z

    def _entangled(self, x: np.ndarray, nonlinear: bool) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1 + nonlinear])
        nf = x.shape[1]
        if not nonlinear:
            return np.stack([x @ rng.normal(size=(nf, self.k)) for _ in range(nf)], axis=1)
        m = max(nf, self.k)
        blocks = []
        for _ in range(nf):
            h = _warp(x @ rng.normal(size=(nf, m)) / np.sqrt(nf), rng)
            blocks.append(_warp(h @ rng.normal(size=(m, self.k)) / np.sqrt(m), rng))
        return np.stack(blocks, axis=1)


def mixing_series(factors, k: int, amounts: Sequence[float], seed: int = 0,
                  n_mixed: int = 1) -> list[np.ndarray]:
    """Hand-built partial cases: the oracle with its first ``n_mixed`` blocks moved a fraction
    ``amount`` of the way to the linear null's (rescaled to the oracle's per-dim mean and std):
    amount 0 is the oracle, 1 has ``n_mixed`` fully entangled blocks."""
    zo = ControlCode(ORACLE, k, seed)(factors)[:, :n_mixed]
    zn = ControlCode(NULL_LINEAR, k, seed)(factors)[:, :n_mixed]
    zn = (zn - zn.mean(0)) / zn.std(0).clip(1e-12) * zo.std(0) + zo.mean(0)
    out = []
    for t in amounts:
        z = ControlCode(ORACLE, k, seed)(factors)
        z[:, :n_mixed] = (1 - t) * zo + t * zn
        out.append(z)
    return out


# ---------------------------------------------------------------- the rule
def control_gaps(tidy: pd.DataFrame, by: Sequence[str] = ("dataset", "metric"),
                 oracle: str = ORACLE, nulls: Sequence[str] = NULLS,
                 lower_is_better: Sequence[str] = (), min_gap: float = MIN_GAP) -> pd.DataFrame:
    """One row per ``by`` group with control rows: oracle mean, the best null's mean (the null
    closest to the oracle), gap and ``discriminative`` (gap >= min_gap). ``tidy`` has the
    ``by`` columns, ``model`` and ``value``; control means are over their seeds. Metrics named
    in ``lower_is_better`` (errors) take gap = min(null) - oracle."""
    by = list(by)
    cols = [*by, "oracle", "best_null", "null_value", "gap", "discriminative"]
    ctrl = tidy[tidy["model"].map(is_control)]
    if ctrl.empty:
        return pd.DataFrame(columns=cols)
    means = ctrl.groupby([*by, "model"], sort=False)["value"].mean()
    rows = []
    for key, g in means.groupby(level=list(range(len(by))), sort=False):
        g = g.droplevel(list(range(len(by))))
        key = key if isinstance(key, tuple) else (key,)
        nul = g.reindex([label(n) for n in nulls]).dropna()
        if label(oracle) not in g.index or nul.empty:
            continue
        metric = key[by.index("metric")] if "metric" in by else None
        lower = metric in set(lower_is_better)
        best = nul.idxmin() if lower else nul.idxmax()
        gap = (nul[best] - g[label(oracle)]) if lower else (g[label(oracle)] - nul[best])
        rows.append((*key, float(g[label(oracle)]), best, float(nul[best]), float(gap),
                     bool(gap >= min_gap)))
    return pd.DataFrame(rows, columns=cols)


def discriminative(tidy: pd.DataFrame, **kwargs) -> dict[tuple, bool]:
    """{(dataset, metric): discriminative?} from ``control_gaps`` (same arguments)."""
    gaps = control_gaps(tidy, **kwargs)
    by = list(kwargs.get("by", ("dataset", "metric")))
    return {tuple(r[c] for c in by): bool(r["discriminative"]) for _, r in gaps.iterrows()}


def counterfactual_controls(cfset, probe, label_std, graph, scm=None) -> pd.DataFrame:
    """The rows ``counterfactual.evaluate_counterfactuals`` gives a model, for controls read by
    the same probe: "control:do_nothing" returns the factual image as the counterfactual;
    "control:simulator" returns the simulator's true counterfactual image. Given the ``scm``
    of data with mechanism noise (noise_std > 0), also "control:no_abduction": the simulator's
    counterfactual with each unit's own mechanism noises set to 0 (the unit's causes kept, its
    noise not recovered), i.e. what an intervention gives where a counterfactual is asked."""
    do_nothing = [cfset.factual_images(t) for t in range(len(cfset.targets))]
    rows = [score_counterfactual_images(do_nothing, cfset, probe, label_std, graph,
                                        label(DO_NOTHING))]
    if cfset.has_true_images:  # the truth itself, read by the probe
        rows.append(score_counterfactual_images(cfset.cf_images, cfset, probe, label_std, graph,
                                                label(SIMULATOR)))
    if scm is not None and scm.noise_std > 0 and scm.mechanism_noise:
        exo = np.array(cfset.exogenous, dtype=np.float64)
        exo[:, [scm.exogenous_names.index(e) for e in scm.mechanism_noise]] = 0.0
        res = cfset.images.shape[1]
        images = (scm.counterfactual(exo[cfset.unit_index(t)], {name: cfset.do_value(t)},
                                     resolution=res).images
                  for t, (name, _) in enumerate(cfset.targets))
        rows.append(score_counterfactual_images(images, cfset, probe, label_std, graph,
                                                label(NO_ABDUCTION)))
    return pd.concat(rows, ignore_index=True)


def counterfactual_gaps(summary: pd.DataFrame, min_gap: float = MIN_GAP) -> pd.DataFrame:
    """``control_gaps`` of the factor error per role (lower is better) from a
    ``counterfactual.role_summary`` table that includes the counterfactual controls."""
    roles = [r for r in COUNTERFACTUAL_ROLES if r in summary.columns]
    tidy = summary.melt(id_vars=["model", "seed"], value_vars=roles, var_name="metric")
    return control_gaps(tidy, by=("metric",), oracle=SIMULATOR, nulls=(DO_NOTHING,),
                        lower_is_better=roles, min_gap=min_gap)


def robustness_controls(cfset, graph, k: int, kinds: Sequence[str] = (ORACLE, *NULLS),
                        seeds: Sequence[int] = SEEDS) -> pd.DataFrame:
    """(model, seed, robustness) of control codes of the factual and true counterfactual
    labels, through the same ``counterfactual.movement_from_codes`` as models' encodings (none
    where the true counterfactual labels are not all known)."""
    if any(np.isnan(lab).any() for lab in cfset.cf_labels):
        return pd.DataFrame(columns=["model", "seed", "robustness"])
    allowed = allowed_movement(graph)
    rows = []
    for kind in kinds:
        for s in seeds:
            code = ControlCode(kind, k, s)
            z0 = code(cfset.labels)
            z1s = [code(lab, ref=cfset.labels) for lab in cfset.cf_labels]
            mv = movement_from_codes(z0, z1s, cfset, graph)
            rows.append({"model": label(kind), "seed": s,
                         "robustness": robustness_score(mv, allowed)})
    return pd.DataFrame(rows)
