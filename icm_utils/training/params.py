"""Notebook parameters: the one schema behind every notebook's parameter cell and the runner's
up-front check.

A parameter is either a training parameter, mapped onto a ``TrainConfig`` field and checked by
building the notebook's run configs (``TrainConfig.problems`` is the only list of a run's rules),
or a study setting (held-out units, probe epochs, a scheduler...), checked here. ``check`` is what
``reproduce.plan`` calls for every notebook before anything executes; ``setup`` is the one call
of a notebook's first code cell, so both read the same rules.

    run = setup(globals())        # in a notebook, right after its parameters cell
    run.cfgs, run.run_dir, run.fig_dir, run.results
"""
from __future__ import annotations

import ast
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from icm_utils.core.paths import RUNS_DIR, ensure_dir
from icm_utils.core.utils import seed_everything
from icm_utils.data.circuit_data import CIRCUIT_MODES
from icm_utils.model.models import MODEL_NAMES
from icm_utils.model.recipes import DEFAULT_RECIPE, RECIPES, recipe_for
from icm_utils.training.config import TrainConfig, dataset_fields
from icm_utils.training.synthetic import SynthConfig


class ParameterError(ValueError):
    """A notebook parameter is unknown or has a bad value."""


# training parameter -> the TrainConfig field it sets in every run of the notebook
TRAIN_FIELDS = {"EPOCHS": "epochs", "N_TRAIN": "n_train", "RESOLUTION": "resolution",
                "BATCH_SIZE": "batch_size", "K": "k", "BETA_MAX": "beta_max",
                "HPARAMS": "hparams"}
# the run grid: DATASET(S) x MODEL(S) x GRAPHS x SEED(S); the singular names fix one value
AXES = {"DATASET": "dataset", "DATASETS": "dataset", "MODEL": "model", "MODELS": "model",
        "GRAPHS": "graph", "SEEDS": "seed"}
# TrainConfig field -> the parameters that may have set it (messages name the one present)
_FIELD_PARAMS = {**{f: (p,) for p, f in TRAIN_FIELDS.items()},
                 "dataset": ("DATASET", "DATASETS"), "model": ("MODEL", "MODELS", "FLOW"),
                 "graph": ("GRAPHS",), "seed": ("SEEDS", "SEED"), "recipe": ("RECIPE",),
                 "data_dir": ("DATA_DIR",), "data_mode": ("CIRCUIT_MODE",),
                 "hparams": ("HPARAMS", "RECIPE")}
FLOWS = {"affine": "icm_vae", "spline": "icm_vae_spline"}  # notebook 02's FLOW -> its model


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_int(v) -> str | None:
    return None if _int(v) and v > 0 else "must be a positive integer"


def _optional_positive_int(v) -> str | None:
    return None if v is None or (_int(v) and v > 0) else "must be None or a positive integer"


def _nonneg_int(v) -> str | None:
    return None if _int(v) and v >= 0 else "must be a non-negative integer"


def _nonneg_number(v) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    return None if ok else "must be a finite number >= 0"


def _flag(v) -> str | None:
    return None if isinstance(v, bool) else "must be True or False"


def _list_of(check: Callable | None = None) -> Callable[[object], str | None]:
    def rule(v) -> str | None:
        if not isinstance(v, list) or not v:
            return "must be a non-empty list"
        if len(set(map(repr, v))) != len(v):
            return "must not repeat a value"
        bad = [x for x in v if check is not None and check(x)]
        return f"has bad value(s) {bad}: each {check(bad[0])}" if bad else None
    return rule


def _one_of(allowed) -> Callable[[object], str | None]:
    return lambda v: None if v in allowed else f"must be one of {list(allowed)}"


def _recipe(v) -> str | None:
    if isinstance(v, Mapping):
        bad = sorted(set(v) - set(MODEL_NAMES))
        return (f"names unknown model(s) {bad}; models: {list(MODEL_NAMES)}" if bad else None)
    return None if isinstance(v, str) else (f"must be a recipe {sorted(RECIPES)} or a dict "
                                            "{model: recipe}")


def _scheduler(v) -> str | None:
    ok = v in ("local", "sync") or (isinstance(v, str) and v.startswith("tcp://"))
    return None if ok else "must be 'local', 'sync' or a 'tcp://host:port' address"


def _folder(v) -> str | None:
    return None if v is None or isinstance(v, (str, os.PathLike)) else "must be None or a path"


def _synth(field: str) -> Callable[[object], str | None]:
    def rule(v) -> str | None:
        try:
            SynthConfig(**{field: v}).validate()
        except (ValueError, TypeError) as e:
            return str(e).split("\n  - ")[-1]
        return None
    return rule


def _by_trainconfig(_) -> None:
    """A training parameter's value: checked by the TrainConfigs it builds, nowhere else."""
    return None


# every parameter a notebook may declare, with the check of its value alone; the training
# parameters' values are checked by the TrainConfigs they build (``run_configs``) and only there
# (the axes below are checked for being lists; what they list, by TrainConfig)
SETTINGS: dict[str, Callable[[object], str | None]] = {
    "DATASET": _by_trainconfig, "DATASETS": _list_of(), "MODEL": _by_trainconfig,
    "MODELS": _list_of(), "GRAPHS": _list_of(), "SEED": _nonneg_int,
    "SEEDS": _list_of(_nonneg_int), "RECIPE": _recipe, "FLOW": _one_of(FLOWS),
    "DATA_DIR": _folder, "CIRCUIT_MODE": _one_of(CIRCUIT_MODES),
    **dict.fromkeys(("EPOCHS", "N_TRAIN", "RESOLUTION", "BATCH_SIZE", "K", "BETA_MAX",
                     "HPARAMS"), _by_trainconfig),
    "N_SAMPLES": _positive_int, "N_UNITS": _positive_int, "PROBE_EPOCHS": _positive_int,
    "N_PROBE": _optional_positive_int, "NOISE_STD": _nonneg_number, "SCHEDULER": _scheduler,
    "SYNTH_EPOCHS": _synth("epochs"), "SYNTH_SEEDS": _list_of(_synth("seed")),
    "SYNTHETIC": _flag, "SHIPPED_PROBE": _flag,
    "RUN_DIR": _folder, "FIG_DIR": _folder,
}
PARAMETERS = tuple(SETTINGS)
# the parameters the run grid is built from: a bad one leaves no configs to check
STRUCTURE = {"DATASETS", "MODELS", "GRAPHS", "SEED", "SEEDS", "RECIPE", "FLOW", "DATA_DIR",
             "CIRCUIT_MODE"}


def _axis(p: Mapping, *names: str) -> list | None:
    for name in names:
        if name in p:
            v = p[name]
            return list(v) if name.endswith("S") else [v]
    return None


def _fields(p: Mapping, dataset: str | None) -> dict:
    out = {f: p[name] for name, f in TRAIN_FIELDS.items() if name in p}
    if dataset is not None:
        out.update(dataset_fields(dataset, p.get("DATA_DIR"), p.get("CIRCUIT_MODE", "grid")))
    return out


def run_configs(p: Mapping) -> tuple[list[TrainConfig], list[TrainConfig]]:
    """(the runs a notebook's parameters ask for, unvalidated; every config to check).

    Runs: DATASET(S) x MODEL(S) x GRAPHS x SEEDS (SEED where a notebook trains one run), each
    model under its RECIPE (a name, or {model: name}). A notebook that trains nothing (01, 02)
    has no runs, but its RESOLUTION, K and FLOW still make one config to check, since the
    later notebooks build nets from them."""
    datasets = _axis(p, "DATASETS", "DATASET")
    models = _axis(p, "MODELS", "MODEL") or (["icm_vae"] if "GRAPHS" in p else None)
    if models is None:  # nothing trained: check what the notebook builds and reads
        model = FLOWS.get(p.get("FLOW"), "icm_vae")
        checked = [TrainConfig(dataset=(datasets or ["pendulum"])[0], model=model,
                               **_fields(p, None))]
        if p.get("DATA_DIR"):  # a folder of your own shown beside the built-in data (01)
            checked.append(TrainConfig(dataset="own", **_fields(p, "own")))
        return [], checked
    seeds = _axis(p, "SEEDS") or _axis(p, "SEED") or [0]
    graphs = _axis(p, "GRAPHS") or ["true"]
    runs = [TrainConfig(dataset=d, model=m, graph=g, seed=s,
                        recipe=recipe_for(p.get("RECIPE", DEFAULT_RECIPE), m), **_fields(p, d))
            for d in datasets or ["pendulum"] for m in models for g in graphs for s in seeds]
    return runs, runs


def _param_for(field: str, p: Mapping) -> str:
    names = _FIELD_PARAMS.get(field, ())
    present = [n for n in names if n in p]
    return present[0] if present else (names[0] if names else field.upper())


def check(params: Mapping, where: str = "") -> list[TrainConfig]:
    """Validate a notebook's parameters (``where``: its name, for the message) and return its
    validated run configs; raise one ParameterError naming every bad parameter and what it
    allows."""
    errors = [f"{k}: unknown parameter; known: {sorted(PARAMETERS)}"
              for k in params if k not in SETTINGS]
    bad = {k for k, v in params.items() if k in SETTINGS and SETTINGS[k](v)}
    errors += [f"{k}={params[k]!r} {SETTINGS[k](params[k])}" for k in params if k in bad]
    runs = []
    if not bad & STRUCTURE:  # the run grid can be built: check every config it holds
        runs, to_check = run_configs(params)
        for cfg in to_check:
            for field, message in cfg.problems():
                line = f"{_param_for(field, params)}: {message}"
                if line not in errors:
                    errors.append(line)
    if errors:
        head = f"bad notebook parameters{f' in {where}' if where else ''}:"
        raise ParameterError(head + "\n  - " + "\n  - ".join(errors))
    return [c.validate() for c in runs]


@dataclass(frozen=True)
class NotebookRun:
    """What a notebook's setup cell returns: its checked parameters, its runs and its folders."""

    params: dict
    cfgs: list[TrainConfig]
    run_dir: Path | None  # None for the notebooks that train nothing (01, 02)
    fig_dir: Path | None  # None: figures/ (save_figure's default)
    results: Path | None
    run_dir_given: bool  # RUN_DIR was set (else the shared runs/notebooks folder)


def setup(namespace: Mapping) -> NotebookRun:
    """Check the parameters found in ``namespace`` (a notebook's ``globals()``), seed everything
    from SEED and resolve the folders: RUN_DIR (default runs/notebooks, shared by 03-06),
    FIG_DIR (default RUN_DIR/figures, or figures/ for notebooks without a RUN_DIR) and
    RUN_DIR/results."""
    params = {k: namespace[k] for k in SETTINGS if k in namespace}
    cfgs = check(params)
    seed_everything(params.get("SEED", 0))
    if "RUN_DIR" not in params:
        fig = params.get("FIG_DIR")
        return NotebookRun(params, cfgs, None, Path(fig) if fig else None, None, False)
    given = params["RUN_DIR"] is not None
    run_dir = Path(params["RUN_DIR"]) if given else RUNS_DIR / "notebooks"
    fig_dir = Path(params["FIG_DIR"]) if params.get("FIG_DIR") else run_dir / "figures"
    return NotebookRun(params, cfgs, run_dir, fig_dir, ensure_dir(run_dir / "results"), given)


def parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` strings -> {KEY: value}: Python literals where they parse (5, None, [0, 1],
    {"a": 1}), else the bare string (pendulum). The one parser of the command lines' overrides."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out
