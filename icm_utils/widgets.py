"""An ipywidgets explorer for interventions: the logic lives here so it is tested headlessly."""
from __future__ import annotations

import io
import math

import numpy as np
import torch

from .train import images_to_tensor


def _png(img: np.ndarray, scale: int = 2) -> bytes:
    from PIL import Image

    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    im = Image.fromarray(img)
    im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


class InterventionExplorer:
    """Pick a test image (or draw a unit from the simulator), a variable and a value in the
    variable's own units; see the reconstruction, the model's counterfactual, the true
    counterfactual and every variable's value (true, and read off the model's image by a probe).

    Bad values never raise: they are clipped into the variable's range, or refused with a
    message, and the last good state stays on screen.
    """

    def __init__(self, model, dataset, probe=None, seed: int = 0):
        import ipywidgets as W

        self.model, self.ds, self.probe = model.eval(), dataset, probe
        self.scm, self.graph = dataset.scm, dataset.graph
        self.rng = np.random.default_rng(seed)
        self.res = dataset.images.shape[1]
        self.test_idx = np.asarray(dataset.test_idx)
        self._unit = None  # (image (H,W,3) uint8, exogenous (e,), labels (n,))
        self.state: dict = {}

        name0 = self.graph.names[0]
        lo, hi = self.scm.label_range[name0]
        self.unit_slider = W.IntSlider(0, 0, len(self.test_idx) - 1, description="test image")
        self.draw_button = W.Button(description="draw from simulator")
        self.variable = W.Dropdown(options=self.graph.names, value=name0, description="do(")
        self.value = W.FloatSlider(value=(lo + hi) / 2, min=lo, max=hi, step=(hi - lo) / 100,
                                   description="= value", continuous_update=False)
        self.message = W.HTML()
        self.panels = {k: W.Image(format="png") for k in
                       ("factual", "reconstruction", "model counterfactual", "true counterfactual")}
        self.table = W.HTML()
        self.unit_slider.observe(lambda _: self._pick_test(), names="value")
        self.draw_button.on_click(lambda _: self.draw_unit())
        self.variable.observe(lambda _: self._variable_changed(), names="value")
        self.value.observe(lambda _: self.update(), names="value")
        self._pick_test()

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
        self.value.value = clipped
        self.update()
        if clipped != v:
            self.message.value = (f"{v:g} is outside {self.variable.value}'s range "
                                  f"[{lo:g}, {hi:g}]; clipped to {clipped:g}")
        return clipped

    # ------------------------------------------------------------------ compute + show
    @torch.no_grad()
    def compute(self, variable: str, value: float) -> dict:
        img, exo, lab = self._unit
        x = images_to_tensor(img[None]).float() / 255
        rec = self.model.reconstruct(x)
        x_cf, _ = self.model.counterfactual(x, {variable: value}, units="label")
        true = self.scm.counterfactual(exo[None], {variable: value}, resolution=self.res)
        out = {"factual": img, "reconstruction": rec[0].permute(1, 2, 0).numpy(),
               "model counterfactual": x_cf[0].permute(1, 2, 0).numpy(),
               "true counterfactual": true.images[0], "factual_labels": lab,
               "true_cf_labels": true.labels[0]}
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

    def _table_html(self) -> str:
        j = self.graph.index(self.variable.value)
        desc = self.graph.descendants(j)
        rows = ["<tr><th>variable</th><th>role</th><th>factual</th><th>true cf</th>"
                + ("<th>model cf (probe)</th>" if "model_cf_labels" in self.state else "") + "</tr>"]
        for i, n in enumerate(self.graph.names):
            role = "intervened" if i == j else ("descendant" if i in desc else "—")
            cells = [n, role, f"{self.state['factual_labels'][i]:.2f}",
                     f"{self.state['true_cf_labels'][i]:.2f}"]
            if "model_cf_labels" in self.state:
                cells.append(f"{self.state['model_cf_labels'][i]:.2f}")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return "<table>" + "".join(rows) + "</table>"

    def widget(self):
        import ipywidgets as W

        panels = [W.VBox([W.HTML(f"<center>{k}</center>"), w]) for k, w in self.panels.items()]
        controls = W.HBox([self.unit_slider, self.draw_button])
        return W.VBox([controls, W.HBox([self.variable, self.value]), self.message,
                       W.HBox(panels), self.table])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget())
