"""Training speed: seconds per epoch, images per second and peak memory per model and dataset,
against the official code's architecture (the package's icm_vae with arch="official": MLP
encoder 3*r*r->900->300->32, four MLP decoders 4->300->300->1024->3*r*r, recipe official) on the
same data and batch size. Every row times the package's own model and loss (``loss_terms``); the
official code reads RGBA (an opaque alpha channel), a third more input than this RGB one.

    python scripts/benchmark_training.py                       # 96 px, Pendulum, all models
    python scripts/benchmark_training.py --datasets pendulum flow --resolution 64
    python scripts/benchmark_training.py --resolution 64 --models icm_vae --recipes official elbo
    python scripts/benchmark_training.py --resolution 64 --models icm_vae --recipes independent_noise \
        --levers none channels_last bf16 --batches 40 --repeats 5 \
        --out results/time_to_quality/speed_levers.csv    # the cheap speed levers, side by side

Each configuration runs in a fresh subprocess so its peak resident memory is its own. Seconds per
epoch are extrapolated from `--batches` timed training steps (after 2 warm-up steps) to the
dataset's training split (Pendulum grid: 5,482 images = 86 batches of 64).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

OFFICIAL = "official_size"
# levers join with "+" (channels_last+fused_adam); "compile" wraps the loss in torch.compile
LEVERS = ("none", "channels_last", "bf16", "fused_adam", "channels_last+fused_adam", "compile")


def one(dataset: str, model: str, resolution: int, batches: int, batch_size: int,
        recipe: str = "official", lever: str = "none") -> dict:
    import contextlib

    import torch

    from icm_utils.data.datasets import load_dataset
    from icm_utils.data.images import to_float_images
    from icm_utils.model.models import build_model

    torch.manual_seed(0)
    ds = load_dataset(dataset, resolution=resolution)
    mean, std = ds.label_stats()
    if model == OFFICIAL:
        net = build_model("icm_vae", ds.graph, resolution, label_mean=mean, label_std=std,
                          recipe="official", arch="official")
    else:
        net = build_model(model, ds.graph, resolution, label_mean=mean, label_std=std,
                          recipe=recipe)
    parts = set(lever.split("+"))
    fmt = torch.channels_last if "channels_last" in parts else torch.contiguous_format
    net = net.to(memory_format=fmt)
    cast = (torch.autocast("cpu", dtype=torch.bfloat16) if "bf16" in parts
            else contextlib.nullcontext())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused="fused_adam" in parts or None)
    loss_terms = torch.compile(net.loss_terms) if "compile" in parts else net.loss_terms
    idx = torch.as_tensor(ds.train_idx)
    images = torch.from_numpy(ds.images).permute(0, 3, 1, 2)
    labels = torch.as_tensor(ds.labels)
    n_params = sum(p.numel() for p in net.parameters())
    times = []
    for step in range(batches + 2):
        b = idx[torch.randint(len(idx), (batch_size,))]
        x = to_float_images(images[b]).contiguous(memory_format=fmt)
        t0 = time.perf_counter()
        with cast:
            loss = loss_terms(x, labels[b], alpha=0.1, beta=1.2)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    per_batch = sum(times) / len(times)
    epoch = per_batch * -(-len(idx) // batch_size)
    return {"dataset": dataset, "model": model,
            "recipe": "official" if model == OFFICIAL else recipe, "lever": lever,
            "resolution": resolution, "batch_size": batch_size,
            "params_M": round(n_params / 1e6, 2), "s_per_epoch": round(epoch, 2),
            "isa": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "images_per_s": round(batch_size / per_batch, 1),
            "peak_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    from icm_utils.model.models import MODEL_NAMES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["pendulum"])
    p.add_argument("--models", nargs="+", default=[OFFICIAL, *MODEL_NAMES])
    p.add_argument("--resolution", type=int, default=96)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--recipes", nargs="+", default=["official"],
                   help="training recipes (icm_utils.model.recipes.RECIPES) to time each model under")
    p.add_argument("--levers", nargs="+", default=["none"], choices=LEVERS,
                   help="speed levers to time side by side: channels_last memory format, bf16 "
                        "autocast (CPUs with bf16 support), Adam's fused kernel, torch.compile "
                        "of the loss; '+' joins two")
    p.add_argument("--repeats", type=int, default=1,
                   help="time each configuration this many times (interleaved); the table gives "
                        "the median with the min and max")
    p.add_argument("--out", help="also write the table to this CSV file")
    p.add_argument("--one", nargs=4, metavar=("DATASET", "MODEL", "RECIPE", "LEVER"),
                   help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(*a.one[:2], a.resolution, a.batches, a.batch_size, *a.one[2:])))
        return
    import pandas as pd
    import torch

    from icm_utils.core.utils import cpu_model

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch_size}, "
          f"{a.batches} timed steps per configuration", flush=True)
    rows = []
    jobs = [(d, m, r, lv) for d in a.datasets for m in a.models
            for r in ([a.recipes[0]] if m == OFFICIAL else a.recipes) for lv in a.levers]
    for d, m, r, lv in jobs * a.repeats:  # repeats interleaved, so a slow spell hits every lever
        out = subprocess.run([sys.executable, __file__, "--one", d, m, r, lv, "--resolution",
                              str(a.resolution), "--batches", str(a.batches), "--batch-size",
                              str(a.batch_size)], capture_output=True, text=True)
        if out.returncode:
            print(f"{d}/{m}/{r}/{lv} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    keys = ["dataset", "model", "recipe", "lever", "resolution", "params_M", "isa"]
    spread = df.groupby(keys, sort=False)["s_per_epoch"].agg(["min", "max", "count"])
    df = df.groupby(keys, sort=False).median(numeric_only=True).join(
        spread.add_prefix("s_per_epoch_")).reset_index()
    ref = df[(df.model == OFFICIAL) & (df.lever == "none")].set_index("dataset")["s_per_epoch"]
    df["speedup_vs_official"] = [round(ref.get(d, float("nan")) / s, 1)
                                 for d, s in zip(df.dataset, df.s_per_epoch)]
    df["cpu"] = cpu_model()
    print()
    print(df.to_markdown(index=False) if _has_tabulate() else df.to_string(index=False))
    if a.out:
        df.to_csv(a.out, index=False)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
