"""Causal disentanglement prior p(z|u) = prod_i N(z_i; m_i(u_i, z_pa(i)), I).

Labels are normalised with statistics of the training labels (``label_stats``), stored as
buffers so a checkpoint carries them; nothing here knows a dataset's units.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from icm_utils.data.graph import CausalGraph
from icm_utils.model.mechanisms import CausalFlow


def label_stats(u) -> tuple[list[float], list[float]]:
    """Per-column mean and std of training labels (N, n); a constant column gets std 1."""
    u = np.asarray(u.detach().cpu() if isinstance(u, Tensor) else u, dtype=np.float64)
    if u.ndim != 2 or len(u) < 2:
        raise ValueError(f"labels must be (N >= 2, n), got shape {u.shape}")
    if not np.isfinite(u).all():
        raise ValueError("labels contain NaN or inf")
    std = u.std(0)
    std = np.where(std > 1e-12, std, 1.0)
    return u.mean(0).tolist(), std.tolist()


def prior_graph(graph: CausalGraph, parents: str = "graph") -> CausalGraph:
    """The graph a prior conditions each latent's mean on (``Recipe.prior_parents``): the causal
    graph ("graph", as the official code) or no parents at all ("none": m_i from u_i alone)."""
    if parents not in ("graph", "none"):
        raise ValueError(f"prior parents must be 'graph' or 'none', got {parents!r}")
    return graph if parents == "graph" else CausalGraph(graph.names)


class _LabelNormaliser(nn.Module):
    def __init__(self, n: int, label_mean: Sequence[float] | None,
                 label_std: Sequence[float] | None):
        super().__init__()
        f32 = torch.float32
        mean = torch.zeros(n) if label_mean is None else torch.as_tensor(label_mean, dtype=f32)
        std = torch.ones(n) if label_std is None else torch.as_tensor(label_std, dtype=f32)
        if mean.shape != (n,) or std.shape != (n,):
            raise ValueError(f"label_mean/label_std must have {n} entries (one per variable), got "
                             f"{tuple(mean.shape)} and {tuple(std.shape)}")
        if not (std > 0).all():
            raise ValueError(f"label_std must be positive, got {std.tolist()}")
        self.register_buffer("label_mean", mean)
        self.register_buffer("label_std", std)

    def normalise(self, u: Tensor, i: int | None = None) -> Tensor:
        if i is None:
            return (u - self.label_mean) / self.label_std
        return (u - self.label_mean[i]) / self.label_std[i]


class CausalPrior(_LabelNormaliser):
    """ICM-VAE prior: m_i = f_i(u_hat_i * 1_k; z_pa(i)) with f from the same flow family.

    The flow here has its own parameters (it is not the encoder-side causal flow). Unit variance.
    """

    def __init__(self, graph: CausalGraph, k: int, label_mean=None, label_std=None,
                 kind: str = "affine", **flow_kwargs):
        super().__init__(graph.n, label_mean, label_std)
        self.graph, self.n, self.k = graph, graph.n, int(k)
        self.flow = CausalFlow(graph, k, kind=kind, **flow_kwargs)

    def _broadcast(self, u_hat: Tensor) -> Tensor:
        return u_hat.unsqueeze(-1).expand(*u_hat.shape, self.k)

    def mean(self, u: Tensor, z: Tensor) -> Tensor:
        """Prior means (B, n, k) from labels u (B, n) in label units and parents' blocks of z."""
        m, _ = self.flow.transform(self._broadcast(self.normalise(u)), z)
        return m

    def kl(self, z: Tensor, u: Tensor) -> Tensor:
        """sum_i KL(N(z_i, I) || N(m_i, I)) = 0.5 ||z - m||^2 per sample, (B,)."""
        return 0.5 * (z - self.mean(u, z)).pow(2).sum((1, 2))

    def label_to_latent(self, i: int, value: Tensor | float, z: Tensor) -> Tensor:
        """Latent block (B, k) of variable i at a label value (B,) or float; parents from z."""
        i = self.graph.index(i)
        v = torch.as_tensor(value, dtype=z.dtype, device=z.device).expand(z.shape[0])
        x = self._broadcast(self.normalise(v, i)).unsqueeze(1)  # (B, 1, k)
        m, _ = self.flow.transform(x, z, [i])
        return m[:, 0]


class LabelMeanPrior(_LabelNormaliser):
    """CausalVAE-style conditional prior: N(z_i; u_hat_i * 1_k, I), no parent dependence."""

    def __init__(self, graph: CausalGraph, k: int, label_mean=None, label_std=None):
        super().__init__(graph.n, label_mean, label_std)
        self.graph, self.n, self.k = graph, graph.n, int(k)

    def mean(self, u: Tensor, z: Tensor | None = None) -> Tensor:
        u_hat = self.normalise(u)
        return u_hat.unsqueeze(-1).expand(*u_hat.shape, self.k)

    def kl(self, z: Tensor, u: Tensor) -> Tensor:
        return 0.5 * (z - self.mean(u)).pow(2).sum((1, 2))

    def label_to_latent(self, i: int, value: Tensor | float, z: Tensor) -> Tensor:
        i = self.graph.index(i)
        v = torch.as_tensor(value, dtype=z.dtype, device=z.device).expand(z.shape[0])
        return self.normalise(v, i).unsqueeze(-1).expand(z.shape[0], self.k)
