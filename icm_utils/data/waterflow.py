"""Water-flow SCM (CausalVAE), physics as in the peers.

Variables (labels, float, scene units):
  ball_size      ball radius b = r / 30,
  hole_position  height of the hole in the cup's right wall, d = hole / 3,
  water_height   h = b**3 + h_raw / 10 (+ noise_std * e_height), the water rectangle is 5 + h high,
  water_flow     F = sqrt(2 * 0.98 * h * (d - 0.5)) (+ noise_std * e_flow): the jet's reach at
                 y = 0.5, as the peers' label (clipped at >= 0).
Exogenous: b, d (roots), h_raw (water height's own term), jet_e = 0.01 * max(|N(0,1)|, 1) (the
peers' unseeded jet noise, seeded here; it bends the drawn jet but not the flow label), and the
standardised mechanism noises e_height, e_flow (used only when noise_std > 0).
The jet is drawn through x(y) = 8 + F * sqrt(1 + jet_e / 0.98) * sqrt((d - y) / (d - 0.5)),
which equals the peers' 8 + sqrt(2 (0.98 + jet_e) h (d - y)) when noise_std = 0 and follows the
(noisy) label otherwise, so the image always shows its label.
"""
from __future__ import annotations

import numpy as np

from icm_utils.data.graph import FLOW_GRAPH
from icm_utils.data.render import Circle, Polyline, Rect, Segment
from icm_utils.data.scm import ImageSCM

XLIM = YLIM = (0.0, 20.0)
CUP_LEFT, CUP_RIGHT, CUP_TOP = 3.0, 8.0, 19.0
BASE_WATER = 5.0  # water rectangle height is BASE_WATER + h
BALL_X, BALL_LIFT = 5.5, 0.5  # ball centre (5.5, b + 0.5)
HOLE_GAP = 0.4
JET_END_Y = 0.5
GROUND_Y = 0.2
GRAVITY = 0.98  # the peers' constant
LINE_POINTS = 2.0
JET_POINTS = 16

# the peers' integer grid (r, h_raw, hole), looped in this order (r outermost)
R_VALUES, H_RAW_VALUES, HOLE_VALUES = np.arange(5, 35), np.arange(10, 40), np.arange(6, 15)


def water_height(ball_radius, h_raw):
    return np.asarray(ball_radius) ** 3 + np.asarray(h_raw) / 10.0


def water_flow(height, hole_position):
    return np.sqrt(2.0 * GRAVITY * np.asarray(height) * np.maximum(hole_position - JET_END_Y, 0.0))


def jet_noise(z):
    """The peers' jet perturbation 0.01 * max(|z|, 1) from standard normal z."""
    return 0.01 * np.maximum(np.abs(z), 1.0)


_B = (float(R_VALUES[0] / 30.0), float(R_VALUES[-1] / 30.0))
_D = (float(HOLE_VALUES[0] / 3.0), float(HOLE_VALUES[-1] / 3.0))
_H = (float(water_height(_B[0], H_RAW_VALUES[0])), float(water_height(_B[1], H_RAW_VALUES[-1])))


class WaterFlowSCM(ImageSCM):
    """Ball size -> water height -> water flow <- hole position."""

    name = "flow"
    graph = FLOW_GRAPH
    units = {"ball_size": "scene units (radius)", "hole_position": "scene units (height)",
             "water_height": "scene units", "water_flow": "scene units (jet reach)"}
    label_range = {"ball_size": _B, "hole_position": _D, "water_height": _H,
                   "water_flow": (float(water_flow(_H[0], _D[0])),
                                  float(water_flow(_H[1], _D[1])))}
    # do() accepts: ball fits the cup, hole above the jet's end and below the rim, water below
    # the rim, jet reach inside the frame
    do_range = {"ball_size": (0.0, (CUP_RIGHT - CUP_LEFT) / 2),
                "hole_position": (JET_END_Y, CUP_TOP - HOLE_GAP),
                "water_height": (0.0, CUP_TOP - BASE_WATER),
                "water_flow": (0.0, XLIM[1] - CUP_RIGHT)}
    exogenous_names = ["ball_size", "hole_position", "h_raw", "jet_e", "e_height", "e_flow"]
    mechanism_noise = ("e_height", "e_flow")

    def sample_exogenous(self, n, rng):
        exo = np.empty((n, 6))
        exo[:, 0] = rng.uniform(*_B, size=n)
        exo[:, 1] = rng.uniform(*_D, size=n)
        exo[:, 2] = rng.uniform(H_RAW_VALUES[0], H_RAW_VALUES[-1], size=n)
        exo[:, 3] = jet_noise(rng.standard_normal(n))
        exo[:, 4:] = rng.standard_normal((n, 2))
        return exo

    def mechanism(self, var, values, exo):
        if var == "ball_size":
            return exo[:, 0]
        if var == "hole_position":
            return exo[:, 1]
        if var == "water_height":
            h = water_height(values["ball_size"], exo[:, 2])
            return np.maximum(h + self.noise_std * exo[:, 4], 0.0)
        if var == "water_flow":
            f = water_flow(values["water_height"], values["hole_position"])
            return np.maximum(f + self.noise_std * exo[:, 5], 0.0)
        raise KeyError(var)

    # the cup's left wall and the ground are static; the right wall is drawn around the hole
    objects = {"ball": ("ball_size",), "water": ("water_height",),
               "right_wall": ("hole_position",), "jet": ("water_flow", "hole_position")}
    xlim, ylim = XLIM, YLIM

    def scene(self, labels, exogenous, canvas):
        exo = self.check_exogenous(exogenous)
        b, d, h, f = (labels[:, k] for k in range(4))
        w = canvas.points_to_scene(LINE_POINTS)
        # jet: s uniform in [0, 1] gives x uniform along the reach, y on the parabola
        s = np.linspace(0.0, 1.0, JET_POINTS)[None, :]
        reach = f * np.sqrt(1.0 + exo[:, 3] / GRAVITY)
        jet_x = CUP_RIGHT + reach[:, None] * s
        jet_y = d[:, None] - np.maximum(d - JET_END_Y, 0.0)[:, None] * s**2
        return [
            ("water", Rect(CUP_LEFT, 0.0, CUP_RIGHT, BASE_WATER + h, "lightskyblue")),
            (None, Segment(CUP_LEFT, 0.0, CUP_LEFT, CUP_TOP, w, cap="butt")),
            ("right_wall", Segment(CUP_RIGHT, 0.0, CUP_RIGHT, d, w, cap="butt")),
            ("right_wall", Segment(CUP_RIGHT, d + HOLE_GAP, CUP_RIGHT, CUP_TOP, w, cap="butt")),
            ("ball", Circle(BALL_X, b + BALL_LIFT, b, "firebrick")),
            ("jet", Polyline(jet_x, jet_y, w, "lightskyblue")),  # lines after patches, as peers
            (None, Segment(XLIM[0], GROUND_Y, XLIM[1], GROUND_Y, w, cap="butt")),
        ]

    def grid_exogenous(self, seed=0):
        """All 30 x 30 x 9 = 8,100 (r, h_raw, hole) combinations, r outermost as the peers.

        Every unit keeps its own row (no file names, so no collisions). The peers' counter
        sends image k to test when k % 5 == 4: 6,480 train / 1,620 test. The jet noise and the
        mechanism noises are drawn from ``seed``.
        """
        r, hr, hole = np.meshgrid(R_VALUES, H_RAW_VALUES, HOLE_VALUES, indexing="ij")
        n = r.size
        rng = np.random.default_rng(seed)
        exo = np.empty((n, 6))
        exo[:, 0] = r.ravel() / 30.0
        exo[:, 1] = hole.ravel() / 3.0
        exo[:, 2] = hr.ravel()
        exo[:, 3] = jet_noise(rng.standard_normal(n))
        exo[:, 4:] = rng.standard_normal((n, 2))
        test = np.arange(n) % 5 == 4
        return exo, np.nonzero(~test)[0], np.nonzero(test)[0]
