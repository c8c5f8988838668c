"""The interface every model shares (``CausalModel``): input checks, the loss under the model's
recipe, decoding, generation, label <-> latent maps and interventions in label units. The models
themselves and ``build_model`` are in ``models``.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from icm_utils.core.stats import MIN_SAMPLES, match_blocks
from icm_utils.data.graph import CausalGraph
from icm_utils.model.loss import RecipeLoss
from icm_utils.model.nets import OfficialMLPDecoder, check_net_resolution, make_decoder
from icm_utils.model.recipes import Recipe


class CausalModel(RecipeLoss, nn.Module):
    """Common interface; see module docstring and the subclasses. The loss: ``loss.RecipeLoss``
    (the subclasses' ``loss_parts`` under the recipe and ``loss_weights``)."""

    uses_labels: bool = True
    uses_graph: bool = True

    def __init__(self, name: str, graph: CausalGraph, resolution: int, k: int,
                 label_mean, label_std, hparams: dict, recipe: Recipe):
        super().__init__()
        self.name, self.graph, self.n, self.k = name, graph, graph.n, int(k)
        self.resolution = check_net_resolution(resolution)
        self.hparams, self.recipe = hparams, recipe
        self.config = {
            "name": name, "graph": graph.to_dict(), "resolution": self.resolution, "k": self.k,
            "label_mean": None if label_mean is None else [float(v) for v in label_mean],
            "label_std": None if label_std is None else [float(v) for v in label_std],
            "hparams": dict(hparams), "recipe": recipe.to_dict()}
        self.arch = hparams.get("arch", "conv")  # only icm_vae takes "official"
        if self.arch == "official":
            self.decoder = OfficialMLPDecoder(self.n, self.k, self.resolution, channels=3)
        else:
            objects = hparams.get("objects")  # variable names per object (decoder "objects")
            self.decoder = make_decoder(recipe.decoder, self.resolution, self.n, self.k,
                                        hparams["width"], hparams.get("decoder_width"),
                                        objects=objects and [[graph.index(v) for v in obj]
                                                             for obj in objects])
        # label -> block map for models without a prior (buffers so checkpoints keep it)
        self.register_buffer("map_index", torch.arange(self.n))
        self.register_buffer("map_slope", torch.zeros(self.n, self.k))
        self.register_buffer("map_intercept", torch.zeros(self.n, self.k))
        self.register_buffer("map_fitted", torch.tensor(False))

    # input checks: fail here with a message, not deep inside torch -----------------------
    def check_images(self, x) -> Tensor:
        r = self.resolution
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = f"{x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"images must be a float tensor (B, 3, {r}, {r}) in [0, 1], got {got}")
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, r, r):
            raise ValueError(f"images must have shape (B, 3, {r}, {r}) for this model "
                             f"(resolution {r}, RGB); got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("images contain NaN or inf")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"image values must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}]")
        return x

    def check_labels(self, u, batch: int | None = None) -> Tensor:
        if not isinstance(u, Tensor) or not u.is_floating_point():
            raise ValueError(f"labels must be a float tensor (B, {self.n}), got {type(u).__name__}")
        if u.ndim != 2 or u.shape[1] != self.n:
            raise ValueError(f"labels must have shape (B, {self.n}), one column per variable "
                             f"{self.graph.names}; got {tuple(u.shape)}")
        if batch is not None and u.shape[0] != batch:
            raise ValueError(f"labels have batch {u.shape[0]} but images have batch {batch}")
        if not torch.isfinite(u).all():
            raise ValueError("labels contain NaN or inf")
        return u

    def check_latents(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 3 or tuple(z.shape[1:]) != (self.n, self.k):
            raise ValueError(f"latents must have shape (B, {self.n}, {self.k}), got "
                             f"{tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__}")
        return z

    # shared pieces ---------------------------------------------------------------------------
    def _data_init(self, x: Tensor) -> None:
        # first training batch sets the decoder's per-pixel output bias (a buffer flag keeps it
        # from happening again, also after load_state_dict)
        if self.training and hasattr(self.decoder, "bias_ready") and not bool(self.decoder.bias_ready):
            self.decoder.init_output_bias(x)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(self.check_latents(z)))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def generate(self, u: Tensor | None = None, n: int | None = None) -> Tensor:
        """New images (B, 3, r, r). Labelled models given labels u: each block is its prior mean,
        computed ancestrally (level by level, so every block sees generated parents). Otherwise
        z = f(eps) with eps ~ N(0, I) through the model's mechanism (beta_vae: z = eps)."""
        if u is not None and self.uses_labels:
            u = self.check_labels(u)
            z = torch.zeros(u.shape[0], self.n, self.k, device=u.device)
            for level in self.graph.levels():
                z[:, level] = self.prior.mean(u, z)[:, level]
            return self.decode(z)
        n = n if n is not None else (len(u) if u is not None else None)
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"generate needs labels u (B, {self.n}) or a positive n, got n={n!r}")
        z = torch.randn(n, self.n, self.k, device=self.map_slope.device)
        mechanism = getattr(self, "mechanism", None)
        return self.decode(mechanism(z)[0] if mechanism is not None else z)

    def latent_index(self, i: str | int) -> int:
        """The latent block that represents variable i (a matched block once a map is fitted)."""
        i = self.graph.index(i)
        return int(self.map_index[i]) if bool(self.map_fitted) else i

    def fit_label_map(self, z: Tensor, u: Tensor) -> list[int]:
        """Match blocks to variables (``core.stats.match_blocks``: Hungarian on the multiple |corr|
        of u_i with block j) and fit block = slope * u_i + intercept by least squares. Returns
        map_index (block of each variable). A no-op for models whose prior already ties block i
        to label i."""
        if self.uses_labels:
            return list(range(self.n))

        z = self.check_latents(z).detach().double().cpu()
        u = self.check_labels(u, z.shape[0]).detach().double().cpu()
        if z.shape[0] < MIN_SAMPLES:
            raise ValueError(f"fit_label_map needs at least {MIN_SAMPLES} samples, got {z.shape[0]}")
        index = torch.as_tensor(match_blocks(z.numpy(), u.numpy())[0], dtype=torch.long)
        for i in range(self.n):
            design = torch.cat([u[:, i:i + 1], torch.ones_like(u[:, :1])], 1)
            coef = torch.linalg.lstsq(design, z[:, int(index[i])]).solution  # (2, k)
            self.map_slope[i] = coef[0].to(self.map_slope)
            self.map_intercept[i] = coef[1].to(self.map_intercept)
        self.map_index.copy_(index)
        self.map_fitted.fill_(True)
        return index.tolist()

    def label_to_latent(self, i: str | int, value, z: Tensor) -> Tensor:
        """Latent block (B, k) for variable i at `value` (float or (B,)) in the label's units."""
        i = self.graph.index(i)
        z = self.check_latents(z)
        v = _label_value(value, z)
        if self.uses_labels:
            return self.prior.label_to_latent(i, v, z)
        if not bool(self.map_fitted):
            raise ValueError(f"{self.name} has no label prior: call fit_label_map(z, u) on "
                             f"training data before intervening in label units")
        return v[:, None] * self.map_slope[i] + self.map_intercept[i]

    def _latent_do(self, do: Mapping, units: str, z: Tensor) -> dict:
        if units not in ("label", "latent"):
            raise ValueError(f"units must be 'label' or 'latent', got {units!r}")
        out = {}
        for key, v in do.items():
            i = self.graph.index(key)
            if units == "latent":
                out[self.latent_index(i)] = v
            elif self.uses_labels:  # prior mean given the (already intervened) parents
                out[i] = (lambda ctx, i=i, v=v: self.label_to_latent(i, v, ctx))
            else:
                out[self.latent_index(i)] = self.label_to_latent(i, v, z)
        return out

    def extra_repr(self) -> str:
        return f"name={self.name}, n={self.n}, k={self.k}, resolution={self.resolution}"


def _label_value(value, z: Tensor) -> Tensor:
    v = torch.as_tensor(value, dtype=z.dtype, device=z.device)
    if v.ndim > 1 or (v.ndim == 1 and v.shape[0] not in (1, z.shape[0])):
        raise ValueError(f"a label value must be a float or a (B,)=({z.shape[0]},) tensor, "
                         f"got shape {tuple(v.shape)}")
    return v.expand(z.shape[0])
