"""Execute the notebook series for a named parameter profile: ``python -m icm_utils.reproduce``.

    python -m icm_utils.reproduce                            # quick: the README's main job (<= 10 min)
    python -m icm_utils.reproduce --profile smoke            # seconds per notebook (CI)
    python -m icm_utils.reproduce --profile one_seed         # every notebook, Pendulum, one seed
                                                             # (19 min at 2.6 s per 64-px epoch)
    python -m icm_utils.reproduce --profile paper --publish  # everything, 3 seeds (~5 h, 2 cores)
    python -m icm_utils.reproduce --profile official --publish  # the official protocol (~1 h 45 min)
    python -m icm_utils.reproduce --profile circuit --set DATA_DIR=/data/causal_circuit
                                                             # CausalCircuit (docs/circuit.md; GPU)
    python -m icm_utils.reproduce --profile own --set DATA_DIR=/path/to/your/folder
                                                             # your data (docs/own_data.md)

Every run writes executed notebooks, figures and result tables into one folder
(``runs/<profile>-<timestamp>`` unless ``--out``). Parameters are checked against each
notebook's ``parameters`` cell and validated before anything is executed, by the same function
the notebooks' setup cells call (``training.params.check``).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from icm_utils.core.io import atomic_write_text
from icm_utils.core.links import rewrite_notebook_links
from icm_utils.core.paths import (
    FIGURES_DIR,
    NOTEBOOKS_DIR,
    PROJECT_ROOT,
    RESULTS_DIR,
    RUNS_DIR,
    ensure_dir,
)
from icm_utils.core.utils import cpu_model
from icm_utils.model.models import MODEL_NAMES
from icm_utils.model.recipes import DEFAULT_RECIPE, RECOMMENDED_RECIPE
from icm_utils.training import params as params_schema
from icm_utils.training.params import ParameterError, parse_overrides
from icm_utils.training.runs import finished_configs

NOTEBOOKS = ("01_data", "02_model", "03_training", "04_identifiability", "05_counterfactuals",
             "06_misspecification")

_ALL_MODELS = list(MODEL_NAMES)
_KEY_MODELS = ["icm_vae", "icm_vae_noprior", "beta_vae", "causal_vae"]
# ICM-VAE told each graph of misspec.GRAPH_KINDS; the `true` run is 04's, reused
_MISSPEC = {"DATASET": "pendulum", "EPOCHS": 30, "N_TRAIN": None, "RESOLUTION": 64,
            "N_UNITS": 200, "PROBE_EPOCHS": 10, "N_PROBE": None, "SCHEDULER": "local",
            "SYNTH_EPOCHS": 100, "SYNTH_SEEDS": [0, 1, 2]}

# Per-notebook overrides of the notebooks' own (smoke) defaults. Sweeps go to an embedded Dask
# LocalCluster (SCHEDULER="local"): with Dask's malloc trimming turned off for its workers
# (sweep.local_cluster) a run there measured within ~8% of in-process on 2 cores (22.8 s vs
# 21 s for 4 Pendulum epochs). --set SCHEDULER=tcp://host:8786 sends them to a remote cluster,
# SCHEDULER=sync keeps them in the notebook's process.
# The recommended recipe for ICM-VAE (docs/counterfactuals.md, beyond the paper); the
# CausalVAE-style baseline keeps the paper-faithful default, as in results/causal_cf/.
RECOMMENDED = {"icm_vae": RECOMMENDED_RECIPE, "causal_vae": DEFAULT_RECIPE}
# quick: the README's main job. The two models on the whole Pendulum grid at 64 px, QUICK_EPOCHS
# chosen from the time-to-quality curve (results/time_to_quality/); one seed, no Dask. It leaves
# 04's synthetic SCM and theorem to the longer profiles (SYNTHETIC=False), and 05 reads the shipped
# probe that its own fit would make on the same data (results/speed/cuts_probe.csv).
QUICK_EPOCHS = 15
_QUICK = {"EPOCHS": QUICK_EPOCHS, "N_TRAIN": None, "RESOLUTION": 64, "RECIPE": RECOMMENDED}
_QUICK_MODELS = ["icm_vae", "causal_vae"]

PROFILES: dict[str, dict[str, dict]] = {
    "quick": {
        "01_data": {"RESOLUTION": 64},
        "02_model": {},
        "03_training": {"DATASET": "pendulum", "MODEL": "icm_vae", **_QUICK},
        "04_identifiability": {"DATASETS": ["pendulum"], "MODELS": _QUICK_MODELS, "SEEDS": [0],
                               "SCHEDULER": "sync", "SYNTHETIC": False, **_QUICK},
        "05_counterfactuals": {"DATASET": "pendulum", "MODELS": _QUICK_MODELS, "SEEDS": [0],
                               "N_UNITS": 200, "PROBE_EPOCHS": 10, "N_PROBE": None,
                               "NOISE_STD": 0, **_QUICK},
    },
    "smoke": {nb: {} for nb in NOTEBOOKS},
    # every notebook on Pendulum with one seed, the paper's recipe (official_joint)
    "one_seed": {
        "01_data": {"RESOLUTION": 64},
        "02_model": {},
        "03_training": {"DATASET": "pendulum", "MODEL": "icm_vae", "EPOCHS": 30, "N_TRAIN": None,
                        "RESOLUTION": 64},
        "04_identifiability": {"DATASETS": ["pendulum"], "MODELS": _KEY_MODELS, "SEEDS": [0],
                               "EPOCHS": 30, "N_TRAIN": None, "RESOLUTION": 64,
                               "SCHEDULER": "local", "SYNTH_EPOCHS": 100,
                               "SYNTH_SEEDS": [0, 1, 2]},
        "05_counterfactuals": {"DATASET": "pendulum", "MODELS": _KEY_MODELS, "SEEDS": [0],
                               "EPOCHS": 30, "N_TRAIN": None, "RESOLUTION": 64, "N_UNITS": 200,
                               "PROBE_EPOCHS": 10, "N_PROBE": None},
        "06_misspecification": {**_MISSPEC, "SEEDS": [0]},
    },
    "paper": {
        "01_data": {"RESOLUTION": 64},
        "02_model": {},
        "03_training": {"DATASET": "pendulum", "MODEL": "icm_vae", "EPOCHS": 30, "N_TRAIN": None,
                        "RESOLUTION": 64},
        "04_identifiability": {"DATASETS": ["pendulum", "flow"], "MODELS": _ALL_MODELS,
                               "SEEDS": [0, 1, 2], "EPOCHS": 30, "N_TRAIN": None,
                               "RESOLUTION": 64, "SCHEDULER": "local", "SYNTH_EPOCHS": 100,
                               "SYNTH_SEEDS": [0, 1, 2]},
        "05_counterfactuals": {"DATASET": "pendulum", "MODELS": _ALL_MODELS, "SEEDS": [0, 1, 2],
                               "EPOCHS": 30, "N_TRAIN": None, "RESOLUTION": 64, "N_UNITS": 300,
                               "PROBE_EPOCHS": 10, "N_PROBE": None},
        "06_misspecification": {**_MISSPEC, "SEEDS": [0, 1, 2], "N_UNITS": 300},
    },
}


# The official protocol on Pendulum (the official code's objective and schedule, 101 epochs,
# 96 px, batch 64) for icm_vae and causal_vae over three seeds, with the workbook's conv nets:
# the official MLPs are about 20x slower per epoch here (README, benchmarks). Images are RGB (the
# official PNGs are RGBA with an opaque alpha channel, which carries nothing).
_OFFICIAL = {"EPOCHS": 101, "N_TRAIN": None, "RESOLUTION": 96, "BATCH_SIZE": 64,
             "RECIPE": "official"}
PROFILES["official"] = {
    "04_identifiability": {"DATASETS": ["pendulum"], "MODELS": ["icm_vae", "causal_vae"],
                           "SEEDS": [0, 1, 2], "SCHEDULER": "local", "SYNTH_EPOCHS": 100,
                           "SYNTH_SEEDS": [0, 1, 2], **_OFFICIAL},
    "05_counterfactuals": {"DATASET": "pendulum", "MODELS": ["icm_vae", "causal_vae"],
                           "SEEDS": [0, 1, 2], "N_UNITS": 200, "PROBE_EPOCHS": 10,
                           "N_PROBE": None, "NOISE_STD": 0, **_OFFICIAL},
}


# CausalCircuit with the official code's settings (experiments/train_circuit.py): 128 px RGB,
# k = 32 per variable, batch 100, 100 epochs, beta -> 0.05, the official recipe (per-variable
# decoders averaged). Only 03-05: the data are downloaded, not generated (01), and 02 shows the
# model on generated data. DATA_DIR must be set (--set DATA_DIR=...); CIRCUIT_MODE
# "official" trains on the official code's regime-filtered states instead (docs/circuit.md).
_CIRCUIT = {"EPOCHS": 100, "N_TRAIN": None, "RESOLUTION": 128, "BATCH_SIZE": 100, "K": 32,
            "RECIPE": "official", "BETA_MAX": 0.05, "DATA_DIR": None, "CIRCUIT_MODE": "grid"}
_CIRCUIT_MODELS = ["icm_vae", "beta_vae"]
PROFILES["circuit"] = {
    "03_training": {"DATASET": "circuit", "MODEL": "icm_vae", **_CIRCUIT},
    "04_identifiability": {"DATASETS": ["circuit"], "MODELS": _CIRCUIT_MODELS, "SEEDS": [0],
                           "SCHEDULER": "sync", "SYNTH_EPOCHS": 100, **_CIRCUIT},
    "05_counterfactuals": {"DATASET": "circuit", "MODELS": _CIRCUIT_MODELS, "SEEDS": [0],
                           "N_UNITS": 250, "PROBE_EPOCHS": 10, "N_PROBE": 10000, **_CIRCUIT},
}


# Your own data (docs/own_data.md): the folder shown in 01, ICM-VAE under the recommended recipe
# and the CausalVAE-style baseline trained on it (03, 04), identifiability with the labels as the
# factors, and counterfactuals scored with what the graph tells without a simulator (05). DATA_DIR
# must be set (--set DATA_DIR=...); the runs' settings are the quick profile's.
_OWN_RUN = {**_QUICK, "DATA_DIR": None}
PROFILES["own"] = {
    "01_data": {"RESOLUTION": 64, "DATA_DIR": None},
    "03_training": {"DATASET": "own", "MODEL": "icm_vae", **_OWN_RUN},
    "04_identifiability": {"DATASETS": ["own"], "MODELS": _QUICK_MODELS, "SEEDS": [0],
                           "SCHEDULER": "sync", "SYNTH_EPOCHS": 30, "SYNTH_SEEDS": [0],
                           **_OWN_RUN},
    "05_counterfactuals": {"DATASET": "own", "MODELS": _QUICK_MODELS, "SEEDS": [0],
                           "N_UNITS": 200, "PROBE_EPOCHS": 10, "N_PROBE": None, "NOISE_STD": 0,
                           **_OWN_RUN},
}


def notebook_path(name: str) -> Path:
    return NOTEBOOKS_DIR / f"{name}.ipynb"


def declared_parameters(name: str) -> dict:
    """The names and default values in a notebook's ``parameters`` cell (read statically)."""
    import nbformat

    nb = nbformat.read(notebook_path(name), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            out = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[node.targets[0].id] = None
            return out
    raise ParameterError(f"notebook {name} has no cell tagged 'parameters'")


def plan(profile: str, overrides: dict | None = None, only: list[str] | None = None,
         out: Path | None = None) -> list[tuple[str, dict]]:
    """(notebook, parameters) pairs to execute; every name and value checked up front."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; choose from {list(PROFILES)}")
    names = list(only) if only else [n for n in NOTEBOOKS if n in PROFILES[profile]]
    for n in names:
        if n not in NOTEBOOKS:
            raise ParameterError(f"unknown notebook {n!r}; choose from {list(NOTEBOOKS)}")
    steps = []
    for n in names:
        declared = declared_parameters(n)
        params = dict(PROFILES[profile].get(n, {}))
        # Overrides apply to every notebook that declares the name.
        params.update({k: v for k, v in (overrides or {}).items() if k in declared})
        if isinstance(params.get("DATA_DIR"), str):  # absolute: notebooks run from notebooks/
            params["DATA_DIR"] = str(Path(params["DATA_DIR"]).expanduser().resolve())
        if out is not None:
            params.update({k: str(v) for k, v in
                           (("RUN_DIR", out), ("FIG_DIR", out / "figures")) if k in declared})
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ParameterError(f"{n}: unknown parameter(s) {unknown}; it declares {sorted(declared)}")
        params_schema.check({**declared, **params}, where=n)  # what the notebook's setup checks
        steps.append((n, params))
    stray = sorted(set(overrides or {}) - {k for n in names for k in declared_parameters(n)})
    if stray:
        raise ParameterError(f"--set names parameter(s) {stray} that no selected notebook declares")
    return steps


class _Echo:
    """Papermill's sink for one of the kernel's output streams: each complete line a cell prints
    goes to ``stream`` as it arrives, after a "  <notebook> | " prefix. Of a line that a text
    progress bar redraws with carriage returns only its last state is kept, and nothing when that
    is blank (a tqdm bar with leave=False); bars shown as widgets are not streams at all."""

    def __init__(self, name: str, stream):
        self.prefix, self.stream, self.buf = f"  {name} | ", stream, ""

    def write(self, text: str) -> None:
        *lines, self.buf = (self.buf + text).split("\n")
        for line in lines:
            self._emit(line)
        cut = self.buf.rfind("\r", 0, len(self.buf) - 1)  # drop the states a redraw replaced
        if cut > 0:
            self.buf = self.buf[cut:]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._emit(self.buf)
        self.buf = ""

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r").rsplit("\r", 1)[-1].rstrip()
        if line:
            self.stream.write(self.prefix + line + "\n")
            self.stream.flush()


def _kernel_config():
    """The kernel manager's config: CurveZMQ keys for the kernel where jupyter_client, pyzmq and
    the kernelspec support them. The kernel then talks to papermill encrypted, and ipykernel >= 7
    no longer prints "Kernel is running over TCP without encryption..." on the terminal at each
    notebook's start."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config()


def execute(src: Path, dst: Path, params: dict, name: str) -> None:
    """Execute one notebook with papermill, showing what its cells print on this terminal as
    they run (a sweep prints a line per finished run), not the per-batch bars."""
    import papermill as pm

    out, err = _Echo(name, sys.stdout), _Echo(name, sys.stderr)
    try:
        pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name="python3",
                            cwd=str(NOTEBOOKS_DIR), progress_bar=False, stdout_file=out,
                            stderr_file=err, config=_kernel_config())
    finally:
        out.close()
        err.close()


def publish_figures_dir(profile: str) -> Path:
    """Where --publish puts a profile's figures: the README's figures (figures/) come from the
    paper profile; any other profile gets figures/<profile>/ so it never overwrites them."""
    return FIGURES_DIR if profile == "paper" else FIGURES_DIR / profile


# the parameters a profile's notebooks share by design (tests/test_reproduce.py), stated flat
SHARED = ("RESOLUTION", "EPOCHS", "N_TRAIN", "BATCH_SIZE", "SEEDS", "N_UNITS", "PROBE_EPOCHS")


def run_settings(profile: str, steps: list[tuple[str, dict]]) -> dict:
    """What a profile's run executed with: every notebook's parameters (its defaults and the
    profile's), and the shared ones flat (lower-case names), for the report to state."""
    full = {n: {k: v for k, v in {**declared_parameters(n), **p}.items()
                if k not in ("RUN_DIR", "FIG_DIR")} for n, p in steps}
    flat = {k.lower(): v for params in full.values() for k, v in params.items() if k in SHARED}
    return {"study": f"python -m icm_utils.reproduce --profile {profile}", **flat,
            "parameters": full}


SMOKE_NOTE = "> **Stored outputs are smoke runs.**"  # the first line of 03-06's stored notes


def published_notebook(nb: dict, profile: str) -> dict:
    """An executed notebook as ``--publish`` keeps it for readers in results/<profile>/notebooks/:
    its relative links rewritten for that folder, its note on smoke outputs replaced by the
    profile that ran it."""
    dest = PROJECT_ROOT / "results" / profile / "notebooks"
    nb = rewrite_notebook_links(nb, NOTEBOOKS_DIR, dest, PROJECT_ROOT)
    results = os.path.relpath(PROJECT_ROOT / "docs" / "results.md", dest).replace(os.sep, "/")
    note = (f"> **Executed by the `{profile}` profile** (`python -m icm_utils.reproduce --profile "
            f"{profile}`): the outputs below are that run's; its parameters are in the cell "
            f"tagged `injected-parameters`. Every table over three seeds, with its control rows: "
            f"[docs/results.md]({results}).")
    for cell in nb.get("cells", [])[:1]:
        lines = cell["source"].splitlines(keepends=True) if isinstance(cell["source"], str) \
            else list(cell["source"])
        lines = [note + "\n" * line.endswith("\n") if line.startswith(SMOKE_NOTE) else line
                 for line in lines]
        cell["source"] = "".join(lines) if isinstance(cell["source"], str) else lines
    return nb


def publish_run(out: Path | str, profile: str) -> None:
    """Copy a finished run folder's tables, figures and executed notebooks to where the documents
    read them (results/<profile>/, ``publish_figures_dir``): what --publish does at the end of a
    run, callable on a folder an earlier run left (e.g. one timed from a fresh clone)."""
    out = Path(out)
    figures = publish_figures_dir(profile)
    for src, dest in ((out / "results", RESULTS_DIR / profile), (out / "figures", figures)):
        dest.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*"):
            if f.is_file():
                shutil.copy2(f, dest / f.name)
    dest = ensure_dir(RESULTS_DIR / profile / "notebooks")
    for f in out.glob("*.ipynb"):
        nb = published_notebook(json.loads(f.read_text()), profile)
        atomic_write_text(dest / f.name, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(f"[reproduce] published tables and executed notebooks to {RESULTS_DIR / profile}, "
          f"figures to {figures}")


def run(profile: str, out: Path | None = None, overrides: dict | None = None,
        only: list[str] | None = None, inplace: bool = False, publish: bool = False) -> Path:
    if inplace:
        if profile != "smoke" or overrides:
            raise ParameterError("--inplace stores outputs of the notebooks' own defaults: "
                                 "use it with --profile smoke and no --set")
        steps = plan(profile, None, only, None)
    else:
        # absolute: the notebooks execute with notebooks/ as their working directory
        out = Path(out).resolve() if out else RUNS_DIR / f"{profile}-{time.strftime('%Y%m%d-%H%M%S')}"
        steps = plan(profile, overrides, only, out)
        for sub in ("figures", "results"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    times = []
    for name, params in steps:
        src = notebook_path(name)
        dst = src if inplace else out / src.name
        print(f"[reproduce] {name}: {params or 'notebook defaults'}", flush=True)
        t0 = time.perf_counter()
        execute(src, dst, params, name)
        times.append({"notebook": name, "seconds": round(time.perf_counter() - t0, 1)})
        print(f"[reproduce] {name} done in {times[-1]['seconds']:.0f} s -> {dst}", flush=True)
    if inplace:
        return NOTEBOOKS_DIR
    # what the run cost, where: the README's times are read from this table (report.run_times);
    # what it ran with: the report states these settings beside the run's numbers
    pd.DataFrame(times).assign(profile=profile, cpu=cpu_model(), cores=os.cpu_count()).to_csv(
        out / "results" / "notebook_times.csv", index=False)
    atomic_write_text(out / "results" / "study.json",
                      json.dumps(run_settings(profile, steps), indent=1) + "\n")
    if publish:
        publish_run(out, profile)
    print(f"[reproduce] run folder: {out} (executed notebooks; tables in results/, figures in "
          f"figures/, trained runs in models/)")
    icm = [c for c in finished_configs(out, plain=True) if c.model == "icm_vae"]
    if icm:
        print("[reproduce] explore the ICM-VAE it trained, in JupyterLab (`.venv/bin/jupyter lab`):\n"
              f"    from icm_utils.explore.pretrained import run_explorer; "
              f"run_explorer({str(out)!r}, {icm[0].dataset!r}, seed={icm[0].seed})")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.reproduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick", help=f"one of {list(PROFILES)} (default: quick)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<profile>-<time>)")
    p.add_argument("--only", nargs="+", help="run only these notebooks, e.g. 03_training")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override a parameter in every notebook that declares it, e.g. EPOCHS=5")
    p.add_argument("--inplace", action="store_true",
                   help="execute the notebooks in place with their defaults (refresh stored outputs)")
    p.add_argument("--publish", action="store_true",
                   help="copy the run's result tables and executed notebooks into results/<profile>/ "
                        "and its figures into figures/ (paper profile) or figures/<profile>/")
    a = p.parse_args(argv)
    try:
        run(a.profile, a.out, parse_overrides(a.set), a.only, a.inplace, a.publish)
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
