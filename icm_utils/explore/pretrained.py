"""Shipped checkpoints: the recommended recipe's ICM-VAE, ready to explore (``SHIPPED`` names
them: Pendulum and Water flow, and the variants the caused-variable study recommends).

    python -m icm_utils.explore.pretrained --run-dir ~/icm_runs/pretrained    # rebuild all (CPU)
    python -m icm_utils.explore.pretrained --name pendulum --rescore          # re-score a card

For each name, ``pretrained/<name>/`` holds
  - ``icm_vae.pt``: weights only (no optimiser state), with the model and training config;
  - ``probe.pt``: the probe that reads factor values off images (probe.fit_probe);
  - ``card.json``: the training config, the code version (git commit) it was trained with, the
    files' SHA-256, and the counterfactual errors by role next to the do-nothing and simulator
    controls, pooled and for interventions on roots and on caused variables (``card_scores``;
    tests/explore/test_pretrained.py recomputes them from the shipped files).
Every checkpoint loads with ``torch.load(weights_only=True)`` (checkpoint.read_checkpoint): no
arbitrary unpickling, and a file whose hash differs from the card's is refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from icm_utils.core.io import atomic_write_text
from icm_utils.core.paths import PROJECT_ROOT
from icm_utils.data.pendulum import STUDY_NOISE_STD
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.counterfactual_table import score_counterfactuals
from icm_utils.evaluation.probe import Probe, fit_probe
from icm_utils.explore.widgets import InterventionExplorer
from icm_utils.model.models import model_from_config
from icm_utils.model.recipes import RECOMMENDED_RECIPE
from icm_utils.training.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from icm_utils.training.config import TrainConfig
from icm_utils.training.loop import run_config
from icm_utils.training.runs import (
    finished_configs,
    load_run,
    load_training_data,
    noisy_config,
    train_run,
)

PRETRAINED_DIR = PROJECT_ROOT / "pretrained"
# the recommended recipe (docs/counterfactuals.md): its counterfactuals follow the graph
TRAIN = dict(model="icm_vae", recipe=RECOMMENDED_RECIPE, epochs=30, resolution=64, seed=0)
# name -> what the shipped run changes from TRAIN (its folder under pretrained/ has the name)
OBJECTS = {"hparams": {"decoder": "objects"}}  # object slots (docs/counterfactuals.md)
SHIPPED: dict[str, dict] = {
    "pendulum": {"dataset": "pendulum"},
    "flow": {"dataset": "flow"},
    # object slots: interventions on caused variables move their objects alone (the grid)
    "pendulum_objects": {"dataset": "pendulum", **OBJECTS},
    "flow_objects": {"dataset": "flow", **OBJECTS},
    # trained where each shadow carries its own noise (the support ladder's highest level)
    "pendulum_noisy": {"dataset": "pendulum", "noise_std": STUDY_NOISE_STD, **OBJECTS},
}
# the checkpoint the explorer opens for a dataset when none is named: every slider works there
DEFAULT_SHIPPED = {"pendulum": "pendulum_objects", "flow": "flow_objects"}


def shipped_config(name: str) -> TrainConfig:
    """The training config of a shipped checkpoint (TRAIN with the name's changes)."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped checkpoint {name!r}; choose from {list(SHIPPED)}")
    changes = dict(SHIPPED[name])
    noise = changes.pop("noise_std", 0.0)
    cfg = TrainConfig(**{**TRAIN, **changes}).validate()
    return noisy_config(cfg, noise) if noise else cfg
PROBE_EPOCHS = 10
N_UNITS = 200  # held-out units x 12 interventions, as notebook 05 in the quick and one_seed profiles


def files(name: str, root: Path | str = PRETRAINED_DIR) -> dict[str, Path]:
    if name not in SHIPPED:
        raise ValueError(f"no shipped checkpoint {name!r}; choose from {list(SHIPPED)}")
    d = Path(root) / name
    return {"model": d / "icm_vae.pt", "probe": d / "probe.pt", "card": d / "card.json"}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def code_version() -> str:
    """The git commit the package runs from (+ "-dirty" with uncommitted changes), or "unknown"."""
    try:
        run = dict(cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        head = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "icm_utils"], **run).stdout
        return head + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def probe_from_checkpoint(ckpt: dict):
    c = ckpt["config"]
    probe = Probe(c["n_vars"], c["mean"], c["std"], width=c["width"])
    probe.load_state_dict(ckpt["model"])
    return probe.eval()


def _card(name: str, root: Path | str, keys=("model", "probe")) -> dict:
    """A shipped checkpoint's card, once its files (``keys``) match the SHA-256 it records."""
    f = files(name, root)
    if not f["card"].is_file():
        raise CheckpointError(f"no shipped checkpoint at {f['card'].parent}; build it with "
                              f"python -m icm_utils.explore.pretrained --name {name}")
    card = json.loads(f["card"].read_text())
    for key in keys:
        if sha256(f[key]) != card["sha256"][key]:
            raise CheckpointError(f"{f[key]} does not match the SHA-256 in {f['card']}; "
                                  "it was changed after the card was written")
    return card


def load(name: str = "pendulum", root: Path | str = PRETRAINED_DIR):
    """(model, probe, card) of a shipped checkpoint, loaded without unpickling; the files must
    match the SHA-256 recorded in their card."""
    f, card = files(name, root), _card(name, root)
    ckpt = read_checkpoint(f["model"])
    model = model_from_config(ckpt["config"]["model_config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), probe_from_checkpoint(read_checkpoint(f["probe"])), card


def dataset_for(card: dict):
    """The dataset a shipped model was trained on (generated and cached on first use)."""
    return load_training_data(TrainConfig.from_dict(card["train"]))[0]


def shipped_probe(dataset, epochs: int = PROBE_EPOCHS, seed: int = 0,
                  root: Path | str = PRETRAINED_DIR) -> tuple[Probe | None, str | None]:
    """(probe, name) of a shipped probe that ``fit_probe(dataset, epochs=epochs, seed=seed)`` made
    on these very data: its card records the SHA-256 of the images and labels it was fitted on,
    and that equals ``dataset``'s manifest. (None, None) where no shipped probe is."""
    data_sha = dataset.manifest.get("sha256")
    for name in SHIPPED if data_sha else ():
        f = files(name, root)
        if not f["card"].is_file():
            continue
        if json.loads(f["card"].read_text()).get("data_sha256") != data_sha:
            continue
        _card(name, root, keys=("probe",))
        ckpt = read_checkpoint(f["probe"])
        if (ckpt["config"].get("epochs"), ckpt["config"].get("seed")) == (epochs, seed):
            return probe_from_checkpoint(ckpt), name
    return None, None


def probe_for(dataset, n_observational: int | None = None, epochs: int = PROBE_EPOCHS,
              seed: int = 0, reuse: bool = True, progress: bool = False) -> Probe:
    """Notebook 05's probe: ``fit_probe(dataset, n_observational, epochs=epochs, seed=seed)``, or,
    with ``reuse``, the shipped probe that this same call made on the same data (``shipped_probe``;
    on the whole training split only). Says which: the shipped one saves the main job its
    longest step (results/speed/cuts_probe.csv measures what it changes)."""
    if reuse and n_observational is None:
        probe, name = shipped_probe(dataset, epochs, seed)
        if probe is not None:
            print(f"probe: the shipped one (pretrained/{name}/probe.pt), fitted by this call on "
                  f"these data (SHA-256 {dataset.manifest['sha256'][:12]}); "
                  "SHIPPED_PROBE=False fits it anew")
            return probe
    print(f"probe: fitting on {dataset.scm.name}, {epochs} epochs, seed {seed}")
    return fit_probe(dataset, n_observational=n_observational, epochs=epochs, seed=seed,
                     progress=progress)


def explorer(name: str = DEFAULT_SHIPPED["pendulum"], seed: int = 0,
             root: Path | str = PRETRAINED_DIR):
    """An InterventionExplorer on a shipped checkpoint (``SHIPPED``): no training needed."""
    model, probe, card = load(name, root)
    return InterventionExplorer(model, dataset_for(card), probe=probe, seed=seed)


def notebook_explorer(dataset, model=None, probe=None, seed: int = 0):
    """Notebook 05's explorer: on ``model`` (read by ``probe``; for data without a simulator its
    "true counterfactual" panel says why it is absent), or, when no model is given, on the
    shipped checkpoint of the dataset; None, saying why, where none is shipped."""
    if model is not None:
        return InterventionExplorer(model, dataset, probe=probe, seed=seed)
    if not dataset.has_simulator or dataset.scm.name not in DEFAULT_SHIPPED:
        print(f"no explorer: no model given and no shipped checkpoint for "
              f"{dataset.scm.name} (train one: RUN_DIR)")
        return None
    return explorer(DEFAULT_SHIPPED[dataset.scm.name], seed=seed)


def run_explorer(run_dir: Path | str, dataset: str = "pendulum", model: str = "icm_vae",
                 seed: int = 0):
    """An InterventionExplorer on a model trained by the runner or a sweep into ``run_dir``
    (its first finished run of ``model`` on ``dataset``, seed ``seed``)."""
    found = [c for c in finished_configs(run_dir, plain=True)
             if (c.model, c.dataset, c.seed) == (model, dataset, seed)]
    if not found:
        raise FileNotFoundError(f"no finished {model} run on {dataset} (seed {seed}) under "
                                f"{Path(run_dir) / 'models'}")
    cfg = found[0]
    trained = load_run(run_dir, cfg)[0]
    return InterventionExplorer(trained, load_training_data(cfg)[0], seed=seed)


def card_scores(model, probe, ds, n_units: int = N_UNITS, seed: int = 0) -> dict:
    """Counterfactual factor error by role (label std) and image MSE for the model and the
    controls, on ``n_units`` held-out units x 12 interventions (notebook 05's evaluation): pooled
    over every intervention ("all"), and for interventions on roots and on caused variables."""
    cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=seed)
    _, std = ds.label_stats()
    scores = score_counterfactuals({("icm_vae", 0): model}, cfset, probe, std, ds.graph,
                                   scm=ds.scm if ds.scm.noise_std > 0 else None)
    out = {}
    for key, summary in (("all", cf.role_summary(scores)),
                         *((on, g) for on, g in cf.role_summary(scores, by_target=True)
                           .groupby("intervened_on"))):
        out[key] = {row["model"]: {c: round(float(row[c]), 4)
                                   for c in (*cf.COUNTERFACTUAL_ROLES, "image_mse")
                                   if c in row and row[c] == row[c]}
                    for _, row in summary.iterrows()}
    return out


def write_card(name: str, cfg: TrainConfig, model, probe, ds, root: Path | str = PRETRAINED_DIR,
               trained_with: str | None = None, data_sha256: str | None = None) -> dict:
    """Score a shipped model and write its card beside its files (their SHA-256 included);
    ``trained_with``: the code version that trained it (default: this one); ``data_sha256``: the
    content hash of the data it and its probe were fitted on (default: ``ds``'s)."""
    f = files(name, root)
    card = {
        "name": name, "dataset": cfg.dataset, "train": cfg.to_dict(),
        "code_version": trained_with or code_version(), "scored_with": code_version(),
        "command": f"python -m icm_utils.explore.pretrained --name {name}",
        "probe_epochs": PROBE_EPOCHS, "n_units": N_UNITS,
        "data_sha256": data_sha256 or ds.manifest.get("sha256"),  # what both were fitted on
        "counterfactual_error": card_scores(model, probe, ds),
        "sha256": {k: sha256(f[k]) for k in ("model", "probe")},
        "bytes": {k: f[k].stat().st_size for k in ("model", "probe")},
    }
    atomic_write_text(f["card"], json.dumps(card, indent=2, sort_keys=True) + "\n")
    return card


def build_checkpoint(name: str, run_root: Path | str, out: Path | str = PRETRAINED_DIR,
                     progress: bool = True) -> dict:
    """Train (or reuse) a shipped run (``shipped_config``) in ``run_root/<name>``, fit its probe,
    score it and write the shipped files. Returns the card."""
    cfg = shipped_config(name)
    run_root = Path(run_root) / name  # runs that differ only in their decoder get their own folders
    train_run(cfg, run_root, progress=progress)  # resumable; skipped when already done
    model, history = load_run(run_root, cfg)
    ds = load_training_data(cfg)[0]
    probe = fit_probe(ds, epochs=PROBE_EPOCHS, seed=cfg.seed, progress=progress)
    f = files(name, out)
    f["model"].parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(f["model"], model, config=run_config(cfg, model), epoch=cfg.epochs,
                    history=history.to_dict("records"))
    save_checkpoint(f["probe"], probe, config={
        "n_vars": ds.graph.n, "mean": probe.mean.tolist(), "std": probe.std.tolist(),
        "width": probe.net[0].out_channels, "epochs": PROBE_EPOCHS, "seed": cfg.seed})
    return write_card(name, cfg, model, probe, ds, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.explore.pretrained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", nargs="+", default=list(SHIPPED), choices=list(SHIPPED))
    p.add_argument("--run-dir", type=Path, default=Path.home() / "icm_runs" / "pretrained",
                   help="where the training runs live (resumable; outside the work tree)")
    p.add_argument("--out", type=Path, default=PRETRAINED_DIR)
    p.add_argument("--rescore", action="store_true",
                   help="re-score the shipped files and rewrite their cards (no training)")
    a = p.parse_args(argv)
    for name in a.name:
        if a.rescore:
            model, probe, card = load(name, a.out)
            cfg = TrainConfig.from_dict(card["train"])
            card = write_card(name, cfg, model, probe, dataset_for(card), a.out,
                              trained_with=card["code_version"],
                              data_sha256=card.get("data_sha256"))
        else:
            card = build_checkpoint(name, a.run_dir, a.out)
        print(f"[pretrained] {name}: {json.dumps(card['counterfactual_error'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
