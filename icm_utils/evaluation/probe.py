"""The probe: a small CNN that reads factor values off images, so that every model's
counterfactual images (with or without labels) are scored on one scale (``counterfactual``).

It is trained on observational images plus single-variable interventional ones
(``fit_probe``): in observational data a child is a function of its parents, and a probe trained
on that alone may read the child off its parents' parts of the image.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from icm_utils.core.utils import seed_everything
from icm_utils.data.circuit_data import load_pairs
from icm_utils.data.images import float_images, images_to_tensor, to_float_images


class Probe(nn.Module):
    """A small CNN regressing standardised labels from images; any square resolution >= 16."""

    def __init__(self, n_vars: int, mean, std, width: int = 32):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.asarray(std), dtype=torch.float32))
        c = width
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(), nn.Conv2d(2 * c, 2 * c, 4, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8 * c, 128), nn.ReLU(),
            nn.Linear(128, n_vars))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # standardised
        return self.net(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Labels in physical units from float (N,3,H,W) tensors or uint8 (N,H,W,3) arrays."""
        self.eval()
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            if isinstance(xb, np.ndarray):
                xb = float_images(xb)
            out.append(self(xb.float()) * self.std + self.mean)
        return torch.cat(out).numpy()


def train_probe(images: np.ndarray, labels: np.ndarray, epochs: int = 10, batch_size: int = 64,
                lr: float = 2e-3, seed: int = 0, progress: bool = False) -> Probe:
    """Fit a Probe on real (N,H,W,3) uint8 images and their labels."""
    seed_everything(seed)
    mean, std = labels.mean(0), labels.std(0) + 1e-8
    probe = Probe(labels.shape[1], mean, std)
    x = images_to_tensor(images)
    y = (torch.as_tensor(labels, dtype=torch.float32) - probe.mean) / probe.std
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in tqdm(range(epochs), desc="probe", disable=not progress):
        probe.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = ((probe(to_float_images(x[idx])) - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return probe.eval()


def interventional_images(dataset, n_per_variable: int, seed: int = 0
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Training units rendered under single-variable interventions, each unit's value drawn
    uniformly over the variable's training range: (N,H,W,3) uint8 images and (N,n) labels. For
    data without a simulator (CausalCircuit), the post-intervention images of training pairs,
    at most ``n_per_variable`` per intervened variable.

    In observational data a child is a function of its parents, so a probe trained on it alone
    may read the child off its parents' parts of the image (measured on Pendulum: the
    simulator's own counterfactual images read 0.30 std off on the intervened variable). Here
    every variable also varies on its own, so the probe must read it from its own part."""
    if n_per_variable <= 0:
        raise ValueError(f"n_per_variable must be positive, got {n_per_variable}")
    if not dataset.has_simulator:  # downloaded data: the recorded post-intervention images
        if not has_interventions(dataset):
            raise ValueError(f"{dataset.scm.name} holds no interventions: no simulator renders "
                             "them and no recorded pairs show them")
        pairs = load_pairs(dataset, "train", n_per_variable=n_per_variable, seed=seed)
        return pairs.post_images, pairs.post_labels
    rng = np.random.default_rng(seed)
    tr = np.asarray(dataset.train_idx)
    lo, hi = do_bounds(dataset, dataset.labels[tr].min(0), dataset.labels[tr].max(0))
    images, labels = [], []
    for j, name in enumerate(dataset.graph.names):
        units = rng.choice(tr, n_per_variable, replace=len(tr) < n_per_variable)
        values = rng.uniform(lo[j], hi[j], n_per_variable)
        s = dataset.scm.counterfactual(dataset.exogenous[units], {name: values},
                                       resolution=dataset.images.shape[1])
        images.append(s.images)
        labels.append(s.labels)
    return np.concatenate(images), np.concatenate(labels)


def has_interventions(dataset) -> bool:
    """Whether interventional images exist for the dataset: its simulator renders them, or its
    files record intervention pairs (CausalCircuit); a user's folder has neither."""
    return dataset.has_simulator or dataset.has_pairs


def fit_probe(dataset, n_observational: int | None = None, interventional: float = 1.0,
              epochs: int = 10, seed: int = 0, progress: bool = False) -> Probe:
    """The probe every counterfactual is read by: trained on ``n_observational`` training
    images (None: all) plus ``interventional`` times as many single-variable interventional
    images (``interventional_images``), so it reads each factor from its own part. Data without
    interventions (a user's folder) give observational images only, and a warning: the probe
    may then read a child off its parents' part of the image."""
    tr = np.asarray(dataset.train_idx)
    idx = tr if n_observational is None else tr[:n_observational]
    images, labels = dataset.images[idx], dataset.labels[idx]
    if interventional and not has_interventions(dataset):
        warnings.warn(f"{dataset.scm.name} holds no interventional images: the probe learns "
                      "from observational images only, and may read a child off its parents",
                      RuntimeWarning, stacklevel=2)
        interventional = 0.0
    n_int = int(round(interventional * len(idx) / dataset.graph.n))
    if n_int > 0:
        xi, ui = interventional_images(dataset, n_int, seed)
        images, labels = np.concatenate([images, xi]), np.concatenate([labels, ui])
    return train_probe(images, labels, epochs=epochs, seed=seed, progress=progress)


def probe_path(folder: Path | str, dataset_name: str, resolution: int, epochs: int) -> Path:
    """Where a study keeps the probe of one dataset and resolution in its run folder."""
    return Path(folder) / f"probe_{dataset_name}_{resolution}px_{epochs}ep.pt"


def cached_probe(path: Path | str, dataset, epochs: int = 10, seed: int = 0) -> Probe:
    """``fit_probe(dataset, epochs=epochs, seed=seed)``, kept at ``path`` and read back from it
    next time, so every evaluation of a run folder reads its models with one probe."""
    path = Path(path)
    if path.exists():
        probe = Probe(len(dataset.names), *dataset.label_stats())
        probe.load_state_dict(torch.load(path, weights_only=True))
        return probe.eval()
    probe = fit_probe(dataset, epochs=epochs, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(probe.state_dict(), path)
    return probe


def do_bounds(dataset, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] cut to the values the simulator accepts in do() (with mechanism noise a label
    can leave its physical range, and the simulator refuses such interventions)."""
    rng = [dataset.scm.do_range[n] for n in dataset.graph.names]
    return (np.maximum(lo, [r[0] for r in rng]), np.minimum(hi, [r[1] for r in rng]))
