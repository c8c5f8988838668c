"""Pictures of counterfactuals: the grid beside the simulator, examples of recorded pairs, and
block movement; checked on what they draw (panels, labels, values), not on pixels."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from icm_utils.data.datasets import load_dataset  # noqa: E402
from icm_utils.evaluation import counterfactual as cf  # noqa: E402
from icm_utils.evaluation import counterfactual_plots as cfplots  # noqa: E402

RES = 32


class Identity(torch.nn.Module):
    """Returns the factual image for every intervention: the do-nothing model."""

    def counterfactual(self, x, do, units="label"):
        self.last = do
        return x, torch.zeros(len(x), 4, 1)


@pytest.fixture(scope="module")
def ds():
    return load_dataset("pendulum", resolution=RES)


def test_the_grid_shows_each_variable_with_its_unit_beside_the_simulator(ds):
    cfset = cf.make_counterfactual_set(ds, n_units=2)
    fig = cfplots.intervention_figure(Identity(), ds, cfset, title="t")
    titles = [s._suptitle.get_text() for s in fig.subfigs]
    assert len(titles) == 4 and titles[0].startswith("do(pendulum_angle) [deg] = ")
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["model", "simulator"] * 4


def test_pairs_are_drawn_as_factual_model_true_rows(ds):
    """A set of recorded pairs (no simulator): each row factual / model / true, per-unit values."""
    idx = ds.test_idx[:6]
    pairs_like = cf.CounterfactualSet(
        ds.images[idx], ds.labels[idx], np.zeros((6, 0)), [("light_position", 70.0)],
        [ds.images[idx[:3]]], [ds.labels[idx[:3]]], units=[np.array([0, 2, 4])],
        values=[np.array([60.0, 70.0, 80.0])])
    model = Identity()
    fig = cfplots.plot_examples(model, pairs_like, per_target=2)
    axes = np.array(fig.axes).reshape(-1, 3)
    assert axes.shape == (2, 3) and [a.get_title() for a in axes[0]] == ["factual", "model", "true"]
    assert axes[1, 0].get_ylabel() == "do(light_position\n= 70)"
    torch.testing.assert_close(model.last["light_position"], torch.tensor([60.0, 70.0]))


def test_block_movement_has_one_panel_per_model_after_the_graph_and_one_scale(ds):
    allowed = cf.allowed_movement(ds.graph)
    mv = {"a": np.full((4, 4), 0.5), "b": np.eye(4) * 2.0}
    fig = cfplots.plot_block_movement(mv, allowed, ds.graph.names, note="mean over seeds [0]")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["allowed by the true graph", "a", "b"]
    assert fig._suptitle.get_text() == "mean over seeds [0]"
    cbar = [ax for ax in fig.axes if ax.get_ylabel() == "movement (block spreads)"]
    assert len(cbar) == 1 and cbar[0].get_ylim()[1] == pytest.approx(2.0)
    texts = [t.get_text() for t in panels[2].texts]
    assert texts.count("2.00") == 4 and texts.count("0.00") == 12
