"""Seeding, devices and small shared helpers."""
from __future__ import annotations

import math
import os
import platform
import random
import time
from collections.abc import Callable

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch from one integer; return a numpy Generator for local use."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return np.random.default_rng(seed)


def auto_device(device: str | torch.device | None = None) -> torch.device:
    """`None`/"auto" -> cuda when present, else cpu."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers where /proc/cpuinfo has them (a
    virtual machine may only say "AMD EPYC"), for the timings a run reports."""
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in info:
        extra = (f" (family {info['cpu family']}, model {info['model']})"
                 if "cpu family" in info and "model" in info else "")
        return info["model name"] + extra
    return platform.processor() or platform.machine()


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in ms over ``repeats`` calls, after ``warmup`` untimed ones
    (the benchmark scripts' timer: a median, so one slow spell of a shared CPU does not move it)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def as_rng(seed_or_rng: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def field_errors(obj, *, positive_ints=(), nonneg_ints=(), positive=(), nonneg_finite=()) -> list[str]:
    """Messages for a config's fields that break the named rules (shared by every config class)."""
    errs = []
    for name in positive_ints:
        v = getattr(obj, name)
        if not _is_int(v) or v <= 0:
            errs.append(f"{name} must be a positive integer, got {v!r}")
    for name in nonneg_ints:
        v = getattr(obj, name)
        if not _is_int(v) or v < 0:
            errs.append(f"{name} must be a non-negative integer, got {v!r}")
    for name in positive:
        v = getattr(obj, name)
        if not (isinstance(v, (int, float)) and v > 0):
            errs.append(f"{name} must be > 0, got {v!r}")
    for name in nonneg_finite:
        v = getattr(obj, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            errs.append(f"{name} must be a finite number >= 0, got {v!r}")
    return errs
