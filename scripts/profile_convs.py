"""How fast each convolution of the main job's model runs, and what the step could gain from them.

    python scripts/profile_convs.py --out results/speed/convs_avx2.csv

Builds the model as ``profile_training.py`` does, records every convolution's input at one
training batch, then times each layer alone at that input, in the model's own memory layout and
weights: the forward, and the forward with its backward (gradients of the weights, and of the
input except for the first layer, as in training). FLOPs come from torch's flop counter, so
GFLOP/s read against the cores' peak. The last row bounds what faster convolutions could give:
every layer at the best rate any of them reached here, the rest of the step as measured (its
``profile_training.py`` table, ``--step-table``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from icm_utils.core.paths import RESULTS_DIR
from icm_utils.core.utils import cpu_model, median_ms
from icm_utils.data.datasets import load_dataset
from icm_utils.data.images import to_float_images
from icm_utils.model.models import build_model
from icm_utils.model.nets import _Up


def flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def time_layer(layer, xin, grad, repeats: int) -> tuple[tuple[float, float], ...]:
    """(ms, FLOPs) of the layer's forward, and of its forward with its backward."""
    def fwd():
        with torch.no_grad():
            layer(xin)

    def fwd_bwd():
        layer.zero_grad(set_to_none=True)
        layer(xin).backward(grad)

    return tuple((median_ms(fn, repeats), flops(fn)) for fn in (fwd, fwd_bwd))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="icm_vae")
    p.add_argument("--recipe", default="independent_noise")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--step-table", type=Path, default=RESULTS_DIR / "speed" / "profile_avx2.csv")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "speed" / "convs_avx2.csv")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    ds = load_dataset("pendulum", resolution=a.resolution)
    mean, std = ds.label_stats()
    net = build_model(a.model, ds.graph, a.resolution, label_mean=mean, label_std=std,
                      recipe=a.recipe)
    idx = torch.as_tensor(ds.train_idx[: a.batch_size])
    x = to_float_images(torch.from_numpy(ds.images[idx]).permute(0, 3, 1, 2))
    u = torch.as_tensor(ds.labels[idx])
    # the encoder's Conv2d and the decoder's transposed convs (_Up: it calls the functional
    # conv with its possibly masked weight, so its own ConvTranspose2d is never called)
    convs = [(name, m) for name, m in net.named_modules()
             if isinstance(m, (nn.Conv2d, _Up))]
    seen: dict[str, torch.Tensor] = {}
    def keep(name):
        def hook(module, inputs, output) -> None:  # None: the output stays the layer's own
            seen.setdefault(name, inputs[0])
        return hook

    hooks = [m.register_forward_hook(keep(name)) for name, m in convs]
    net.loss_terms(x, u, alpha=0.1, beta=1.2)
    for h in hooks:
        h.remove()
    rows = []
    for name, layer in convs:
        if name not in seen:  # a layer this model's forward does not use
            continue
        conv = layer.conv if isinstance(layer, _Up) else layer
        # an input gradient only where training computes one (not for the images)
        xin = seen[name].detach().clone().requires_grad_(seen[name].requires_grad)
        grad = torch.randn_like(layer(xin))

        (ms_fwd, f_fwd), (ms_all, f_all) = time_layer(layer, xin, grad, a.repeats)
        rows.append({"layer": name, "kind": type(conv).__name__, "in_channels": conv.in_channels,
                     "out_channels": conv.out_channels, "input": "x".join(map(str, xin.shape[1:])),
                     "channels_last": xin.is_contiguous(memory_format=torch.channels_last),
                     "fwd_ms": ms_fwd, "bwd_ms": ms_all - ms_fwd, "fwd_GFLOP": f_fwd / 1e9,
                     "bwd_GFLOP": (f_all - f_fwd) / 1e9})
    df = pd.DataFrame(rows)
    df["fwd_GFLOP_per_s"] = df["fwd_GFLOP"] / df["fwd_ms"] * 1e3
    df["bwd_GFLOP_per_s"] = df["bwd_GFLOP"] / df["bwd_ms"] * 1e3
    best = float(max(df["fwd_GFLOP_per_s"].max(), df["bwd_GFLOP_per_s"].max()))
    conv_ms = float(df["fwd_ms"].sum() + df["bwd_ms"].sum())
    conv_gflop = float(df["fwd_GFLOP"].sum() + df["bwd_GFLOP"].sum())
    at_best = conv_gflop / best * 1e3
    step = pd.read_csv(a.step_table)
    step_ms = float(step.loc[step["part"] == "step", "ms_per_step"].iloc[0])
    df = df.assign(cpu=cpu_model(), isa=torch.backends.cpu.get_cpu_capability().lower(),
                   threads=torch.get_num_threads(), batch_size=a.batch_size, model=a.model,
                   recipe=a.recipe, resolution=a.resolution, convs_ms=conv_ms,
                   convs_ms_at_best_rate=at_best, best_GFLOP_per_s=best, step_ms=step_ms,
                   step_ms_at_best_rate=step_ms - conv_ms + at_best,
                   bound_speedup=step_ms / (step_ms - conv_ms + at_best))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    cols = ["layer", "input", "out_channels", "fwd_ms", "bwd_ms", "fwd_GFLOP_per_s",
            "bwd_GFLOP_per_s"]
    print(df[cols].round(2).to_string(index=False))
    print(f"convolutions {conv_ms:.1f} ms of a {step_ms:.1f} ms step ({a.step_table.name}); "
          f"every layer at the best rate seen ({best:.0f} GFLOP/s): {at_best:.1f} ms, so the step "
          f"could reach {step_ms - conv_ms + at_best:.1f} ms, "
          f"{step_ms / (step_ms - conv_ms + at_best):.2f}x -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
