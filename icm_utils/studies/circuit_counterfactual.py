"""Counterfactuals scored on CausalCircuit's own (pre, post)-intervention pairs.

No simulator renders CausalCircuit under an arbitrary do(), so the only true counterfactuals are
the published pairs whose intervened variable j is known (``circuit.intervention_targets``):
the model gets the pre-intervention image and do(j = the post-intervention value of j); its
image is compared with the post-intervention image, and the probe's reading of it with the
post-intervention labels. Rows have the schema of ``counterfactual.evaluate_counterfactuals``
(one target per variable, ``value`` the mean of its do() values), so ``role_summary``,
``controls.counterfactual_gaps`` and ``counterfactual_table.check_target`` apply unchanged.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from icm_utils.core.stats import match_blocks
from icm_utils.data.circuit_data import CircuitPairs, load_pairs
from icm_utils.data.images import float_images
from icm_utils.evaluation.controls import DO_NOTHING, SIMULATOR, ControlCode, label
from icm_utils.evaluation.counterfactual import allowed_movement, robustness_score, roles
from icm_utils.evaluation.probe import Probe, train_probe
from icm_utils.training.runs import encode_images


def fit_pair_probe(ds, n_observational: int | None = None, interventional: float = 1.0,
                   epochs: int = 10, seed: int = 0) -> Probe:
    """``probe.fit_probe`` for data without a simulator: ``n_observational`` training
    images (None: all) plus ``interventional`` times as many post-intervention images of
    training pairs, spread over the intervened variables, so the probe reads each factor from
    its own part of the image and not from its parents'."""
    tr = np.asarray(ds.train_idx)
    idx = tr if n_observational is None else tr[:n_observational]
    images, labels = ds.images[idx], ds.labels[idx]
    n_int = int(round(interventional * len(idx) / ds.graph.n))
    if n_int > 0:
        pairs = load_pairs(ds, "train", n_per_variable=n_int, seed=seed)
        images = np.concatenate([images, pairs.post_images])
        labels = np.concatenate([labels, pairs.post_labels])
    return train_probe(images, labels, epochs=epochs, seed=seed)


def _groups(pairs: CircuitPairs):
    """(variable index, name, unit indices) per intervened variable present in ``pairs``."""
    for j, name in enumerate(pairs.graph.names):
        units = np.flatnonzero(pairs.targets == j)
        if len(units):
            yield j, name, units


@torch.no_grad()
def pair_counterfactuals(model, pairs: CircuitPairs, batch_size: int = 256) -> list[torch.Tensor]:
    """The model's counterfactual images (U_j, 3, r, r) for each intervened variable's pairs:
    abduction on the pre-intervention image, do(j = post value of j), prediction."""
    model.eval()
    out = []
    for _, name, units in _groups(pairs):
        xs = []
        for i in range(0, len(units), batch_size):
            u = units[i:i + batch_size]
            x = float_images(pairs.pre_images[u])
            value = torch.as_tensor(pairs.post_labels[u, pairs.graph.index(name)])
            xs.append(model.counterfactual(x, {name: value}, units="label")[0].cpu())
        out.append(torch.cat(xs))
    return out


def score_pair_images(images, pairs: CircuitPairs, probe: Probe, label_std,
                      model_name: str = "", seed: int = 0) -> pd.DataFrame:
    """Tidy rows for counterfactual images given per intervened variable (float (U_j,3,r,r)
    tensors or uint8 (U_j,r,r,3) arrays, in ``_groups`` order): the probe-read error against
    the post-intervention labels in units of ``label_std``, by role, and the image error to
    the post-intervention image. The one scoring path of models and controls."""
    graph, std = pairs.graph, np.asarray(label_std, dtype=np.float64)
    rows = []
    for (j, name, units), x_cf in zip(_groups(pairs), images, strict=True):
        if isinstance(x_cf, np.ndarray):
            x_cf = float_images(x_cf)
        true = float_images(pairs.post_images[units])
        img_mse = float(((x_cf - true) ** 2).mean())
        err = np.abs(probe.predict(x_cf) - pairs.post_labels[units]) / std
        role = roles(graph, j)
        value = float(pairs.post_labels[units, j].mean())
        for i, var in enumerate(graph.names):
            rows.append({"model": model_name, "seed": seed, "target": name, "value": value,
                         "variable": var, "role": role[i], "factor_error": float(err[:, i].mean()),
                         "image_mse": img_mse, "n_pairs": len(units)})
    return pd.DataFrame(rows)


def evaluate_pairs(model, pairs: CircuitPairs, probe: Probe, label_std, model_name: str = "",
                   seed: int = 0) -> pd.DataFrame:
    """``score_pair_images`` of the model's counterfactuals of ``pairs``."""
    return score_pair_images(pair_counterfactuals(model, pairs), pairs, probe, label_std,
                             model_name, seed)


def pair_controls(pairs: CircuitPairs, probe: Probe, label_std) -> pd.DataFrame:
    """The two counterfactual controls on the pairs: "control:do_nothing" returns the
    pre-intervention image, "control:simulator" the true post-intervention image."""
    groups = list(_groups(pairs))
    pre = [pairs.pre_images[u] for *_, u in groups]
    post = [pairs.post_images[u] for *_, u in groups]
    return pd.concat([score_pair_images(pre, pairs, probe, label_std, label(DO_NOTHING)),
                      score_pair_images(post, pairs, probe, label_std, label(SIMULATOR))],
                     ignore_index=True)


# ---------------------------------------------------------------- interventional robustness
def movement_from_pair_codes(z0: np.ndarray, z1: np.ndarray, pairs: CircuitPairs) -> np.ndarray:
    """M[i, j]: mean |change| of the block matched to factor i (in units of its spread over
    the pre-intervention codes) between the codes (P, n, k) of each pair's pre- and
    post-intervention images, over the pairs intervening on j (0 where none do)."""
    n = pairs.graph.n
    perm = match_blocks(np.concatenate([z0, z1]),
                        np.concatenate([pairs.pre_labels, pairs.post_labels]))[0]
    z0, z1 = z0[:, perm], z1[:, perm]
    scale = z0.reshape(len(z0), n, -1).std(0).mean(-1) + 1e-8
    m = np.zeros((n, n))
    for j, _, units in _groups(pairs):
        m[:, j] = np.linalg.norm(z1[units] - z0[units], axis=-1).mean(0) / scale
    return m


def pair_movement(model, pairs: CircuitPairs) -> np.ndarray:
    """``movement_from_pair_codes`` of the model's encodings of the real pairs."""
    return movement_from_pair_codes(encode_images(model, pairs.pre_images),
                                    encode_images(model, pairs.post_images), pairs)


def pair_robustness_controls(pairs: CircuitPairs, k: int, kinds=("oracle", "null_linear",
                                                                  "null_nonlinear"),
                             seeds=(0, 1)) -> pd.DataFrame:
    """(model, seed, robustness) of control codes of the pairs' labels, through the same
    ``movement_from_pair_codes`` as models' encodings."""
    allowed = allowed_movement(pairs.graph)
    rows = []
    for kind in kinds:
        for s in seeds:
            code = ControlCode(kind, k, s)
            mv = movement_from_pair_codes(code(pairs.pre_labels),
                                          code(pairs.post_labels, ref=pairs.pre_labels), pairs)
            rows.append({"model": label(kind), "seed": s,
                         "robustness": robustness_score(mv, allowed)})
    return pd.DataFrame(rows)


def plot_pairs(model, pairs: CircuitPairs, per_variable: int = 2, title: str = ""):
    """Rows of (pre-intervention, model counterfactual, true post-intervention) images for the
    first ``per_variable`` pairs of each intervened variable."""
    sub = [u[:per_variable] for *_, u in _groups(pairs)]
    keep = np.concatenate(sub)
    small = CircuitPairs(pairs.pre_images[keep], pairs.post_images[keep], pairs.pre_labels[keep],
                         pairs.post_labels[keep], pairs.targets[keep], pairs.graph)
    cf = torch.cat(pair_counterfactuals(model, small)).permute(0, 2, 3, 1).numpy()
    order = np.concatenate([u for *_, u in _groups(small)])
    fig, axes = plt.subplots(len(order), 3, figsize=(5, 1.7 * len(order)), squeeze=False)
    for row, (i, img) in enumerate(zip(order, cf)):
        name = small.graph.names[small.targets[i]]
        for c, (im, tag) in enumerate(((small.pre_images[i], "pre"), (img, "model"),
                                       (small.post_images[i], "true post"))):
            axes[row, c].imshow(im)
            axes[row, c].set_xticks([])
            axes[row, c].set_yticks([])
            if row == 0:
                axes[row, c].set_title(tag, fontsize=8)
        axes[row, 0].set_ylabel(f"do({name}=\n{small.post_labels[i, small.targets[i]]:.2f})",
                                fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
