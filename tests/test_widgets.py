import numpy as np
import pytest

from icm_utils.datasets import load_dataset
from icm_utils.models import build_model
from icm_utils.widgets import InterventionExplorer


@pytest.fixture(scope="module")
def explorer():
    ds = load_dataset("pendulum", resolution=32)
    mean, std = ds.label_stats()
    m = build_model("icm_vae", ds.graph, 32, label_mean=mean, label_std=std)
    return InterventionExplorer(m, ds, seed=0)


def test_moving_the_slider_updates_counterfactuals_headlessly(explorer):
    ex = explorer
    ex.variable.value = "pendulum_angle"
    ex.value.value = -30.0
    first_true = ex.state["true counterfactual"].copy()
    first_png = ex.panels["model counterfactual"].value
    ex.value.value = 30.0
    assert not np.array_equal(first_true, ex.state["true counterfactual"])
    assert ex.state["true_cf_labels"][0] == pytest.approx(30.0)
    # non-descendant light position is held, descendants follow the simulator
    assert ex.state["true_cf_labels"][1] == pytest.approx(ex.state["factual_labels"][1])
    assert ex.panels["model counterfactual"].value != b"" and first_png != b""
    assert "descendant" in ex.table.value and ex.message.value == ""


def test_out_of_range_values_are_clipped_with_a_message(explorer):
    ex = explorer
    ex.variable.value = "light_position"
    lo, hi = ex.scm.label_range["light_position"]
    assert (ex.value.min, ex.value.max) == (lo, hi)
    assert ex.set_value(hi + 100) == hi
    assert "clipped" in ex.message.value
    assert ex.state["true_cf_labels"][1] == pytest.approx(hi)


def test_nonsense_values_are_refused_and_state_kept(explorer):
    ex = explorer
    before = ex.state["true_cf_labels"].copy()
    assert ex.set_value(float("nan")) is None and "refused" in ex.message.value
    assert ex.set_value("abc") is None and "not a number" in ex.message.value
    np.testing.assert_array_equal(before, ex.state["true_cf_labels"])


def test_picking_and_drawing_units(explorer):
    ex = explorer
    ex.unit_slider.value = 3
    i = ex.test_idx[3]
    np.testing.assert_array_equal(ex.state["factual"], ex.ds.images[i])
    ex.draw_unit()
    assert ex.state["factual"].shape == (32, 32, 3)
    w = ex.widget()
    assert len(w.children) == 5
