"""Where one training step's time goes, and what share of the CPU's peak it reaches.

    python scripts/profile_training.py                      # icm_vae, independent_noise, 64 px
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python scripts/profile_training.py \
        --out results/speed/profile_avx2_emulated.csv     # an AVX-512 machine held to AVX2

Times ``--steps`` training steps as ``training.loop.train_epoch`` takes them (after 3 warm-up
steps): the batch (gather, uint8 -> float), the forward pass split by module (encoder, the
mechanisms' flow, decoder and likelihood, the prior, the noise-independence penalty), the
backward pass and the optimiser, in ms per step (module hooks; the forward's parts are
exclusive, so they sum to its total). torch.profiler's top operators (forward and backward)
go beside it, and FLOPs per step from ``torch.utils.flop_counter`` give the achieved FLOP/s
against the cores' peak: cores x clock x FP32 FLOP per cycle (32 with AVX2: two 256-bit FMA
units; 64 with AVX-512 on two 512-bit FMA units; Zen 4 runs AVX-512 as two halves, so 32).
Writes two tables (``--out``: the phases, and ``*_ops.csv``: the operators).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from icm_utils.core.paths import RESULTS_DIR
from icm_utils.core.utils import cpu_model
from icm_utils.data.datasets import load_dataset
from icm_utils.data.images import to_float_images
from icm_utils.model.models import build_model


def isa() -> str:
    """The instruction set ATen dispatches to here (``avx512``, ``avx2``, ...)."""
    return torch.backends.cpu.get_cpu_capability().lower()


def clock_ghz() -> float:
    """The cores' clock as /proc/cpuinfo reports it (the current one; NaN where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    return float("nan")


def flop_per_cycle(capability: str, cpu: str) -> int:
    """FP32 FLOP per cycle and core at the dispatched ISA (two FMA units assumed)."""
    if capability.startswith("avx512") and "AMD" not in cpu:
        return 64
    return 32


class Clock:
    """Exclusive forward time per named part: a part's time excludes the parts it calls."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.stack: list[tuple[str, float]] = []

    def enter(self, name: str) -> None:
        now = time.perf_counter()
        if self.stack:
            outer, t0 = self.stack[-1]
            self.seconds[outer] += now - t0
        self.stack.append((name, now))

    def leave(self) -> None:
        now = time.perf_counter()
        name, t0 = self.stack.pop()
        self.seconds[name] += now - t0
        if self.stack:
            self.stack[-1] = (self.stack[-1][0], now)


def _timed(clock: Clock, name: str, fn):
    def wrapper(*a, **k):
        clock.enter(name)
        try:
            return fn(*a, **k)
        finally:
            clock.leave()
    return wrapper


def instrument(net, clock: Clock) -> None:
    """Time the encoder, flow and decoder modules' forward passes (hooks), the prior's KL and the
    independence penalty (wrapped methods), each exclusive of the others."""
    for name in ("encoder", "mechanism", "decoder"):
        mod = getattr(net, name, None)
        if mod is not None:
            mod.register_forward_pre_hook(lambda m, a, name=name: clock.enter(name))
            mod.register_forward_hook(lambda m, a, o: clock.leave())
    if getattr(net, "prior", None) is not None:
        net.prior.kl = _timed(clock, "prior", net.prior.kl)
    if hasattr(net, "noise_dependence"):
        net.noise_dependence = _timed(clock, "independence", net.noise_dependence)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="pendulum")
    p.add_argument("--model", default="icm_vae")
    p.add_argument("--recipe", default="independent_noise")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "speed" / f"profile_{isa()}.csv")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    ds = load_dataset(a.dataset, resolution=a.resolution)
    mean, std = ds.label_stats()
    net = build_model(a.model, ds.graph, a.resolution, label_mean=mean, label_std=std,
                      recipe=a.recipe)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    idx = torch.as_tensor(ds.train_idx)
    images = torch.from_numpy(ds.images).permute(0, 3, 1, 2)
    labels = torch.as_tensor(ds.labels)
    gen = torch.Generator().manual_seed(0)

    def batch():
        b = idx[torch.randint(len(idx), (a.batch_size,), generator=gen)]
        return to_float_images(images[b]), labels[b]

    def step(x, u):
        loss = net.loss_terms(x, u, alpha=0.1, beta=1.2)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step(*batch())
    clock, phases = Clock(), defaultdict(float)
    instrument(net, clock)
    for _ in range(a.steps):
        t0 = time.perf_counter()
        x, u = batch()
        t1 = time.perf_counter()
        clock.enter("forward: rest")
        loss = net.loss_terms(x, u, alpha=0.1, beta=1.2)["loss"]
        clock.leave()
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        for name, dt in (("batch", t1 - t0), ("forward", t2 - t1), ("backward", t3 - t2),
                         ("optimiser", t4 - t3), ("step", t4 - t0)):
            phases[name] += dt
    ms = {k: 1e3 * v / a.steps for k, v in phases.items()}
    fwd = {("forward: " + k if k != "forward: rest" else k): 1e3 * v / a.steps
           for k, v in clock.seconds.items()}
    with FlopCounterMode(display=False) as counter:
        step(*batch())
    flops = counter.get_total_flops()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step(*batch())
    ops = pd.DataFrame([{"operator": e.key, "self_ms_per_step": e.self_cpu_time_total / 5e3,
                         "calls_per_step": e.count / 5}
                        for e in prof.key_averages()]).sort_values("self_ms_per_step",
                                                                  ascending=False)
    ops["share"] = ops["self_ms_per_step"] / ops["self_ms_per_step"].sum()
    cpu, cores, cap, ghz = cpu_model(), torch.get_num_threads(), isa(), clock_ghz()
    peak = cores * ghz * 1e9 * flop_per_cycle(cap, cpu)
    achieved = flops / (ms["step"] / 1e3)
    rows = [{"part": k, "ms_per_step": v} for k, v in
            (("batch", ms["batch"]), *sorted(fwd.items()), ("backward", ms["backward"]),
             ("optimiser", ms["optimiser"]), ("step", ms["step"]))]
    table = pd.DataFrame(rows)
    table["share_of_step"] = table["ms_per_step"] / ms["step"]
    meta = {"model": a.model, "recipe": a.recipe, "dataset": a.dataset,
            "resolution": a.resolution, "batch_size": a.batch_size, "steps": a.steps,
            "cpu": cpu, "isa": cap, "threads": cores, "clock_GHz": round(ghz, 2),
            "GFLOP_per_step": flops / 1e9, "GFLOP_per_s": achieved / 1e9,
            "peak_GFLOP_per_s": peak / 1e9, "fraction_of_peak": achieved / peak,
            "s_per_epoch": ms["step"] / 1e3 * -(-len(idx) // a.batch_size),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "aten_capability_env": os.environ.get("ATEN_CPU_CAPABILITY", ""),
            "torch": torch.__version__, "python": platform.python_version()}
    table = table.assign(**meta)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out, index=False)
    ops.head(25).assign(cpu=cpu, isa=cap).to_csv(a.out.with_name(a.out.stem + "_ops.csv"),
                                                 index=False)
    print(table[["part", "ms_per_step", "share_of_step"]].round(3).to_string(index=False))
    print(ops.head(12).round(3).to_string(index=False))
    print(f"{cpu} ({cap}, {cores} threads, {ghz:.2f} GHz): {flops / 1e9:.2f} GFLOP per step, "
          f"{achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.1f}% of {peak / 1e9:.0f} "
          f"GFLOP/s peak; {meta['s_per_epoch']:.1f} s per epoch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
