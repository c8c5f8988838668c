"""What a training run depends on (``TrainConfig``), validated before any data are made, and the
warm-up weights of each epoch under the run's recipe."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from icm_utils.core.utils import field_errors
from icm_utils.data.circuit import LAYOUT, check_folder
from icm_utils.data.circuit_data import CIRCUIT_MODES
from icm_utils.data.datasets import DATA_MODES
from icm_utils.data.graph import GRAPH_KINDS
from icm_utils.model.models import MODEL_NAMES, hparam_errors
from icm_utils.model.nets import RESOLUTIONS as NET_RESOLUTIONS
from icm_utils.model.recipes import RECIPE_FIELDS, RECIPES, get_recipe, warmup

DATASETS = ("pendulum", "flow", "circuit")


DOWNLOADED = ("circuit",)  # read from TrainConfig.data_dir; the others are generated


@dataclass
class TrainConfig:
    """Everything a run depends on; validated before any data is generated or model built."""

    dataset: str = "pendulum"
    model: str = "icm_vae"
    resolution: int = 64
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    k: int = 4
    recipe: str = "official_joint"  # recipes.RECIPES; hparams named as a recipe field override one
    alpha_max: float | None = None  # None: the recipe's final weights (official 0.1 and 1.2)
    beta_max: float | None = None
    ramp_fraction: float = 94 / 101  # official schedule: weights reach their max at epoch 94 of 101
    n_train: int | None = None  # None: the whole training split; else a seeded subset (smoke runs)
    noise_std: float = 0.0
    data_mode: str = "grid"
    n_random: int = 8000  # samples drawn in "random" data mode
    data_seed: int = 0  # the data stay fixed across training seeds, so seeds can be compared
    graph: str = "true"  # the graph the model is told: misspec.GRAPH_KINDS (scoring uses the truth)
    device: str = "auto"
    hparams: dict = field(default_factory=dict)
    # folder of a downloaded dataset (circuit: its .npz shards); None for generated datasets
    data_dir: str | None = None

    def __post_init__(self):
        if isinstance(self.data_dir, os.PathLike):  # stored as text: configs are JSON
            self.data_dir = os.fspath(self.data_dir)

    def validate(self) -> TrainConfig:
        errors = []
        if self.recipe not in RECIPES:
            errors.append(f"recipe={self.recipe!r} is not one of {sorted(RECIPES)}")
        if self.dataset not in DATASETS:
            errors.append(f"dataset={self.dataset!r} is not one of {DATASETS}")
        if self.model not in MODEL_NAMES:
            errors.append(f"model={self.model!r} is not one of {MODEL_NAMES}")
        errors += field_errors(self, positive_ints=("epochs", "batch_size", "k", "resolution", "n_random"),
                               nonneg_ints=("seed", "data_seed"), positive=("lr",),
                               nonneg_finite=("noise_std",) + tuple(
                                   w for w in ("alpha_max", "beta_max")
                                   if getattr(self, w) is not None))
        if isinstance(self.resolution, int) and self.resolution not in NET_RESOLUTIONS:
            errors.append(f"resolution={self.resolution} is not one the nets take: {NET_RESOLUTIONS}")
        if self.n_train is not None and (not isinstance(self.n_train, int) or self.n_train <= 0):
            errors.append(f"n_train must be None or a positive integer, got {self.n_train!r}")
        if not 0 < self.ramp_fraction <= 1:
            errors.append(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction!r}")

        if self.graph not in GRAPH_KINDS:
            errors.append(f"graph={self.graph!r} is not one of {GRAPH_KINDS}")
        errors += self._data_errors()
        if not isinstance(self.hparams, dict):
            errors.append(f"hparams must be a dict, got {type(self.hparams).__name__}")
        else:
            errors += hparam_errors(self.hparams)
        if errors:
            raise ValueError("invalid training config:\n  - " + "\n  - ".join(errors))
        return self

    def _data_errors(self) -> list[str]:
        """Data mode and folder: a downloaded dataset's folder is checked here (names, keys and
        shapes from the files' headers), so a wrong folder stops a run before any training."""
        if self.dataset not in DOWNLOADED:
            errors = [] if self.data_dir is None else [
                f"data_dir applies to downloaded datasets {DOWNLOADED}; {self.dataset!r} is "
                "generated (leave data_dir None)"]
            if self.data_mode not in DATA_MODES:
                errors.append(f"data_mode={self.data_mode!r} is not one of {DATA_MODES}")
            return errors

        errors = []
        if self.data_mode not in CIRCUIT_MODES:
            errors.append(f"data_mode={self.data_mode!r} is not one of {CIRCUIT_MODES} for {self.dataset}")
        if self.noise_std:
            errors.append(f"noise_std applies to generated datasets; {self.dataset} is downloaded")
        if not isinstance(self.data_dir, str) or not self.data_dir:
            errors.append(f"dataset={self.dataset!r} needs data_dir, the folder of its shards: "
                          f"{LAYOUT}")
        else:
            try:
                check_folder(self.data_dir)
            except (OSError, ValueError) as e:
                errors.append(str(e))
        return errors

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["data_dir"] is None:  # runs recorded before the field existed stay the same run
            del d["data_dir"]
        return d

    def resolved_recipe(self):
        """The recipe this run trains with: ``recipe`` with any recipe fields set in hparams."""
        return get_recipe(self.recipe, **{f: self.hparams[f] for f in RECIPE_FIELDS
                                          if f in self.hparams})

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


def warmup_weights(epoch: int, cfg: TrainConfig) -> tuple[float, float]:
    """alpha, beta for this epoch under the config's recipe's warm-up."""
    r = cfg.resolved_recipe()
    alpha = r.alpha_max if cfg.alpha_max is None else cfg.alpha_max
    beta = r.beta_max if cfg.beta_max is None else cfg.beta_max
    return warmup(epoch, cfg.epochs, alpha, beta, cfg.ramp_fraction, kind=r.warmup)
