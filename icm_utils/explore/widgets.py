"""An ipywidgets explorer for interventions: the logic lives here so it is tested headlessly.

Its page behaviour (JupyterLab in headless Chromium) is tested in tests/explore/test_browser.py.
"""
from __future__ import annotations

import base64
import io
import math

import ipywidgets as W
import numpy as np
import torch
from IPython.display import display
from matplotlib.figure import Figure
from PIL import Image

from icm_utils.data.images import float_images
from icm_utils.evaluation.counterfactual import known_counterfactual_labels, roles
from icm_utils.evaluation.counterfactual_plots import SHOWCASE_UNIT

NO_TRUTH = "not known: no simulator renders these data under do()"


def _number(v: float) -> str:
    """A table cell: two decimals, or "?" for a value the data cannot tell."""
    return "?" if np.isnan(v) else f"{v:.2f}"


def _png(img: np.ndarray, scale: int = 2) -> bytes:
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    im = Image.fromarray(img)
    im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


# A widget-view bundle with an empty model id: JupyterLab's widget renderer hides such an output
# (it is how a closed widget's output disappears), while renderers without the widget (GitHub,
# nbviewer, nbconvert) fall back to the bundle's PNG. So the static snapshot is invisible next
# to the live explorer but is what a saved notebook shows where widgets do not render.
_HIDDEN_IN_LAB = {"version_major": 2, "version_minor": 0, "model_id": ""}
DRAW_LABEL = "new image (simulator)"


class InterventionExplorer:
    """Pick a test image (or draw a unit from the simulator), a variable and a value in the
    variable's own units; see the reconstruction, the model's counterfactual, the true
    counterfactual and every variable's value (true, and read off the model's image by a probe).

    Bad values never raise: they are clipped into the variable's range, or refused with a
    message, and the last good state stays on screen. Values can be typed (``typed``: a text
    box read on Enter) as well as set with the slider.

    Displayed, it shows the live widget followed by a static PNG snapshot of the current state
    (updated with every state), hidden in JupyterLab and shown where widgets do not render.
    """

    def __init__(self, model, dataset, probe=None, seed: int = 0):
        self.model, self.ds, self.probe = model.eval(), dataset, probe
        self.scm, self.graph = dataset.scm, dataset.graph
        # without a simulator (a user's folder, downloaded data) no true counterfactual is drawn:
        # its panel says why, and the table shows only what the graph tells of the truth
        self.simulated = dataset.has_simulator
        self.rng = np.random.default_rng(seed)
        self.res = dataset.images.shape[1]
        self.test_idx = np.asarray(dataset.test_idx)
        self._unit = None  # (image (H,W,3) uint8, exogenous (e,), labels (n,))
        self.state: dict = {}

        name0 = self.graph.names[0]
        lo, hi = self.scm.label_range[name0]
        # continuous_update=False: one model evaluation per release, not one per pixel dragged
        self.unit_slider = W.IntSlider(min(SHOWCASE_UNIT, len(self.test_idx) - 1), 0,
                                       len(self.test_idx) - 1,
                                       description="test image", continuous_update=False)
        # width "auto": the label fits its text instead of the default width's ellipsis
        self.draw_button = W.Button(description=DRAW_LABEL, layout=W.Layout(width="auto"))
        self.variable = W.Dropdown(options=self.graph.names, value=name0, description="do(")
        self.value = W.FloatSlider(value=(lo + hi) / 2, min=lo, max=hi, step=(hi - lo) / 100,
                                   description="= value", continuous_update=False,
                                   layout=W.Layout(width="380px"))
        self.value_unit = W.Label(self._units_of(name0))  # the units of the slider's value
        self.typed = W.Text(value="", description="or type", placeholder="a value, then Enter",
                            continuous_update=False)
        self.message = W.HTML()
        # a fixed size, so the four panels line up whatever the resolution
        shown = ("factual", "reconstruction", "model counterfactual") + (
            ("true counterfactual",) if self.simulated else ())
        self.panels = {k: W.Image(format="png", width=144, height=144) for k in shown}
        self.no_truth = W.HTML(f"<center>true counterfactual<br><i>{NO_TRUTH}</i></center>",
                               layout=W.Layout(width="150px"))
        self.no_truth.add_class("icm-explorer-no-truth")
        self.draw_button.disabled = not self.simulated
        self.table = W.HTML()
        # CSS classes: style hooks, and what the browser test finds the controls by
        for name, w in [("unit", self.unit_slider), ("draw", self.draw_button),
                        ("variable", self.variable), ("value", self.value),
                        ("value-unit", self.value_unit), ("typed", self.typed),
                        ("message", self.message), ("table", self.table)]:
            w.add_class(f"icm-explorer-{name}")
        for k, w in self.panels.items():
            w.add_class("icm-explorer-" + k.replace(" ", "-"))
        self.unit_slider.observe(lambda _: self._pick_test(), names="value")
        self.draw_button.on_click(lambda _: self.draw_unit())
        self.variable.observe(lambda _: self._variable_changed(), names="value")
        self.value.observe(lambda _: self.update(), names="value")
        self.typed.observe(lambda ch: self._typed(ch["new"]), names="value")
        self._box = None
        self._snapshot = None  # DisplayHandle of the static PNG, once displayed
        self._pick_test()

    def _units_of(self, variable: str) -> str:
        """A variable's unit as the SCM names it ("" if it names none)."""
        return self.scm.units.get(variable, "")

    # ------------------------------------------------------------------ user actions
    def _pick_test(self):
        i = self.test_idx[self.unit_slider.value]
        self._unit = (self.ds.images[i], self.ds.exogenous[i], self.ds.labels[i])
        self.update()

    def draw_unit(self):
        """A fresh unit from the simulator (random exogenous values)."""
        exo = self.scm.sample_exogenous(1, self.rng)
        s = self.scm.counterfactual(exo, {}, resolution=self.res)
        self._unit = (s.images[0], s.exogenous[0], s.labels[0])
        self.update()

    def _variable_changed(self):
        lo, hi = self.scm.label_range[self.variable.value]
        # Widen before narrowing so the slider never holds an invalid (min > max) state.
        self.value.min, self.value.max = min(lo, self.value.min), max(hi, self.value.max)
        self.value.min, self.value.max = lo, hi
        self.value.step = (hi - lo) / 100
        self.value_unit.value = self._units_of(self.variable.value)
        self.value.value = float(self._unit[2][self.graph.index(self.variable.value)])
        self.update()

    def set_value(self, v) -> float | None:
        """Set the intervention value from code: clipped into range; NaN/non-numbers refused."""
        try:
            v = float(v)
        except (TypeError, ValueError):
            self.message.value = f"<b>refused</b>: {v!r} is not a number"
            return None
        if math.isnan(v):
            self.message.value = "<b>refused</b>: NaN is not a value"
            return None
        lo, hi = self.scm.label_range[self.variable.value]
        clipped = min(max(v, lo), hi)
        if self.value.value != clipped:
            self.value.value = clipped  # the slider's observer updates
        else:
            self.update()
        if clipped != v:
            self.message.value = (f"{v:g} is outside {self.variable.value}'s range "
                                  f"[{lo:g}, {hi:g}]; clipped to {clipped:g}")
        return clipped

    def _typed(self, text: str) -> None:
        """A value typed into the page: never raises (an exception here would only reach the
        kernel's log, and the reader would see nothing)."""
        if not text.strip():
            return
        try:
            self.set_value(text.strip())
        except Exception as e:  # shown to the reader instead
            self.message.value = f"<b>refused</b>: {type(e).__name__}: {e}"
        self.typed.value = ""  # ready for the next value (an empty box is ignored above)

    # ------------------------------------------------------------------ compute + show
    @torch.no_grad()
    def compute(self, variable: str, value: float) -> dict:
        img, exo, lab = self._unit
        x = float_images(img[None])
        rec = self.model.reconstruct(x)
        x_cf, _ = self.model.counterfactual(x, {variable: value}, units="label")
        out = {"factual": img, "reconstruction": rec[0].permute(1, 2, 0).numpy(),
               "model counterfactual": x_cf[0].permute(1, 2, 0).numpy(), "factual_labels": lab}
        if self.simulated:
            true = self.scm.counterfactual(exo[None], {variable: value}, resolution=self.res)
            out.update({"true counterfactual": true.images[0], "true_cf_labels": true.labels[0]})
        else:  # what the graph tells: the value set, non-descendants as they were, the rest unknown
            out["true_cf_labels"] = known_counterfactual_labels(
                self.graph, lab, self.graph.index(variable), value)[0]
        if self.probe is not None:
            out["model_cf_labels"] = self.probe.predict(x_cf)[0]
        return out

    def update(self):
        try:
            self.state = self.compute(self.variable.value, float(self.value.value))
        except ValueError as e:  # e.g. the simulator refuses a value; keep the last good state
            self.message.value = f"<b>refused</b>: {e}"
            return
        self.message.value = ""
        for k, w in self.panels.items():
            w.value = _png(self.state[k])
        self.table.value = self._table_html()
        if self._snapshot is not None:
            self._snapshot.update(self.snapshot_bundle(), raw=True)

    def _table_html(self) -> str:
        role = roles(self.graph, self.graph.index(self.variable.value))
        rows = ["<tr><th>variable</th><th>role</th><th>factual</th><th>true cf</th>"
                + ("<th>model cf (probe)</th>" if "model_cf_labels" in self.state else "") + "</tr>"]
        for i, n in enumerate(self.graph.names):
            cells = [n, role[i], f"{self.state['factual_labels'][i]:.2f}",
                     _number(self.state['true_cf_labels'][i])]
            if "model_cf_labels" in self.state:
                cells.append(f"{self.state['model_cf_labels'][i]:.2f}")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return "<table>" + "".join(rows) + "</table>"

    def widget(self):
        """The explorer's widget tree (built once, so every display shows the same one)."""
        if self._box is None:
            panels = [W.VBox([W.HTML(f"<center>{k}</center>", layout=W.Layout(width="150px")), w])
                      for k, w in self.panels.items()] + ([] if self.simulated else [self.no_truth])
            controls = W.HBox([self.unit_slider, self.draw_button])
            self._box = W.VBox([controls, W.HBox([self.variable, self.value, self.value_unit,
                                                  self.typed]),
                                self.message, W.HBox(panels), self.table])
            self._box.add_class("icm-explorer")
        return self._box

    def snapshot_png(self) -> bytes:
        """The current state as one static PNG: the four images and the table of values."""
        fig = Figure(figsize=(8, 3.2), dpi=80)
        keys = list(self.panels)
        axes = fig.subplots(1, len(keys))
        for ax, k in zip(axes, keys):
            img = self.state[k]
            ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
            ax.set_title(k, fontsize=9)
            ax.axis("off")
        j = self.graph.index(self.variable.value)
        cols = ["factual_labels", "true_cf_labels"] + (["model_cf_labels"] if "model_cf_labels"
                                                         in self.state else [])
        heads = {"factual_labels": "factual", "true_cf_labels": "true cf", "model_cf_labels": "model cf"}
        units = f" {self.value_unit.value}" if self.value_unit.value else ""
        lines = [f"do({self.variable.value} = {float(self.value.value):.2f}{units})",
                 f"{'variable':<16}" + "".join(f" {heads[c]:>9}" for c in cols)]
        for i, n in enumerate(self.graph.names):
            row = f"{n:<16}" + "".join(f" {_number(self.state[c][i]):>9}" for c in cols)
            lines.append(row + ("  <- intervened" if i == j else ""))
        fig.text(0.02, 0.02, "\n".join(lines), family="monospace", fontsize=8, va="bottom")
        fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.42, wspace=0.05)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def snapshot_bundle(self) -> dict:
        png = base64.b64encode(self.snapshot_png()).decode("ascii")
        return {"application/vnd.jupyter.widget-view+json": dict(_HIDDEN_IN_LAB), "image/png": png,
                "text/plain": f"<InterventionExplorer snapshot: do({self.variable.value} = "
                              f"{float(self.value.value):.2f})>"}

    def _ipython_display_(self):
        live = self.widget()._repr_mimebundle_()
        live["text/plain"] = "<InterventionExplorer: interactive where widgets render; snapshot below>"
        display(live, raw=True)
        self._snapshot = display(self.snapshot_bundle(), raw=True, display_id=True)
