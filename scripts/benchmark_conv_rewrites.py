"""Exact rewrites of the main job's convolutions, timed against oneDNN's own at the same shapes.

    python scripts/benchmark_conv_rewrites.py --out results/speed/conv_rewrites_avx2.csv

The model's convolutions are stride-2 4x4 (padding 1) convolutions and transposed convolutions at
3-64 channels, batch 64 (``profile_convs.py`` times them in the model). Each layer shape is timed
(median of ``--repeats``, forward alone and forward with backward) as:
  - ``onednn``: F.conv2d / F.conv_transpose2d, oneDNN's kernels (what the model runs);
  - ``aten``: the same call with oneDNN switched off (aten's own im2col kernels);
  - ``subpixel``: a convolution as pixel-unshuffle of the padded input + a 2x2 convolution; a
    transposed one as a 2x2 convolution to 4x the channels + pixel shuffle + crop;
  - ``gemm``: unfold + one matrix product (convolution), or one matrix product + fold
    (transposed convolution);
each in the default (NCHW) and the channels_last layout. Every rewrite is checked to give the
same output (relative error printed in the table).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from icm_utils.core.paths import RESULTS_DIR
from icm_utils.core.utils import cpu_model, median_ms

# (kind, in channels, out channels, input side): the encoder's and the decoder's layers at 64 px
LAYERS = [("conv", 3, 16, 64), ("conv", 16, 32, 32), ("conv", 32, 64, 16), ("conv", 64, 64, 8),
          ("deconv", 64, 64, 4), ("deconv", 64, 32, 8), ("deconv", 32, 16, 16),
          ("deconv", 16, 3, 32)]


def onednn(kind, x, w, b):
    return (F.conv2d(x, w, b, 2, 1) if kind == "conv"
            else F.conv_transpose2d(x, w, b, 2, 1))


def aten(kind, x, w, b):
    with torch.backends.mkldnn.flags(enabled=False):
        return onednn(kind, x, w, b)


def subpixel(kind, x, w, b):
    if kind == "conv":  # out[i] = sum_{q,r} w[2q+r] xpad[2(i+q)+r]: a 2x2 conv over unshuffled
        cout, cin = w.shape[:2]
        k = w.reshape(cout, cin, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(cout, 4 * cin, 2, 2)
        return F.conv2d(F.pixel_unshuffle(F.pad(x, (1, 1, 1, 1)), 2), k, b)
    # y[2m+s-1] = sum_t w[2t+s] x[m-t]: per output parity s, a 2-tap conv (taps flipped)
    cin, cout = w.shape[:2]
    k = w.reshape(cin, cout, 2, 2, 2, 2).flip(2, 4).permute(1, 3, 5, 0, 2, 4)
    z = F.conv2d(x, k.reshape(4 * cout, cin, 2, 2), None, padding=1)
    return F.pixel_shuffle(z, 2)[:, :, 1:-1, 1:-1] + b[:, None, None]


def gemm(kind, x, w, b):
    n, c, h, wd = x.shape
    if kind == "conv":
        cols = F.unfold(x, 4, padding=1, stride=2)
        return (w.reshape(w.shape[0], -1) @ cols + b[:, None]).reshape(n, -1, h // 2, wd // 2)
    cols = w.reshape(c, -1).t() @ x.reshape(n, c, h * wd)
    return F.fold(cols, (2 * h, 2 * wd), 4, padding=1, stride=2) + b[:, None, None]


def time_form(form, kind, x, w, b, grad, repeats):
    def fwd():
        with torch.no_grad():
            form(kind, x, w, b)

    def fwd_bwd():
        w.grad = b.grad = x.grad = None
        form(kind, x, w, b).backward(grad)

    return median_ms(fwd, repeats), median_ms(fwd_bwd, repeats)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "speed" / "conv_rewrites_avx2.csv")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    for i, (kind, cin, cout, side) in enumerate(LAYERS):
        for layout in ("nchw", "channels_last"):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            x = torch.randn(a.batch_size, cin, side, side).contiguous(memory_format=fmt)
            x.requires_grad_(i > 0)  # the image needs no gradient
            shape = (cout, cin, 4, 4) if kind == "conv" else (cin, cout, 4, 4)
            w = torch.randn(shape).contiguous(memory_format=fmt).requires_grad_()
            b = torch.randn(cout, requires_grad=True)
            with torch.no_grad():
                ref = onednn(kind, x, w, b)
            grad = torch.randn_like(ref)
            for form in (onednn, aten, subpixel, gemm):
                with torch.no_grad():
                    err = float((form(kind, x, w, b) - ref).abs().max() / ref.abs().max())
                fwd, both = time_form(form, kind, x, w, b, grad, a.repeats)
                rows.append({"kind": kind, "in_channels": cin, "out_channels": cout,
                             "input_side": side, "layout": layout, "form": form.__name__,
                             "fwd_ms": fwd, "fwd_bwd_ms": both, "relative_error": err})
            print(pd.DataFrame(rows[-4:])[["kind", "in_channels", "out_channels", "layout",
                                           "form", "fwd_ms", "fwd_bwd_ms", "relative_error"]]
                  .round(4).to_string(index=False, header=i == 0 and layout == "nchw"),
                  flush=True)
    df = pd.DataFrame(rows)
    base = df[df["form"] == "onednn"].set_index(["kind", "in_channels", "input_side", "layout"])
    key = ["kind", "in_channels", "input_side", "layout"]
    df["slowdown_vs_onednn"] = df["fwd_bwd_ms"].to_numpy() / base.loc[
        list(df[key].itertuples(index=False, name=None)), "fwd_bwd_ms"].to_numpy()
    df = df.assign(cpu=cpu_model(), isa=torch.backends.cpu.get_cpu_capability().lower(),
                   threads=torch.get_num_threads(), batch_size=a.batch_size)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    total = df.groupby(["form", "layout"])["fwd_bwd_ms"].sum().unstack().round(1)
    print(f"forward + backward over the eight layers, ms:\n{total}\n-> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
