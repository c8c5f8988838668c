import base64
import re

import numpy as np
import pytest

from icm_utils.data.datasets import load_dataset
from icm_utils.data.folder import export_folder, load_folder
from icm_utils.explore import widgets as widgets_mod
from icm_utils.explore.widgets import InterventionExplorer
from icm_utils.model.models import build_model


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
    # every role named in words: the held light position is a "non-descendant", not a dash
    assert "<tr><td>light_position</td><td>non-descendant</td>" in ex.table.value
    assert "<tr><td>shadow_length</td><td>descendant</td>" in ex.table.value
    assert "—" not in ex.table.value


def test_the_value_shows_its_variables_unit_and_the_button_its_whole_label(explorer):
    ex = explorer
    ex.variable.value = "pendulum_angle"
    assert ex.value_unit.value == "deg"
    ex.variable.value = "shadow_length"  # the unit follows the variable
    assert ex.value_unit.value == "scene units"
    ex.variable.value = "pendulum_angle"
    assert ex.value_unit.value == "deg"
    row = ex.widget().children[1].children
    assert row.index(ex.value_unit) == row.index(ex.value) + 1  # right after the slider
    assert "icm-explorer-value-unit" in ex.value_unit._dom_classes
    assert ex.draw_button.description == "new image (simulator)"
    assert ex.draw_button.layout.width == "auto"  # sized to its label, never cut short


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


def test_sliders_update_on_release_only(explorer):
    # one model evaluation per release, not one per pixel dragged
    assert explorer.value.continuous_update is False
    assert explorer.unit_slider.continuous_update is False
    assert explorer.typed.continuous_update is False  # read on Enter


def test_typed_values_are_clipped_or_refused_with_a_message(explorer):
    ex = explorer
    ex.variable.value = "pendulum_angle"
    lo, hi = ex.scm.label_range["pendulum_angle"]
    ex.typed.value = "999"
    assert "999 is outside pendulum_angle's range" in ex.message.value
    assert ex.state["true_cf_labels"][0] == pytest.approx(hi)
    assert ex.typed.value == ""  # emptied for the next value
    before = ex.state["true_cf_labels"].copy()
    ex.typed.value = "abc"
    assert "refused" in ex.message.value and "'abc' is not a number" in ex.message.value
    np.testing.assert_array_equal(before, ex.state["true_cf_labels"])
    ex.typed.value = " 0 "
    assert ex.message.value == "" and ex.state["true_cf_labels"][0] == pytest.approx(0.0)
    # the same value again (no slider change) still recomputes and clears a stale message
    ex.typed.value = "abc"
    ex.typed.value = "0"
    assert ex.message.value == ""


def test_display_shows_the_live_widget_then_a_static_snapshot_that_follows_the_state(
        explorer, monkeypatch):

    shown, updates = [], []

    class Handle:
        def update(self, obj, raw=False):
            updates.append(obj)

    def fake_display(obj, raw=False, display_id=None):
        shown.append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(widgets_mod, "display", fake_display)
    ex = explorer
    ex.variable.value = "pendulum_angle"
    ex._ipython_display_()
    live, snap = shown
    assert live["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget().model_id
    assert len(live["text/plain"]) < 110
    # an empty model id: JupyterLab hides it; GitHub / nbviewer show the PNG
    assert snap["application/vnd.jupyter.widget-view+json"]["model_id"] == ""
    png0 = base64.b64decode(snap["image/png"])
    assert png0[:8] == b"\x89PNG\r\n\x1a\n"
    ex.set_value(-30.0)
    assert updates and "do(pendulum_angle = -30.00)" in updates[-1]["text/plain"]
    assert base64.b64decode(updates[-1]["image/png"]) != png0
    n = len(updates)
    ex.set_value("abc")  # refused: the state, and so the snapshot, is unchanged
    assert len(updates) == n
    ex._snapshot = None  # leave the shared fixture as it was (not displayed)


def test_without_a_simulator_the_true_panel_says_why_and_the_table_what_the_graph_tells(
        tmp_path):
    src = load_dataset("pendulum", "random", resolution=32, n=30, cache=False)
    own = load_folder(export_folder(src, tmp_path / "mine"), resolution=32, cache=False)
    model = build_model("icm_vae", own.graph, 32, label_mean=own.label_stats()[0],
                        label_std=own.label_stats()[1])
    ex = InterventionExplorer(model, own, seed=0)
    assert "true counterfactual" not in ex.panels and ex.draw_button.disabled
    assert "not known: no simulator renders these data" in ex.no_truth.value
    ex.set_value(10.0)  # do(pendulum_angle = 10)
    rows = {r[0]: r for r in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>"
                                        r"<td>(.*?)</td>", ex.table.value)}
    assert rows["pendulum_angle"][3] == "10.00"  # the value set
    assert rows["shadow_length"][3] == "?"  # a descendant: not known
    assert rows["light_position"][3] == rows["light_position"][2]  # as it was
    assert ex.snapshot_png()[:4] == b"\x89PNG"
