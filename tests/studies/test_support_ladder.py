"""The support ladder: its cells are the recommended recipe with one decoder on the grid or on
noisy samples, and one small ladder trains, scores and publishes end to end (~1 min)."""
import json

import pandas as pd
import pytest
import torch

from icm_utils.data.datasets import get_scm, load_dataset
from icm_utils.model.recipes import RECOMMENDED_RECIPE
from icm_utils.studies import support_ladder as sl

SMALL = dict(epochs=1, resolution=32, n_train=64, n_random=256)


def test_cells_are_the_recommended_recipe_on_grid_or_noisy_data():
    grid = sl.config("pendulum", 0.0, "joint", 1, **SMALL)
    noisy = sl.config("pendulum", 2.0, "objects", 1, **SMALL)
    assert (grid.recipe, grid.data_mode, grid.noise_std, grid.hparams) == (
        RECOMMENDED_RECIPE, "grid", 0.0, {})
    assert (noisy.data_mode, noisy.noise_std, noisy.n_random) == ("random", 2.0, 256)
    assert noisy.resolved_recipe().decoder == "objects" and noisy.seed == 1
    cells = sl.configs(datasets=("pendulum",), seeds=(0, 1), **SMALL)
    every = len(sl.LEVELS["pendulum"]) * len(sl.DECODERS) + 2  # + the two rows ONLY_AT
    leads = [r for r, row in sl.ROWS.items() if row.seeds == (0,)]  # one seed each
    assert len(cells) == 2 * every + len(leads)
    assert [c.seed for _, c in cells[:every + len(leads)]] == [0] * (every + len(leads))
    assert {r for r, c in cells if c.seed == 1} == {"joint", "objects", "objects_anywhere",
                                                    "objects_30ep"}
    rows = {(r, c.noise_std) for r, c in cells}
    assert ("objects_anywhere", 0.0) in rows and ("objects_anywhere", 2.0) not in rows
    lever = dict(cells)["objects_30ep"]
    assert (lever.epochs, lever.noise_std, lever.hparams) == (2, 2.0, {"decoder": "objects"})
    assert sl.config("pendulum", 2.0, "objects_30ep", 0).epochs == 2 * sl.EPOCHS
    anywhere = sl.config("pendulum", 0.0, "objects_anywhere", 0)
    assert anywhere.hparams == {"decoder": "objects", "object_regions": False}
    with pytest.raises(ValueError, match="row must be one of"):
        sl.config("pendulum", 0.0, "sum", 0)


def test_noise_share_is_the_level_over_the_caused_variables_spread():
    assert sl.noise_share("pendulum", 0.0) == 0.0
    share = sl.noise_share("pendulum", 2.0)
    assert share == pytest.approx(2 * sl.noise_share("pendulum", 1.0))
    assert 0.5 < share < 0.8  # shadow length and position spread 2.3 and 3.3 scene units


def test_a_small_ladder_trains_scores_and_publishes(tmp_path):
    levels = {"pendulum": (0.0, 1.0)}
    rows = ("joint", "objects")
    sl.train(tmp_path / "runs", datasets=("pendulum",), rows=rows, seeds=(0,), levels=levels,
             **SMALL)
    parts = [sl.evaluate(tmp_path / "runs", "pendulum", lv, seeds=(0,), n_units=6,
                         probe_epochs=1, soundness_units=3, **SMALL) for lv in levels["pendulum"]]
    tables = {k: pd.concat([t[k] for t in parts]) for k in parts[0]}
    # a second evaluation reads the kept scores (no probe, no scoring), equal to the first
    again = sl.evaluate(tmp_path / "runs", "pendulum", 1.0, seeds=(0,), n_units=6,
                        probe_epochs=1, soundness_units=3, **SMALL)
    pd.testing.assert_frame_equal(again["counterfactual_scores"], parts[1]["counterfactual_scores"],
                                  check_dtype=False)
    assert (tmp_path / "runs" / "evaluations" / "pendulum-noise1" / "key.json").exists()
    table = sl.ladder_table(tables["counterfactual_scores"])
    noisy = table[table["noise_std"] == 1.0]
    # with mechanism noise the no-abduction control joins the do-nothing and simulator rows
    assert set(noisy["model"]) == {"joint", "objects", "control:do_nothing",
                                   "control:simulator", "control:no_abduction"}
    assert "control:no_abduction" not in set(table.loc[table["noise_std"] == 0, "model"])
    checks = sl.target_check(tables["counterfactual_scores"], tables["identifiability"])
    assert len(checks) == 2 * 2 * (len(sl.TARGETS) + 1)  # 2 levels x 2 decoders
    row = checks.set_index(["noise_std", "model", "criterion"]).loc[
        (1.0, "objects", "caused intervened")]
    cell = noisy.set_index(["model", "intervened_on"]).loc[("objects", "non-root")]
    assert row["mean"] == pytest.approx(cell["intervened"]) and row["target"] == "<= 0.15"
    sl.publish(tables, tmp_path / "out", seeds=(0,))
    assert json.loads((tmp_path / "out" / "study.json").read_text())["seeds"] == [0]
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "counterfactual_summary.csv", "targets.csv", "identifiability_tidy.csv"}
    fig = sl.plot_ladder(table)
    assert len(fig.axes) == len(sl.PANELS)
    assert sl.evaluate(tmp_path / "none", "pendulum", 0.0, **SMALL) is None


class _Stub:
    """A model whose latents are its labels (k=1): its mechanism's shift for node i is what
    ``shift(i, z)`` returns, so the fit of each mechanism is known in advance."""

    def __init__(self, ds, shift):
        self.ds, self.shift = ds, shift
        self.mechanism = self

    def encode(self, x):
        self.z = torch.as_tensor(self.ds.labels[self.ds.test_idx[:len(x)]])[:, :, None]
        return self.z

    def transform(self, x, z, nodes):
        return self.shift(nodes[0], z)[:, None, None], None

    def label_to_latent(self, i, v, z):
        return v[:, None]


def test_mechanism_fit_known_answers():
    ds = load_dataset("pendulum", "random", resolution=32, n=100, noise_std=1.0, cache=False)
    scm = get_scm("pendulum")  # noiseless: the parents' effect

    def exact(i, z):
        values = {v: z[:, j, 0].double().numpy() for j, v in enumerate(ds.graph.names)}
        exo = ds.exogenous[ds.test_idx[:len(z)]]
        return torch.as_tensor(scm.mechanism(ds.graph.names[i], values, exo), dtype=z.dtype)

    fit = sl.mechanism_fit(_Stub(ds, exact), ds, n=20)
    assert set(fit) == {"shadow_length", "shadow_position"}  # the caused variables
    assert fit["shadow_length"] == pytest.approx(1.0) and fit["shadow_position"] == pytest.approx(1.0)
    mean = sl.mechanism_fit(_Stub(ds, lambda i, z: exact(i, z).mean().expand(len(z))), ds, n=20)
    assert mean["shadow_length"] == pytest.approx(0.0, abs=1e-5)  # the mean carries nothing
