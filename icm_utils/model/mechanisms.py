"""Causal mechanisms z_i = f_i(eps_i; z_pa(i)) as per-node diffeomorphisms over blocks of k dims.

This is the only module that imports nflows, so the flow library can be swapped in one place.

Layout: latents are (B, n, k): node i owns block ``[:, i]``. All nodes' parameter networks are
evaluated in one batched op (weights stacked as (n, in, out)); the first layer is multiplied by a
mask built from the graph's adjacency, so node i's parameters are a function of its parents'
blocks only (non-parents contribute exactly zero, whatever the weights). Roots see an all-zero
input, so their parameters are learned constants.

- inverse (z known): one pass over all nodes;
- forward (eps known): one step per depth level of the graph, not per node.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from nflows.transforms.splines.rational_quadratic import (
    DEFAULT_MIN_DERIVATIVE,
    unconstrained_rational_quadratic_spline,
)
from torch import Tensor, nn

from icm_utils.data.graph import CausalGraph

# Soft bound on the affine log-scale of the "tanh" flows: the loss rewards -log|det| expansion, so
# an unbounded s runs to exp overflow; +-3 per node still scales a block by up to 20x.
LOG_SCALE_BOUND = 3.0
# Output ranges of the scale/shift nets: "sigmoid" as the official code (s, t in (0, 1), so every
# slope exp(s) lies in (1, e), and a parent moves its child by less than 1); "scale": s in (0, 1)
# as official, t unbounded; "tanh": s = 3 tanh(s/3), t unbounded.
AFFINE_BOUNDS = ("sigmoid", "scale", "tanh")
# Soft bound on the raw spline parameters: bin widths/heights stay within a factor e^6 of each
# other and knot slopes within [0.05, 3], so the float32 inverse stays accurate (an unbounded
# net drives slopes to nflows' 1e-3 floor, where inverting amplifies round-off 1000x).
SPLINE_PARAM_BOUND = 3.0
FLOW_KINDS = ("affine", "spline")

DoValue = Tensor | float | Callable[[Tensor], Tensor]


class MaskedNodeMLP(nn.Module):
    """n small MLPs evaluated in one batched op; MLP i sees only the context blocks ``mask[i]``.

    ``mask`` is (n, n): ``mask[i, j] = 1`` lets node i read block j. Output (B, m, out_dim) for the
    m requested nodes.
    """

    def __init__(self, mask: np.ndarray, k: int, out_dim: int, hidden: int = 32):
        super().__init__()
        n = mask.shape[0]
        self.n, self.k, self.out_dim = n, k, out_dim
        din = n * k
        # input mask repeated over each block's k dims: (n, n*k, 1)
        m = torch.as_tensor(np.repeat(np.asarray(mask, dtype=np.float32), k, axis=1))
        self.register_buffer("in_mask", m[:, :, None])
        self.w1 = nn.Parameter(torch.randn(n, din, hidden) / math.sqrt(max(k, 1) * 2))
        self.b1 = nn.Parameter(torch.zeros(n, hidden))
        self.w2 = nn.Parameter(torch.randn(n, hidden, hidden) / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(n, hidden))
        # zero last layer: every mechanism starts at its bias (identity for both flow kinds)
        self.w3 = nn.Parameter(torch.zeros(n, hidden, out_dim))
        self.b3 = nn.Parameter(torch.zeros(n, out_dim))

    def forward(self, context: Tensor, nodes: Sequence[int] | None = None) -> Tensor:
        c = context.reshape(context.shape[0], -1)
        idx = slice(None) if nodes is None else torch.as_tensor(list(nodes), dtype=torch.long)
        w1 = self.w1[idx] * self.in_mask[idx]
        h = torch.nn.functional.elu(torch.einsum("bd,mdh->bmh", c, w1) + self.b1[idx])
        h = torch.nn.functional.elu(torch.einsum("bmh,mhg->bmg", h, self.w2[idx]) + self.b2[idx])
        return torch.einsum("bmh,mho->bmo", h, self.w3[idx]) + self.b3[idx]


class _LevelwiseMechanism(nn.Module):
    """Shared forward/inverse/intervention logic; subclasses define ``transform``."""

    def __init__(self, graph: CausalGraph, k: int):
        super().__init__()
        if not isinstance(graph, CausalGraph):
            raise TypeError(f"graph must be a CausalGraph, got {type(graph).__name__}")
        if int(k) < 1:
            raise ValueError(f"k (dims per causal variable) must be >= 1, got {k}")
        self.graph, self.n, self.k = graph, graph.n, int(k)
        self.levels = graph.levels()
        # parent mask: parent_mask[i, j] = 1 iff j -> i
        self.parent_mask = graph.adjacency.T.astype(np.float32)

    def transform(self, x: Tensor, context: Tensor, nodes: Sequence[int] | None = None,
                  inverse: bool = False) -> tuple[Tensor, Tensor]:
        """Apply mechanisms of ``nodes`` (default all) to x (B, m, k), parents read from context
        (B, n, k). Returns (y (B, m, k), log|det| per node (B, m)) of the map computed."""
        raise NotImplementedError

    def _check(self, t: Tensor, what: str) -> None:
        if t.ndim != 3 or t.shape[1:] != (self.n, self.k):
            raise ValueError(
                f"{what} must have shape (B, {self.n}, {self.k}), got {tuple(t.shape)}")

    def forward(self, eps: Tensor, do: Mapping[str | int, DoValue] | None = None
                ) -> tuple[Tensor, Tensor]:
        """eps (B, n, k) -> (z, log|det dz/deps| (B,)), one step per depth level.

        ``do={i: value}`` sets block i to value ((B, k), (k,) or a float; or a callable of the
        partially computed z (B, n, k) whose parents of i are final) at i's level, so descendants
        are recomputed from it and non-descendants are untouched. Intervened nodes add 0 to logdet.
        """
        self._check(eps, "eps")
        do = {self.graph.index(key): v for key, v in (do or {}).items()}
        blocks: list[Tensor] = [torch.zeros_like(eps[:, 0]) for _ in range(self.n)]
        logdet = eps.new_zeros(eps.shape[0])
        for level in self.levels:
            ctx = torch.stack(blocks, 1)  # every parent of this level is already final
            # the whole level is transformed even where intervened, so that the batched op (and
            # hence every non-descendant) is bit-identical to the intervention-free pass
            y, ld = self.transform(eps[:, level], ctx, level)
            for j, i in enumerate(level):
                if i in do:
                    blocks[i] = self._do_value(do[i], ctx, eps)
                else:
                    blocks[i] = y[:, j]
                    logdet = logdet + ld[:, j]
        return torch.stack(blocks, 1), logdet

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (B, n, k) -> (eps, log|det deps/dz| (B,)) in one pass over all nodes."""
        self._check(z, "z")
        eps, ld = self.transform(z, z, None, inverse=True)
        return eps, ld.sum(1)

    def jacobian_blocks(self, eps: Tensor) -> Tensor:
        """Frobenius norms (n, n) of the k x k blocks dz_i/deps_j at one sample eps (n, k)."""
        j = torch.autograd.functional.jacobian(
            lambda e: self(e.reshape(1, self.n, self.k))[0].reshape(-1), eps.reshape(-1))
        return j.reshape(self.n, self.k, self.n, self.k).pow(2).sum((1, 3)).sqrt()

    def _do_value(self, v: DoValue, ctx: Tensor, like: Tensor) -> Tensor:
        if callable(v):
            v = v(ctx)
        v = torch.as_tensor(v, dtype=like.dtype, device=like.device)
        b = like.shape[0]
        try:
            return v.expand(b, self.k) if v.ndim < 2 else v.reshape(b, self.k)
        except RuntimeError as e:
            raise ValueError(f"an intervention value must be a float, (k,)=({self.k},) or "
                             f"(B, k)=({like.shape[0]}, {self.k}); got {tuple(v.shape)}") from e


class CausalFlow(_LevelwiseMechanism):
    """Per-node conditional flows over blocks: ``kind="affine"`` (official) or ``"spline"``.

    affine: z = exp(s) * eps + t with (s, t) = MLP_i(z_pa(i)), bounded by ``affine_bound``:
    "sigmoid" (official: s, t in (0, 1)), "scale" (s in (0, 1), t unbounded) or "tanh"
    (s = 3 tanh(s/3), t unbounded).
    spline: z = exp(s) * RQS(eps) + t, a monotone rational-quadratic spline on [-bound, bound]
    with linear (identity) tails, followed by the affine map; all parameters from the parents.
    The trailing affine lets parents shift/scale z everywhere, not only inside the spline box.
    """

    def __init__(self, graph: CausalGraph, k: int, kind: str = "affine", hidden: int = 32,
                 bins: int = 8, bound: float = 4.0, affine_bound: str = "sigmoid"):
        super().__init__(graph, k)
        if kind not in FLOW_KINDS:
            raise ValueError(f"kind must be one of {FLOW_KINDS}, got {kind!r}")
        if affine_bound not in AFFINE_BOUNDS:
            raise ValueError(f"affine_bound must be one of {AFFINE_BOUNDS}, got {affine_bound!r}")
        self.affine_bound = affine_bound
        if kind == "spline" and (int(bins) < 2 or float(bound) <= 0):
            raise ValueError(f"spline needs bins >= 2 and bound > 0, got {bins=}, {bound=}")
        self.kind, self.bins, self.bound = kind, int(bins), float(bound)
        self.n_spline = self.k * (3 * self.bins - 1) if kind == "spline" else 0
        self.net = MaskedNodeMLP(self.parent_mask, self.k, self.n_spline + 2 * self.k, hidden)
        if kind == "spline":
            # derivative bias with softplus(.) + min_derivative == 1: the spline starts as identity
            d0 = math.log(math.expm1(1 - DEFAULT_MIN_DERIVATIVE))
            d0 = SPLINE_PARAM_BOUND * math.atanh(d0 / SPLINE_PARAM_BOUND)  # undo the soft bound
            b = self.net.b3.data[:, : self.n_spline].view(self.n, self.k, 3 * self.bins - 1)
            b[..., 2 * self.bins:] = d0

    def conditioner(self, z: Tensor, nodes: Sequence[int] | None = None) -> Tensor:
        """Raw parameters (B, m, P) of the ``nodes``' mechanisms from their parents' blocks of z."""
        return self.net(z, nodes)

    def scale_shift(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """Log-slope s and shift t (B, m, k) of the affine step from raw parameters p."""
        s, t = p[..., self.n_spline: self.n_spline + self.k], p[..., self.n_spline + self.k:]
        if self.affine_bound == "sigmoid":
            return torch.sigmoid(s), torch.sigmoid(t)
        if self.affine_bound == "scale":
            return torch.sigmoid(s), t
        return LOG_SCALE_BOUND * torch.tanh(s / LOG_SCALE_BOUND), t

    def transform(self, x: Tensor, context: Tensor, nodes: Sequence[int] | None = None,
                  inverse: bool = False) -> tuple[Tensor, Tensor]:
        p = self.conditioner(context, nodes)
        s, t = self.scale_shift(p)
        if self.kind == "affine":
            if inverse:
                return (x - t) * torch.exp(-s), -s.sum(-1)
            return x * torch.exp(s) + t, s.sum(-1)
        sp = p[..., : self.n_spline].reshape(*x.shape, 3 * self.bins - 1)
        sp = SPLINE_PARAM_BOUND * torch.tanh(sp / SPLINE_PARAM_BOUND)
        w, h, d = sp[..., : self.bins], sp[..., self.bins: 2 * self.bins], sp[..., 2 * self.bins:]
        if inverse:
            y, ld = unconstrained_rational_quadratic_spline(
                (x - t) * torch.exp(-s), w, h, d, inverse=True, tail_bound=self.bound)
            return y, (ld - s).sum(-1)
        y, ld = unconstrained_rational_quadratic_spline(x, w, h, d, tail_bound=self.bound)
        return y * torch.exp(s) + t, (ld + s).sum(-1)


class LinearSCM(_LevelwiseMechanism):
    """CausalVAE-style linear SCM over blocks: z = A^T z + eps, A masked to the known graph.

    z_i = eps_i + sum_{j in pa(i)} A[j, i] z_j; the map is unit-triangular so log|det| = 0.
    """

    def __init__(self, graph: CausalGraph, k: int):
        super().__init__(graph, k)
        self.register_buffer("mask", torch.as_tensor(graph.adjacency, dtype=torch.float32))
        self.weight = nn.Parameter(torch.zeros(self.n, self.n))

    @property
    def A(self) -> Tensor:
        """Effective (masked) weighted adjacency: A[j, i] is the weight of edge j -> i."""
        return self.weight * self.mask

    def transform(self, x: Tensor, context: Tensor, nodes: Sequence[int] | None = None,
                  inverse: bool = False) -> tuple[Tensor, Tensor]:
        a = self.A if nodes is None else self.A[:, list(nodes)]
        shift = torch.einsum("bjk,jm->bmk", context, a)
        return (x - shift if inverse else x + shift), x.new_zeros(x.shape[:2])
