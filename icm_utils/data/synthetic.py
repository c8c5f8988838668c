"""Low-dimensional synthetic SCM for identifiability checks, where the truth is fully known.

Latents follow nonlinear additive-noise mechanisms on a user-given DAG,
    z_i = standardise( g_i(z_pa(i)) + noise_scale * eps_i ),   roots: z_i = eps_i,
with g_i a random one-hidden-layer tanh MLP of the parents and eps_i ~ N(0, 1) exogenous.
The standardising affine map is fixed at construction (from a seeded pilot sample) so every
latent has roughly zero mean and unit variance, which keeps the mixing well conditioned.
Observations x = mixing(z) in R^obs_dim (obs_dim >= n_vars), an injective map: orthonormal
embedding, then ``layers`` x (bias, leaky ReLU, random orthogonal matrix). ``Mixing.inverse`` is
exact on the image of the map, so tests can recover z from x.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from icm_utils.core.utils import as_rng
from icm_utils.data.graph import CausalGraph
from icm_utils.data.scm import check_count

PRESET_GRAPH = CausalGraph(
    ["a", "b", "c", "d", "e", "f"],
    [("a", "c"), ("b", "c"), ("c", "d"), ("a", "e"), ("d", "f"), ("e", "f")],
)  # fork (a), two colliders (c, f), a chain (c -> d -> f): 6 nodes, 6 edges

LARGE_GRAPH = CausalGraph(
    ["a", "b", "c", "d", "e", "f", "g", "h"],
    [("a", "c"), ("b", "c"), ("c", "d"), ("a", "e"), ("d", "f"), ("e", "f"), ("f", "g"),
     ("b", "h"), ("g", "h"), ("d", "h")],
)  # PRESET_GRAPH extended: a five-step chain a -> c -> d -> f -> g -> h, a three-parent collider h


def _orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))  # sign fix: Haar-distributed


class Mixing:
    """Injective nonlinear map R^n_in -> R^n_out with an exact inverse on its image."""

    def __init__(self, n_in: int, n_out: int, layers: int = 3, slope: float = 0.2,
                 seed: int | np.random.Generator = 0):
        if n_out < n_in:
            raise ValueError(f"obs_dim ({n_out}) must be >= the number of causal variables "
                             f"({n_in}) for the mixing to be invertible")
        if not 0 < slope <= 1:
            raise ValueError(f"leaky ReLU slope must be in (0, 1], got {slope}")
        rng = as_rng(seed)
        self.n_in, self.n_out, self.slope = n_in, n_out, slope
        self.embed = _orthogonal(n_out, rng)[:n_in]  # (n_in, n_out), orthonormal rows
        layers = check_count(layers, "layers")
        self.mats = [_orthogonal(n_out, rng) for _ in range(layers)]
        # biases break the positive homogeneity of a bias-free leaky-ReLU net (f(2z) = 2 f(z))
        self.biases = [rng.uniform(-0.5, 0.5, n_out) for _ in range(layers)]

    def _leaky(self, x):
        return np.where(x > 0, x, self.slope * x)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.n_in:
            raise ValueError(f"mixing expects latents of shape (N, {self.n_in}), got {z.shape}")
        x = z @ self.embed
        for m, b in zip(self.mats, self.biases, strict=True):
            x = self._leaky(x + b) @ m
        return x

    def inverse(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_out:
            raise ValueError(f"inverse expects observations of shape (N, {self.n_out}), "
                             f"got {x.shape}")
        for m, b in zip(reversed(self.mats), reversed(self.biases), strict=True):
            x = x @ m.T
            x = np.where(x > 0, x, x / self.slope) - b
        return x @ self.embed.T  # left inverse of the orthonormal embedding


@dataclass
class SyntheticSamples:
    latents: np.ndarray  # float64 (N, n_vars), graph order
    observations: np.ndarray  # float64 (N, obs_dim)
    exogenous: np.ndarray  # float64 (N, n_vars), standard normal eps

    def __len__(self) -> int:
        return int(self.latents.shape[0])


class SyntheticSCM:
    """Random nonlinear additive-noise SCM on ``graph`` observed through ``Mixing``."""

    def __init__(self, graph: CausalGraph | None = None, names: list[str] | None = None,
                 edges: Iterable[tuple[str, str]] = (), obs_dim: int | None = None,
                 hidden: int = 8, noise_scale: float = 0.5, mixing_layers: int = 3,
                 seed: int = 0):
        if graph is None:
            if names is None:
                raise ValueError("give a CausalGraph or names (+ edges)")
            graph = CausalGraph(names, edges)  # raises GraphError naming the problem
        elif not isinstance(graph, CausalGraph):
            raise TypeError(f"graph must be a CausalGraph, got {type(graph).__name__}")
        if not np.isfinite(noise_scale) or noise_scale <= 0:
            raise ValueError(f"noise_scale must be > 0, got {noise_scale}")
        self.graph, self.noise_scale = graph, float(noise_scale)
        n = graph.n
        self.obs_dim = n if obs_dim is None else check_count(obs_dim, "obs_dim")
        rng = np.random.default_rng(seed)
        self.mixing = Mixing(n, self.obs_dim, mixing_layers, seed=rng)
        self.params: dict[int, tuple] = {}
        for i in graph.order:
            pa = graph.parents(i)
            if pa:  # weights scaled so tanh stays in its nonlinear but unsaturated range
                w1 = rng.standard_normal((len(pa), hidden)) * 1.5 / np.sqrt(len(pa))
                self.params[i] = (w1, rng.uniform(-1, 1, hidden),
                                  rng.standard_normal(hidden) / np.sqrt(hidden))
        # fix the standardising maps on a pilot sample, parents before children
        self.shift, self.scale = np.zeros(n), np.ones(n)
        eps = rng.standard_normal((4096, n))
        z = np.zeros_like(eps)
        for i in graph.order:
            raw = self._raw(i, z, eps)
            self.shift[i], self.scale[i] = raw.mean(), raw.std()
            z[:, i] = (raw - self.shift[i]) / self.scale[i]

    @property
    def names(self) -> list[str]:
        return list(self.graph.names)

    def check_do(self, do: dict | None, n: int) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for var, value in (do or {}).items():
            if var not in self.graph.names:
                raise ValueError(f"do: unknown variable {var!r}; known: {self.graph.names}")
            v = np.asarray(value, dtype=np.float64)
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n) or not np.all(np.isfinite(v)):
                raise ValueError(f"do({var}=...) must be a finite scalar or length-{n} array")
            out[self.graph.index(var)] = np.broadcast_to(v, (n,)).copy()
        return out

    def latents_from_exogenous(self, exogenous, do: dict | None = None) -> np.ndarray:
        """Mechanisms in topological order; ``do`` fixes a latent (descendants recomputed)."""
        eps = np.asarray(exogenous, dtype=np.float64)
        if eps.ndim != 2 or eps.shape[1] != self.graph.n:
            raise ValueError(f"exogenous must have shape (N, {self.graph.n}), got {eps.shape}")
        fixed = self.check_do(do, eps.shape[0])
        z = np.zeros_like(eps)
        for i in self.graph.order:
            z[:, i] = fixed[i] if i in fixed else (self._raw(i, z, eps) - self.shift[i]) \
                / self.scale[i]
        return z

    def _raw(self, i: int, z: np.ndarray, eps: np.ndarray) -> np.ndarray:
        pa = self.graph.parents(i)
        if not pa:
            return eps[:, i]
        w1, b1, w2 = self.params[i]
        return np.tanh(z[:, pa] @ w1 + b1) @ w2 + self.noise_scale * eps[:, i]

    def sample(self, n: int, seed: int | np.random.Generator = 0,
               do: dict | None = None) -> SyntheticSamples:
        n = check_count(n)
        self.check_do(do, n)
        eps = as_rng(seed).standard_normal((n, self.graph.n))
        return self.counterfactual(eps, do)

    def counterfactual(self, exogenous, do: dict | None = None) -> SyntheticSamples:
        """Same units (eps) under ``do``; ``do=None`` gives the factual samples."""
        eps = np.asarray(exogenous, dtype=np.float64)
        z = self.latents_from_exogenous(eps, do)
        return SyntheticSamples(z, self.mixing(z), eps)


def preset(seed: int = 0, obs_dim: int = 10, **kwargs) -> SyntheticSCM:
    """The 6-node ``PRESET_GRAPH`` observed in 10 dimensions."""
    return SyntheticSCM(PRESET_GRAPH, obs_dim=obs_dim, seed=seed, **kwargs)
