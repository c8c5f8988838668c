"""Sweeps: many runs dispatched locally or on Dask, with one line per finished run and a heartbeat
for long ones. Run folders, training one run and loading it are ``runs``."""
from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from icm_utils.training.config import TrainConfig
from icm_utils.training.health import duration, run_divergence
from icm_utils.training.runs import run_dir_for, run_ident, train_run


def _safe_run(cfg_dict: dict, root: str, threads: int | None) -> dict:
    """Worker entry point: never raises, so one failed run cannot take the sweep down."""
    cfg = TrainConfig.from_dict(cfg_dict)
    try:
        r = train_run(cfg, root, progress=False, threads=threads)
        return {**r, "diverged_at": run_divergence(r["run_dir"])}
    except Exception as e:  # reported in the sweep's table, with the traceback kept on disk
        rd = run_dir_for(root, cfg)
        rd.mkdir(parents=True, exist_ok=True)
        (rd / "error.txt").write_text(traceback.format_exc())
        return {**run_ident(cfg), "status": "failed", "run_dir": str(rd),
                "error": f"{type(e).__name__}: {e}"}


def local_cluster(n_workers: int = 1):
    """A Dask LocalCluster of single-threaded worker processes, fit for torch training.

    Dask's nanny spawns workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand torch's
    large per-step buffers back to the OS and fault them in again: 20 Pendulum steps measured
    2.1 s in such a worker against 1.4 s without it (1.3 s in-process). A dotted key set to None
    removes just that variable (setting the whole dict would merge, not replace).
    """
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=40)


def sweep(cfgs: Iterable[TrainConfig], root: Path | str, scheduler: str = "local",
          n_workers: int = 1, progress: bool = True, heartbeat: float | None = 300):
    """Train independent runs; return a DataFrame of their status.

    scheduler: "local" (an embedded Dask LocalCluster of `n_workers` processes sharing this
    machine's cores), "sync" (in this process, one after another), or a Dask scheduler address
    ("tcp://host:8786"). One worker is the default: on 2 cores, two single-threaded runs in
    parallel were slower than one after the other with both threads (and a lone last run then
    idles a core); raise `n_workers` on machines with many cores.
    Finished runs are skipped; a failed run is reported and does not stop the others.
    Each run prints one line when it ends, bar or not (``python -m icm_utils.reproduce`` shows
    these lines on the terminal while a notebook's sweep runs), and every `heartbeat` seconds
    one line per running run whose epoch advanced (None: no such lines).
    """
    cfgs = [c.validate() for c in cfgs]
    keys = [run_dir_for(root, c) for c in cfgs]
    if len(set(keys)) != len(keys):
        raise ValueError("sweep has duplicate (dataset, model, seed) runs; they would share a folder")
    root = str(root)
    with Heartbeat([(f"{c.dataset} {c.model} seed {c.seed}", k) for c, k in zip(cfgs, keys)],
                   every=heartbeat):
        if scheduler == "sync":
            results = []
            for c in tqdm(cfgs, disable=not progress):
                results.append(_safe_run(c.to_dict(), root, None))
                _report(len(results), len(cfgs), results[-1])
            return pd.DataFrame(results)
        results = _dask_sweep(cfgs, root, scheduler, n_workers, progress)
    order = {str(k): i for i, k in enumerate(keys)}
    return pd.DataFrame(sorted(results, key=lambda r: order[r["run_dir"]]))


def _dask_sweep(cfgs: list[TrainConfig], root: str, scheduler: str, n_workers: int,
                progress: bool) -> list[dict]:
    from dask.distributed import Client, as_completed

    threads = None
    if scheduler == "local":
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    else:
        cluster, client = None, Client(scheduler)
    try:
        futures = [client.submit(_safe_run, c.to_dict(), root, threads, pure=False) for c in cfgs]
        results = []
        for fut in tqdm(as_completed(futures), total=len(futures), disable=not progress):
            results.append(fut.result())
            _report(len(results), len(futures), results[-1])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


class Heartbeat:
    """Every `every` seconds, one line per run whose ``progress.json`` moved on since the last
    line: "[sweep] running pendulum icm_vae seed 1: epoch 12/101, 26 s/epoch, loss 1.31, about
    39 min left". A 45-minute run otherwise prints nothing until it ends. Only files written after
    the heartbeat started count, so a queued run's leftover from an interrupted sweep is silent.
    The files are read where the sweep runs: workers on other machines need a shared file system
    for these lines (their end-of-run lines come back regardless).
    """

    def __init__(self, runs: list[tuple[str, Path]], every: float | None = 300):
        if every is not None and not every > 0:
            raise ValueError(f"heartbeat must be a positive number of seconds or None, got {every!r}")
        self.runs, self.every = runs, every
        self.seen: dict[Path, int] = {}
        self.since = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if self.every:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for line in self.lines():
                tqdm.write(line)

    def lines(self) -> list[str]:
        out = []
        for name, rd in self.runs:
            p = Path(rd) / "progress.json"
            try:
                # 2 s of slack: file times come from a coarse clock that lags time.time()
                if (Path(rd) / "done.json").exists() or p.stat().st_mtime < self.since - 2:
                    continue
                pr = json.loads(p.read_text())
                epoch, epochs, secs, loss = (pr[k] for k in ("epoch", "epochs", "epoch_seconds",
                                                             "loss"))
                line = (f"[sweep] running {name}: epoch {epoch}/{epochs}, {secs:.0f} s/epoch, "
                        f"loss {loss:.4g}, about {duration((epochs - epoch) * secs)} left")
            except (OSError, ValueError, KeyError, TypeError):  # not started yet, or not ours
                continue
            if self.seen.get(Path(rd)) == epoch:
                continue
            self.seen[Path(rd)] = epoch
            out.append(line)
        return out


def _report(i: int, n: int, r: dict) -> None:
    """The line a run prints when it ends: "[sweep] 2/4 pendulum beta_vae seed 0: done in 95 s,
    final loss 4.36"."""
    if r["status"] == "done":
        how = f"done in {r['seconds']:.0f} s, final loss {r['final_loss']:.4g}"
    elif r["status"] == "failed":
        how = f"FAILED ({r['error']}); traceback in {r['run_dir']}/error.txt"
    else:
        how = "finished earlier, skipped"
    if r.get("diverged_at"):
        how += f"; DIVERGED at epoch {r['diverged_at']} (python -m icm_utils.training.health)"
    tqdm.write(f"[sweep] {i}/{n} {r['dataset']} {r['model']} seed {r['seed']}: {how}")
