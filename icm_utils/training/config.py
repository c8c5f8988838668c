"""What a training run depends on (``TrainConfig``), validated before any data are made, and the
warm-up weights of each epoch under the run's recipe."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from icm_utils.core.utils import field_errors
from icm_utils.data.circuit import LAYOUT as CIRCUIT_LAYOUT
from icm_utils.data.circuit import check_folder as check_circuit_folder
from icm_utils.data.circuit_data import CIRCUIT_MODES
from icm_utils.data.datasets import DATA_MODES, SCMS
from icm_utils.data.folder import LAYOUT as FOLDER_LAYOUT
from icm_utils.data.folder import check_folder as check_own_folder
from icm_utils.data.graph import GRAPH_KINDS
from icm_utils.model.models import MODEL_NAMES, hparam_errors
from icm_utils.model.nets import RESOLUTIONS as NET_RESOLUTIONS
from icm_utils.model.recipes import RECIPE_FIELDS, RECIPES, get_recipe, warmup

DATASET_NAMES = ("pendulum", "flow", "circuit", "own")
# read from TrainConfig.data_dir (CausalCircuit's shards, or a user's folder: data.folder); the
# others are generated. Each: (its data modes, what its folder holds, the folder's check)
DOWNLOADED = {"circuit": (CIRCUIT_MODES, f"its shards: {CIRCUIT_LAYOUT}", check_circuit_folder),
              "own": (("grid",), f"your data: {FOLDER_LAYOUT}", check_own_folder)}
# The official CausalCircuit script warms alpha and beta up over 94 of its 100 epochs (Pendulum
# and Water flow: 94 of 101, TrainConfig's default ramp_fraction).
CIRCUIT_RAMP_FRACTION = 94 / 100


def dataset_fields(dataset: str, data_dir: str | None = None, circuit_mode: str = "grid") -> dict:
    """The TrainConfig fields a dataset fixes: for CausalCircuit the shards' folder, its mode and
    the official warm-up length; nothing for a generated dataset, whose configs stay as they were."""
    if dataset == "own":
        return {"data_dir": data_dir}
    if dataset != "circuit":
        return {}
    return {"data_dir": data_dir, "data_mode": circuit_mode,
            "ramp_fraction": CIRCUIT_RAMP_FRACTION}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on; validated (once: ``validate`` remembers) before any data is
    generated or model built. Frozen, so a validated config stays valid."""

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
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) for every field that breaks a rule: the one list of a run's rules
        (the runner and the notebooks map each field back to their parameter)."""
        out = []
        if self.recipe not in RECIPES:
            out.append(("recipe", f"recipe={self.recipe!r} is not one of {sorted(RECIPES)}"))
        if self.dataset not in DATASET_NAMES:
            out.append(("dataset", f"dataset={self.dataset!r} is not one of {DATASET_NAMES}"))
        if self.model not in MODEL_NAMES:
            out.append(("model", f"model={self.model!r} is not one of {MODEL_NAMES}"))
        rules = dict(positive_ints=("epochs", "batch_size", "k", "resolution", "n_random"),
                     nonneg_ints=("seed", "data_seed"), positive=("lr",),
                     nonneg_finite=("noise_std",) + tuple(w for w in ("alpha_max", "beta_max")
                                                          if getattr(self, w) is not None))
        for kind, names in rules.items():
            for name in names:
                out += [(name, m) for m in field_errors(self, **{kind: (name,)})]
        if _is_int(self.resolution) and self.resolution not in NET_RESOLUTIONS:
            out.append(("resolution", f"resolution={self.resolution} is not one the nets take: "
                                      f"{NET_RESOLUTIONS}"))
        if self.n_train is not None and (not _is_int(self.n_train) or self.n_train <= 0):
            out.append(("n_train", f"n_train must be None or a positive integer, got "
                                   f"{self.n_train!r}"))
        if not 0 < self.ramp_fraction <= 1:
            out.append(("ramp_fraction", f"ramp_fraction must be in (0, 1], got "
                                         f"{self.ramp_fraction!r}"))
        if self.graph not in GRAPH_KINDS:
            out.append(("graph", f"graph={self.graph!r} is not one of {GRAPH_KINDS}"))
        out += self._data_problems()
        out += [("hparams", m) for m in self._hparam_errors()]
        return out

    def validate(self) -> TrainConfig:
        """Raise ValueError listing every problem; a config that passed is not checked again."""
        if self.__dict__.get("_valid"):
            return self
        problems = self.problems()
        if problems:
            raise ValueError("invalid training config:\n  - "
                             + "\n  - ".join(m for _, m in problems))
        object.__setattr__(self, "_valid", True)
        return self

    def _hparam_errors(self) -> list[str]:
        if not isinstance(self.hparams, dict):
            return [f"hparams must be a dict, got {type(self.hparams).__name__}"]
        errors = hparam_errors(self.hparams)
        if "objects" in self.hparams:
            errors.append("hparams 'objects' is filled in from the dataset's renderer; "
                          "set decoder='objects' instead")
        elif not errors and self.recipe in RECIPES and self.resolved_recipe().decoder == \
                "objects" and not getattr(SCMS.get(self.dataset), "objects", None):
            errors.append(f"decoder='objects' needs a dataset whose renderer declares its "
                          f"objects ({[d for d, s in SCMS.items() if s.objects]}); "
                          f"{self.dataset!r} does not")
        return errors

    def _data_problems(self) -> list[tuple[str, str]]:
        """Data mode and folder: a downloaded dataset's folder is checked here (names, keys and
        shapes from the files' headers), so a wrong folder stops a run before any training."""
        if self.dataset not in DOWNLOADED:
            out = [] if self.data_dir is None else [(
                "data_dir", f"data_dir applies to the datasets read from a folder "
                            f"{list(DOWNLOADED)}; {self.dataset!r} is generated (leave data_dir "
                            f"None)")]
            if self.data_mode not in DATA_MODES:
                out.append(("data_mode", f"data_mode={self.data_mode!r} is not one of "
                                         f"{DATA_MODES}"))
            return out
        modes, holds, check = DOWNLOADED[self.dataset]
        out = []
        if self.data_mode not in modes:
            out.append(("data_mode", f"data_mode={self.data_mode!r} is not one of "
                                     f"{modes} for {self.dataset}"))
        if self.noise_std:
            out.append(("noise_std", f"noise_std applies to generated datasets; {self.dataset} "
                                     "is read from a folder"))
        if not isinstance(self.data_dir, str) or not self.data_dir:
            out.append(("data_dir", f"dataset={self.dataset!r} needs data_dir, the folder of "
                                    f"{holds}"))
        else:
            try:
                check(self.data_dir)
            except (OSError, ValueError) as e:
                out.append(("data_dir", str(e)))
        return out

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["data_dir"] is None:  # runs recorded before the field existed stay the same run
            del d["data_dir"]
        return d

    def resolved_recipe(self):
        """The recipe this run trains with: ``recipe`` with any recipe fields set in hparams
        (resolved once per config)."""
        if "_recipe" not in self.__dict__:
            object.__setattr__(self, "_recipe", get_recipe(
                self.recipe, **{f: self.hparams[f] for f in RECIPE_FIELDS if f in self.hparams}))
        return self.__dict__["_recipe"]

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def warmup_weights(epoch: int, cfg: TrainConfig) -> tuple[float, float]:
    """alpha, beta for this epoch under the config's recipe's warm-up."""
    r = cfg.resolved_recipe()
    alpha = r.alpha_max if cfg.alpha_max is None else cfg.alpha_max
    beta = r.beta_max if cfg.beta_max is None else cfg.beta_max
    return warmup(epoch, cfg.epochs, alpha, beta, cfg.ramp_fraction, kind=r.warmup)
