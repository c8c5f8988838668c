"""Base class for an image-generating structural causal model (SCM) and its ``Samples``.

An SCM here is: exogenous variables ``U`` (one row per unit), deterministic mechanisms that
compute each causal variable from its parents and ``U`` in topological order, and a renderer
from (labels, U) to an image. Interventions replace a mechanism by a constant; counterfactuals
keep a unit's ``U`` and re-run the mechanisms under the intervention (abduction is trivial
because the generator knows ``U``). Because every variable is recomputed from the same ``U``
by the same code, non-descendants of an intervened variable are bitwise unchanged.

``do`` values outside a variable's physically meaningful range (``do_range``) are *refused*
with a ValueError rather than clipped: clipping would silently answer a different question.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from icm_utils.core.utils import as_rng
from icm_utils.data.graph import CausalGraph
from icm_utils.data.render import Canvas, Shape, check_render_resolution, rasterize

Do = dict  # variable name -> scalar or per-unit array (N,)


@dataclass
class Samples:
    """Images with their labels (physical units, graph order) and the exogenous values used."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # float32 (N, n_vars), columns in graph.names order
    exogenous: np.ndarray  # float64 (N, n_exo)
    names: list[str] = field(default_factory=list)
    exogenous_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, idx) -> Samples:
        return Samples(self.images[idx], self.labels[idx], self.exogenous[idx],
                       list(self.names), list(self.exogenous_names))

    def label(self, name: str) -> np.ndarray:
        return self.labels[:, self.names.index(name)]

    def to_frame(self):
        """Labels as a pandas DataFrame (for seaborn)."""
        return pd.DataFrame(self.labels, columns=self.names)


def check_count(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {n!r}")
    return int(n)


class NoSimulator:
    """Stands where a generated dataset keeps its SCM, for data that were not generated here
    (downloaded, or a user's folder): it describes the variables (units, ranges) and says, on any
    other use, why it cannot work."""

    noise_std = 0.0  # nothing is known of mechanism noise: no control can drop it

    def __init__(self, name: str, units: dict | None = None, label_range: dict | None = None,
                 hint: str = ""):
        self.name, self.units, self.hint = name, dict(units or {}), hint
        self.label_range = dict(label_range or {})
        self.do_range = dict(self.label_range)  # no physics says more: what the data show

    def __getattr__(self, attr: str):
        if attr.startswith("__"):  # copy, pickle and friends probe for these
            raise AttributeError(attr)
        raise AttributeError(
            f"{self.name} is data, not a simulator: '{attr}' needs images rendered under an "
            f"arbitrary do(), which these data do not hold" + (f"; {self.hint}" if self.hint
                                                               else ""))


class ImageSCM:
    """Subclasses set the class attributes and implement the four hooks below."""

    name: str = "scm"
    graph: CausalGraph
    units: dict[str, str] = {}
    label_range: dict[str, tuple[float, float]] = {}  # support of the generated data
    do_range: dict[str, tuple[float, float]] = {}  # values do() accepts (renderable, physical)
    exogenous_names: list[str] = []
    mechanism_noise: tuple[str, ...] = ()  # exogenous columns that only act when noise_std > 0
    # the objects the renderer draws and the variables that draw each one (an object decoder
    # gives each its own slot); pixels outside a variable's objects never depend on it
    objects: dict[str, tuple[str, ...]] = {}
    xlim: tuple[float, float] = (0.0, 20.0)  # the scene box the image covers
    ylim: tuple[float, float] = (0.0, 20.0)

    def __init__(self, noise_std: float = 0.0):
        noise_std = float(noise_std)
        if not np.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        self.noise_std = noise_std

    # hooks -----------------------------------------------------------------------------------
    def sample_exogenous(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Random-mode exogenous values, float64 (n, n_exo)."""
        raise NotImplementedError

    def mechanism(self, var: str, values: dict[str, np.ndarray], exo: np.ndarray) -> np.ndarray:
        """Value of ``var`` (float64 (N,)) from its parents' ``values`` and the exogenous rows."""
        raise NotImplementedError

    def scene(self, labels: np.ndarray, exogenous: np.ndarray, canvas: Canvas
              ) -> list[tuple[str | None, Shape]]:
        """The shapes showing the given labels, in painter's order, each tagged with the object
        of ``objects`` it belongs to (None: the static scene, drawn whatever the labels)."""
        raise NotImplementedError

    def grid_exogenous(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exogenous rows of the peers' grid, with its train and test indices."""
        raise NotImplementedError

    # shared API ------------------------------------------------------------------------------
    def render(self, labels, exogenous=None, resolution: int = 64) -> np.ndarray:
        """Images uint8 (N, R, R, 3) showing the given labels (float64 (N, n), graph order)."""
        lab = np.asarray(labels, dtype=np.float64)
        canvas = Canvas(resolution, self.xlim, self.ylim)
        shapes = [shape for _, shape in self.scene(lab, exogenous, canvas)]
        return rasterize(shapes, lab.shape[0], canvas)

    def object_masks(self, labels, exogenous=None, resolution: int = 64) -> dict[str, np.ndarray]:
        """Per object, the pixels its shapes cover (bool (N, R, R)), each drawn alone."""
        lab = np.asarray(labels, dtype=np.float64)
        canvas = Canvas(resolution, self.xlim, self.ylim)
        tagged = self.scene(lab, exogenous, canvas)
        out = {}
        for name in self.objects:
            shapes = [shape for tag, shape in tagged if tag == name]
            out[name] = rasterize(shapes, lab.shape[0], canvas).min(-1) < 255
        return out

    def object_regions(self, labels, exogenous=None, resolution: int = 64,
                       grow: int = 1) -> np.ndarray:
        """Where each object can appear: the union of its pixels over the given units, grown by
        ``grow`` pixels (bool (n_objects, R, R), ``objects`` order). An object decoder's slot
        draws inside its region only, so it cannot draw another object elsewhere."""
        lab = np.asarray(labels, dtype=np.float64)
        exo = None if exogenous is None else np.asarray(exogenous)
        out = np.zeros((len(self.objects), resolution, resolution), dtype=bool)
        for start in range(0, len(lab), 2048):  # bounded memory for any number of units
            sl = slice(start, start + 2048)
            masks = self.object_masks(lab[sl], None if exo is None else exo[sl], resolution)
            for k, name in enumerate(self.objects):
                out[k] |= masks[name].any(0)
        for _ in range(grow):
            grown = out.copy()
            grown[:, 1:] |= out[:, :-1]
            grown[:, :-1] |= out[:, 1:]
            grown[:, :, 1:] |= out[:, :, :-1]
            grown[:, :, :-1] |= out[:, :, 1:]
            out = grown
        return out

    def object_variables(self) -> list[list[str]]:
        """The variables of each object, in ``objects`` order (what an object decoder reads)."""
        return [list(v) for v in self.objects.values()]

    @property
    def names(self) -> list[str]:
        return list(self.graph.names)

    def check_do(self, do: Do | None, n: int) -> dict[str, np.ndarray]:
        """Validate an intervention: known variables, finite values inside ``do_range``."""
        out: dict[str, np.ndarray] = {}
        if do is None:
            return out
        if not isinstance(do, dict):
            raise ValueError(f"do must be a dict {{variable: value}}, got {type(do).__name__}")
        for var, value in do.items():
            if var not in self.graph.names:
                raise ValueError(f"do: unknown variable {var!r} for {self.name}; "
                                 f"known: {self.graph.names}")
            v = np.asarray(value, dtype=np.float64)
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n):
                raise ValueError(f"do({var}=...) must be a scalar or have length {n}, "
                                 f"got shape {v.shape}")
            lo, hi = self.do_range[var]
            if not np.all(np.isfinite(v)) or np.any(v < lo) or np.any(v > hi):
                bad = v[~((v >= lo) & (v <= hi))] if v.ndim else v
                raise ValueError(
                    f"do({var}={np.ravel(bad)[0]:g}) is outside the physically meaningful range "
                    f"[{lo:g}, {hi:g}] {self.units.get(var, '')} of {self.name}; "
                    "values are refused, not clipped")
            out[var] = np.broadcast_to(v, (n,)).copy()
        return out

    def check_exogenous(self, exogenous) -> np.ndarray:
        exo = np.asarray(exogenous, dtype=np.float64)
        k = len(self.exogenous_names)
        if exo.ndim != 2 or exo.shape[1] != k:
            raise ValueError(f"{self.name} exogenous must have shape (N, {k}) with columns "
                             f"{self.exogenous_names}, got {exo.shape}")
        return exo

    def labels_from_exogenous(self, exogenous, do: Do | None = None) -> np.ndarray:
        """Run the mechanisms in topological order (do replaces a mechanism) -> float32 labels."""
        exo = self.check_exogenous(exogenous)
        fixed = self.check_do(do, exo.shape[0])
        values: dict[str, np.ndarray] = {}
        for i in self.graph.order:
            var = self.graph.names[i]
            v = fixed[var] if var in fixed else self.mechanism(var, values, exo)
            # children see the parent exactly as stored (float32), so do(x = stored label of x)
            # reproduces the factual descendants bit for bit, as do(x = exogenous value) does
            values[var] = np.asarray(v, dtype=np.float32).astype(np.float64)
        # the images are rendered from these float32 labels too: image == f(label)
        return np.stack([values[v] for v in self.graph.names], axis=1).astype(np.float32)

    def _samples(self, exo: np.ndarray, do: Do | None, resolution: int) -> Samples:
        check_render_resolution(resolution)
        labels = self.labels_from_exogenous(exo, do)
        images = self.render(labels, exo, resolution)
        return Samples(images, labels, exo, self.names, list(self.exogenous_names))

    def sample(self, n: int, seed: int | np.random.Generator = 0, do: Do | None = None,
               resolution: int = 64) -> Samples:
        """``n`` i.i.d. units (random mode); with ``do``, interventional samples."""
        n = check_count(n)
        check_render_resolution(resolution)
        self.check_do(do, n)  # fail before spending time on sampling
        exo = self.sample_exogenous(n, as_rng(seed))
        return self._samples(exo, do, resolution)

    def counterfactual(self, exogenous, do: Do | None, resolution: int = 64) -> Samples:
        """Same units (same exogenous), mechanisms re-run under ``do``."""
        return self._samples(self.check_exogenous(exogenous), do, resolution)

    def grid(self, resolution: int = 64, seed: int = 0) -> tuple[Samples, np.ndarray, np.ndarray]:
        """The peers' full grid and their train/test split."""
        check_render_resolution(resolution)
        exo, train, test = self.grid_exogenous(seed)
        return self._samples(exo, None, resolution), train, test

    def __repr__(self) -> str:
        return f"{type(self).__name__}(noise_std={self.noise_std})"
