"""Batch-level dependence between abducted noise and its causes: the ICM principle as a penalty.

The principle ICM-VAE is named after says a mechanism's exogenous noise eps_k is independent of
its causes. The official objective does not enforce it for the abducted noise (the per-sample
KL to N(0, I) lets eps_k carry the child's factual value, and a counterfactual then re-applies
it). ``dependence`` measures it per batch with a kernel measure: centred Gaussian Gram matrices
and their normalised inner product (CKA / normalised HSIC; Gretton et al. 2005, Kornblith et
al. 2019): about 0 for independent inputs, 1 for an invertible function of each other.

Two forms (``MEASURES``):
- "cka": median-heuristic bandwidths on the raw inputs. Scale-invariant, so its gradient grows as
  1 / (the noise's spread): when a warm-up crushes eps, the penalty's gradient dwarfs the rest
  (measured: whole codes collapsed on Water flow).
- "cka_floor": each noise dim is divided by max(its batch std, FLOOR) (the std detached), with a
  fixed bandwidth on the result. Above the floor it equals a scale-free CKA; below it the value
  and its gradient shrink with the noise instead of growing, so a collapsing block is not pushed.
Both stay finite, value and gradient, for a constant block (the Gram norms get a small constant).
"""
from __future__ import annotations

import torch
from torch import Tensor

MEASURES = ("cka", "cka_floor")
TARGETS = ("labels", "latents")
FLOOR = 0.1  # noise spread (in units of its N(0, 1) prior) below which "cka_floor" stops rescaling
_TINY = 1e-8  # keeps sqrt and divisions finite for a constant input


def _sq_dists(x: Tensor) -> Tensor:
    # written out, not torch.cdist: cdist's gradient is NaN at zero distance (the diagonal)
    sq = x.pow(2).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0)


def _centred_gram(x: Tensor, bandwidth2: Tensor | float) -> Tensor:
    k = torch.exp(-_sq_dists(x) / (2 * bandwidth2))
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def _median_bandwidth2(x: Tensor) -> Tensor:
    d2 = _sq_dists(x.detach())
    off = d2[~torch.eye(len(x), dtype=torch.bool, device=x.device)]
    return off.median().clamp_min(_TINY) if off.numel() else torch.tensor(1.0, device=x.device)


def dependence(a: Tensor, b: Tensor, measure: str = "cka_floor") -> Tensor:
    """Kernel dependence in [0, 1] between a (B, da) and b (B, db), rows paired; gradients reach
    ``a`` (b is treated as data: labels, or detached latents)."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"need (B, da) and (B, db) with one batch size, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if a.shape[0] < 4:
        raise ValueError(f"a dependence needs a batch of at least 4 samples, got {a.shape[0]}")
    b = b.detach()
    kb = _centred_gram(b, _median_bandwidth2(b))
    if measure == "cka":
        ka = _centred_gram(a, _median_bandwidth2(a))
        norm_a = ka.pow(2).sum()
    else:
        centred, std = a - a.mean(0), a.detach().std(0)
        bw2 = float(a.shape[1])  # unit-spread dims: E||a_i - a_j||^2 = 2 da
        ka = _centred_gram(centred / std.clamp_min(FLOOR), bw2)
        # normalised by the Gram norm the block would have at unit spread, held fixed: equal to
        # CKA above the floor; below it the value (and its gradient) shrink with the spread
        norm_a = _centred_gram(centred.detach() / std.clamp_min(_TINY), bw2).pow(2).sum()
    num = (ka * kb).sum()
    den = torch.sqrt((norm_a + _TINY) * (kb.pow(2).sum() + _TINY))
    return (num / den).clamp(0, 1)


def noise_dependence(eps: Tensor, causes: Tensor, parents: list[list[int]],
                     measure: str = "cka_floor") -> Tensor:
    """Sum over non-root nodes k of dependence(eps_k, causes of pa(k)).

    eps (B, n, k) abducted noise; causes (B, n) normalised labels or (B, n, k) latents (detached
    here); parents[k] the parent indices of node k. Returns a scalar (0 for a graph of roots)."""
    total = eps.new_zeros(())
    for node, pa in enumerate(parents):
        if pa:
            c = causes[:, pa].reshape(causes.shape[0], -1)
            total = total + dependence(eps[:, node], c, measure)
    return total
