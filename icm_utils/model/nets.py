"""Image encoder/decoder networks and the Bernoulli likelihood.

Conv nets are sized for 2 CPU cores: four stride-2 layers take a square RGB image of side
r in RESOLUTIONS down to r/16 (2..8 pixels), so one architecture serves every resolution.
Channels grow w/2, w, 2w, 2w: the full-resolution layers dominate CPU time, so they stay thin.
The Official* MLPs reproduce the official code's sizes: the speed benchmark times them, and
``build_model("icm_vae", ..., arch="official")`` trains them, so the official architecture's
disentanglement can be measured with this package's data, training loop and metrics.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RESOLUTIONS = (32, 48, 64, 96, 128)
DECODER_KINDS = ("joint", "sum", "mean", "compose", "objects")
OBJECT_WIDTH = 16  # channels of each object slot (the joint decoder has 32 for everything)


def check_net_resolution(resolution: int) -> int:
    if int(resolution) not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS} (square RGB images), "
                         f"got {resolution!r}")
    return int(resolution)


def check_width(width: int) -> int:
    if int(width) < 2 or int(width) % 2:
        raise ValueError(f"width must be an even integer >= 2, got {width!r}")
    return int(width)


class ConvEncoder(nn.Module):
    """(B, 3, r, r) -> (B, out_dim)."""

    def __init__(self, resolution: int, out_dim: int, width: int = 32, hidden: int = 256):
        super().__init__()
        r = check_net_resolution(resolution)
        w = check_width(width)
        self.resolution = r
        self.conv = nn.Sequential(
            nn.Conv2d(3, w // 2, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 2 * w, 4, 2, 1), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * w * (r // 16) ** 2, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.conv(x))


class _Up(nn.Module):
    """Stride-2 transposed conv (4x4) whose weight may be masked block-diagonal over groups.

    A dense conv with a block-diagonal mask is g independent convs in one call; on CPU it runs
    ~2x faster than ``groups=g`` (oneDNN's grouped transposed conv is slow at these sizes)."""

    def __init__(self, cin: int, cout: int, groups: int = 1):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        if groups > 1:
            mask = torch.block_diag(*[torch.ones(cin // groups, cout // groups)] * groups)
            self.register_buffer("mask", mask[:, :, None, None])
            with torch.no_grad():  # keep the per-group fan-in of the default init
                self.conv.weight.mul_(self.mask * groups ** 0.5)
        else:
            self.mask = None

    def forward(self, x: Tensor) -> Tensor:
        w = self.conv.weight if self.mask is None else self.conv.weight * self.mask
        return F.conv_transpose2d(x, w, self.conv.bias, stride=2, padding=1)


class ConvDecoder(nn.Module):
    """(B, groups * in_dim) -> logits (B, 3, r, r).

    ``groups > 1`` builds that many independent decoders, one per input chunk of ``in_dim`` (one
    per causal variable), each of width ``width``: 1x1 grouped convs and block-diagonal transposed
    convs. Their logit images are summed, or averaged with ``average=True`` (the official
    composition). The last layer is linear, so it is one dense conv over all groups' features:
    exactly the sum of the groups' own last layers.

    ``combine`` other than "sum" gives each group its own last layer: "compose" paints a layer
    (3 colour logits + 1 mask logit) per group, mixed by softmax masks; "absorb" gives each group
    a non-negative absorbance per colour channel, and the image is the background times
    exp(-sum of absorbances): a group can only darken pixels, never erase another's object.
    """

    def __init__(self, resolution: int, in_dim: int, width: int = 32, hidden: int = 256,
                 groups: int = 1, average: bool = False, compose: bool = False,
                 combine: str | None = None):
        super().__init__()
        r = check_net_resolution(resolution)
        g, w = int(groups), check_width(width)
        combine = combine or ("compose" if compose and g > 1 else "sum")
        if combine not in ("sum", "compose", "absorb"):
            raise ValueError(f"combine must be 'sum', 'compose' or 'absorb', got {combine!r}")
        self.average, self.combine = bool(average), combine
        self.compose = combine == "compose"
        self.resolution, self.groups, self.w, self.s = r, g, w, r // 16
        # grouped 1x1 convs act as g independent linear layers
        self.fc = nn.Sequential(
            nn.Conv1d(g * in_dim, g * hidden, 1, groups=g), nn.ReLU(inplace=True),
            nn.Conv1d(g * hidden, g * 2 * w * self.s ** 2, 1, groups=g), nn.ReLU(inplace=True))
        per_group = {"sum": 0, "compose": 4, "absorb": 3}[combine]
        self.deconv = nn.Sequential(
            _Up(g * 2 * w, g * 2 * w, g), nn.ReLU(inplace=True),
            _Up(g * 2 * w, g * w, g), nn.ReLU(inplace=True),
            _Up(g * w, g * (w // 2), g), nn.ReLU(inplace=True),
            _Up(g * (w // 2), per_group * g, g) if per_group else _Up(g * (w // 2), 3))
        if combine == "absorb":  # start nearly transparent: the background shows through
            nn.init.constant_(self.deconv[-1].conv.bias, -3.0)
        # channels-last transposed convs run ~30% faster on CPU (oneDNN's native layout)
        self.deconv.to(memory_format=torch.channels_last)
        # Per-pixel output bias, set from the first training batch (init_output_bias): without it
        # the nets spend epochs learning the near-white background before any content.
        self.pixel_bias = nn.Parameter(torch.zeros(3, r, r))
        self.register_buffer("bias_ready", torch.tensor(False))

    @torch.no_grad()
    def init_output_bias(self, x: Tensor) -> None:
        """Data-dependent init (as ActNorm in Glow): output starts at the batch's mean image; for
        "absorb" the background starts at the batch's brightest value per pixel (the scene with
        the objects away)."""
        ref = x.amax(0) if self.combine == "absorb" else x.mean(0)
        self.pixel_bias.copy_(torch.logit(ref.clamp(0.01, 0.99)))
        self.bias_ready.fill_(True)

    def group_outputs(self, z: Tensor) -> Tensor:
        """The last layer's output (B, channels, r, r) before the groups are combined."""
        b = z.shape[0]
        h = self.fc(z.reshape(b, -1, 1)).reshape(b, self.groups * 2 * self.w, self.s, self.s)
        return self.deconv(h.contiguous(memory_format=torch.channels_last)).contiguous()

    def forward(self, z: Tensor) -> Tensor:
        out = self.group_outputs(z)
        if self.combine == "compose":
            return self._composite(out)
        if self.combine == "absorb":
            return self._absorb(out)
        if self.average:
            out = out / self.groups
        return out + self.pixel_bias

    def _composite(self, out: Tensor) -> Tensor:
        """Occlusion-style composition: per pixel, a softmax over the groups' mask logits and a
        background layer (mask logit 0, colour = the output bias) weighs each layer's colour
        probability; returns the logits of the mixed probability."""
        b, r = out.shape[0], self.resolution
        out = out.reshape(b, self.groups, 4, r, r)
        colour = torch.cat([out[:, :, :3], self.pixel_bias.expand(b, 1, 3, r, r)], 1)
        mask = torch.cat([out[:, :, 3:], out.new_zeros(b, 1, 1, r, r)], 1)
        p = (torch.softmax(mask, 1) * torch.sigmoid(colour)).sum(1).clamp(1e-5, 1 - 1e-5)
        return torch.log(p) - torch.log1p(-p)

    def absorbances(self, out: Tensor) -> Tensor:
        """Each group's non-negative absorbance (B, groups, 3, r, r) from ``group_outputs``."""
        b, r = out.shape[0], self.resolution
        return F.softplus(out.reshape(b, self.groups, 3, r, r))

    def _absorb(self, out: Tensor) -> Tensor:
        return self.through(self.absorbances(out).sum(1))

    def through(self, absorbance: Tensor) -> Tensor:
        """Logits of p = sigmoid(background) * exp(-absorbance) for a summed absorbance
        (B, 3, r, r). The log of p is kept below -1e-5 so that a white pixel's logit stays
        finite."""
        log_p = (F.logsigmoid(self.pixel_bias) - absorbance).clamp(max=-1e-5)
        return log_p - torch.log(-torch.expm1(log_p))


class ObjectDecoder(nn.Module):
    """(B, n * k) -> logits (B, 3, r, r): one slot per object of the scene, each reading only the
    latent blocks of the variables that draw it (``objects``: variable indices per object), the
    slots' absorbances combined on a learned background (``ConvDecoder``'s "absorb")."""

    def __init__(self, resolution: int, n: int, k: int, objects, width: int = 16,
                 hidden: int = 256):
        super().__init__()
        objects = [sorted({int(i) for i in obj}) for obj in objects]
        if not objects or any(not obj or min(obj) < 0 or max(obj) >= n for obj in objects):
            raise ValueError(f"objects must be non-empty lists of variable indices in [0, {n}), "
                             f"got {objects}")
        self.objects, self.n, self.k = objects, int(n), int(k)
        mask = torch.zeros(len(objects), n, k)
        for s, obj in enumerate(objects):
            mask[s, obj] = 1.0
        self.register_buffer("input_mask", mask.reshape(len(objects), n * k))
        self.net = ConvDecoder(resolution, n * k, width, hidden, groups=len(objects),
                               combine="absorb")
        self.resolution = r = self.net.resolution
        # where each slot may draw (1 everywhere until set_regions: the renderer's regions)
        self.register_buffer("regions", torch.ones(len(objects), 1, r, r))

    @property
    def bias_ready(self) -> Tensor:
        return self.net.bias_ready

    def init_output_bias(self, x: Tensor) -> None:
        self.net.init_output_bias(x)

    def _slots_input(self, z: Tensor) -> Tensor:
        return z.reshape(z.shape[0], 1, -1) * self.input_mask  # slot s sees its blocks only

    @torch.no_grad()
    def set_regions(self, regions) -> None:
        """Confine each slot to its object's region ((slots, r, r), 1 where it may draw)."""
        self.regions.copy_(torch.as_tensor(regions, dtype=torch.float32)[:, None])

    def slot_absorbances(self, z: Tensor) -> Tensor:
        """Each object slot's absorbance (B, slots, 3, r, r), zero outside its region."""
        return self.net.absorbances(self.net.group_outputs(self._slots_input(z))) * self.regions

    def background(self) -> Tensor:
        """The scene with every object away (3, r, r), in [0, 1]."""
        return torch.sigmoid(self.net.pixel_bias)

    def forward(self, z: Tensor) -> Tensor:
        return self.net.through(self.slot_absorbances(z).sum(1))


def block_width(width: int, n: int) -> int:
    """Width of each of n per-variable decoders with as many channels in all as one joint decoder
    of ``width`` (so the same cost per step: measured 1.06x of the joint decoder's time)."""
    return max(2, 2 * round(int(width) / int(n) / 2))


def make_decoder(kind: str, resolution: int, n: int, k: int, width: int = 32,
                 per_block: int | None = None, hidden: int = 256,
                 objects=None) -> nn.Module:
    """"joint": one decoder of all n*k dims; "sum"/"mean": n decoders of k dims each (one per
    causal variable), logits summed or averaged (official); "compose": the n decoders paint
    layers composed by per-pixel softmax masks over a background. Each per-variable decoder has
    width ``per_block`` (default ``block_width(width, n)``). "objects": one slot per object of
    the scene (``objects``: the variable indices of each, as the dataset's renderer declares
    them), absorbances on a background (``ObjectDecoder``), each slot ``per_block`` wide
    (default OBJECT_WIDTH)."""
    if kind == "joint":
        return ConvDecoder(resolution, n * k, width, hidden)
    if kind in ("sum", "mean", "compose"):
        w = block_width(width, n) if per_block is None else per_block
        return ConvDecoder(resolution, k, w, hidden, groups=n, average=kind == "mean",
                           compose=kind == "compose")
    if kind == "objects":
        if not objects:
            raise ValueError("decoder 'objects' needs the objects of the scene (the variables "
                             "that draw each one: ImageSCM.objects); this dataset declares none")
        return ObjectDecoder(resolution, n, k, objects, OBJECT_WIDTH if per_block is None
                             else per_block, hidden)
    raise ValueError(f"decoder must be one of {DECODER_KINDS}, got {kind!r}")


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """Per-sample Bernoulli NLL (B,): BCE summed over all pixels (targets in [0, 1]); a recipe
    rescales it (recipes.reconstruction_scale)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


class OfficialMLPEncoder(nn.Module):
    """Size of the official encoder: (C*r*r) -> 900 -> 300 -> 2*z_dim, ELU.

    The official code outputs a mean and a variance but uses only the mean; ``mean_only``
    returns that half (B, z_dim), keeping the layer sizes (and so the cost) the same."""

    def __init__(self, resolution: int = 96, channels: int = 4, z_dim: int = 16,
                 mean_only: bool = False):
        super().__init__()
        self.z_dim, self.mean_only = z_dim, mean_only
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * resolution ** 2, 900), nn.ELU(),
            nn.Linear(900, 300), nn.ELU(), nn.Linear(300, 2 * z_dim))

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out[:, : self.z_dim] if self.mean_only else out


class OfficialMLPDecoder(nn.Module):
    """Size of the official decoder: n MLPs k -> 300 -> 300 -> 1024 -> C*r*r, outputs averaged.

    Returns logits (B, C, r, r). No data-dependent output bias: the official code has none.
    """

    def __init__(self, n: int = 4, k: int = 4, resolution: int = 96, channels: int = 4):
        super().__init__()
        self.n, self.k, self.shape = n, k, (channels, resolution, resolution)
        self.nets = nn.ModuleList(nn.Sequential(
            nn.Linear(k, 300), nn.ELU(), nn.Linear(300, 300), nn.ELU(),
            nn.Linear(300, 1024), nn.ELU(), nn.Linear(1024, channels * resolution ** 2))
            for _ in range(n))

    def forward(self, z: Tensor) -> Tensor:
        z = z.reshape(z.shape[0], self.n, self.k)
        out = torch.stack([net(z[:, i]) for i, net in enumerate(self.nets)]).mean(0)
        return out.reshape(z.shape[0], *self.shape)
