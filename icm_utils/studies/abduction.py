"""Counterfactuals that need abduction: ICM-VAE on data with mechanism noise.

With ``noise_std > 0`` each caused variable carries its unit's own noise, so a counterfactual
(same unit, its noise kept) differs from an intervention. ``study`` trains (or reuses) ICM-VAE on
such data and scores its counterfactuals on held-out units beside three controls read by the same
probe: doing nothing, the simulator, and ``control:no_abduction`` (the simulator with each unit's
noise set to 0: the right causes, the unit's noise not recovered).

    python -m icm_utils.studies.abduction --run-dir ~/icm_runs/default-official_joint   # ~20 min CPU
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from icm_utils.core.paths import RESULTS_DIR
from icm_utils.data.pendulum import STUDY_NOISE_STD
from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.counterfactual_table import score_counterfactuals
from icm_utils.evaluation.probe import fit_probe
from icm_utils.training.config import TrainConfig
from icm_utils.training.runs import load_run, load_training_data, noisy_config
from icm_utils.training.sweep import sweep

NOISE_STD = STUDY_NOISE_STD  # label units: 0.57 std of shadow length, 0.40 of position (Pendulum)


def config(recipe: str = "official_joint", seed: int = 0, epochs: int = 30,
           noise_std: float = NOISE_STD) -> TrainConfig:
    """The study's run: ICM-VAE on as many noisy random Pendulum samples as the grid, 64 px."""
    return noisy_config(TrainConfig(dataset="pendulum", model="icm_vae", epochs=epochs,
                                    resolution=64, recipe=recipe, seed=seed), noise_std)


def study(root, cfg, n_units: int = 200, probe_epochs: int = 10, n_probe: int | None = None,
          seed: int = 0) -> pd.DataFrame:
    """Train ``cfg`` (a noisy_config) if needed, fit a probe on its data, and return the tidy
    counterfactual rows of the model and the three controls."""
    sweep([cfg], root, scheduler="sync")
    ds = load_training_data(cfg)[0]
    probe = fit_probe(ds, n_observational=n_probe, epochs=probe_epochs, seed=seed)
    return score_noisy({(cfg.model, cfg.seed): load_run(root, cfg)[0]}, ds, probe, n_units, seed)


def score_noisy(models, ds, probe, n_units: int = 200, seed: int = 0) -> pd.DataFrame:
    """Counterfactual rows of ``models`` on ``n_units`` held-out units of data with mechanism
    noise, read by ``probe``, beside the do-nothing, simulator and no-abduction controls (the
    SCM's own noise is what abduction must recover): the one scoring of both abduction studies."""
    cfset = cf.make_counterfactual_set(ds, n_units=n_units, seed=seed)
    _, std = ds.label_stats()
    return score_counterfactuals(models, cfset, probe, std, ds.graph, scm=ds.scm)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m icm_utils.studies.abduction", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=Path.home() / "icm_runs" / "abduction")
    p.add_argument("--noise-std", type=float, default=NOISE_STD)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--n-units", type=int, default=200)
    p.add_argument("--recipe", default="official_joint", help="the training recipe (model.recipes)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "abduction")
    a = p.parse_args(argv)
    cfg = config(a.recipe, 0, a.epochs, a.noise_std)
    scores = study(a.run_dir, cfg, n_units=a.n_units)
    a.out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(a.out / "counterfactual_scores_pendulum_noise.csv", index=False)
    summary = cf.role_summary(scores).assign(noise_std=a.noise_std, recipe=a.recipe)
    summary.to_csv(a.out / "counterfactual_summary_pendulum_noise.csv", index=False)
    print(summary.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
