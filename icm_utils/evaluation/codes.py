"""One run's representation of a split beside the true factors, and how its blocks pair with
the factors: shared by the tables (analysis), the factor sets and the plots."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from icm_utils.core.stats import match_blocks


@dataclass
class RunCodes:
    """One run's representation of a split next to the true factors."""

    dataset: str
    model: str
    seed: int
    codes: np.ndarray  # (N, n_blocks, k)
    factors: np.ndarray  # (N, n_factors)
    names: list[str]  # factor names
    aligned: bool = False  # block i is variable i by construction (a label prior ties them)


def pick(idx: np.ndarray, max_samples: int | None) -> np.ndarray:
    """``max_samples`` evenly spaced entries of ``idx`` (all of them when None or enough)."""
    if max_samples is None or max_samples >= len(idx):
        return idx
    return idx[np.linspace(0, len(idx) - 1, max_samples).round().astype(int)]  # spread, seedless


def first_seed(run_codes: Sequence[RunCodes]) -> list[RunCodes]:
    """One run per (dataset, model): the lowest seed. Seeds are not averaged because blocks of
    unsupervised models may come out permuted from one seed to the next."""
    best: dict[tuple[str, str], RunCodes] = {}
    for rc in run_codes:
        key = (rc.dataset, rc.model)
        if key not in best or rc.seed < best[key].seed:
            best[key] = rc
    return list(best.values())


def blocks_of(rc: RunCodes) -> np.ndarray:
    """Block of each factor: i for aligned runs, else the block-MCC (Spearman) matching."""
    if rc.aligned:
        return np.arange(rc.factors.shape[1])
    return match_blocks(rc.codes, rc.factors, method="spearman")[0]
