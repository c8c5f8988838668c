"""Pendulum SCM (CausalVAE, Yang et al. 2021), physics as in the peers.

Variables (labels, float, physical units):
  pendulum_angle  theta in degrees (0 = hanging straight down, positive swings right),
  light_position  phi in degrees (direction of the light rays; 90 = straight down),
  shadow_length   length of the shadow on the ground y = -0.5, scene units,
  shadow_position x of the shadow's centre, scene units.
Mechanisms: with proj(x, y, b) = x + (b - y) / tan(phi) (where the ray through (x, y) meets
height b; the peers' (b - (y - x tan phi)) / tan phi, rewritten to stay finite at phi = 90),
pivot P = (10, 10.5) and the bob's far point F = P + 9.5 (sin theta, -cos theta):
  shadow_length   = max(3, |proj(P) - proj(F)|) + noise_std * e_length   (clipped at >= 0)
  shadow_position = (proj(P) + proj(F)) / 2      + noise_std * e_position
e_length, e_position ~ N(0, 1) are exogenous (stored standardised), so with noise_std > 0 a
counterfactual differs from an intervention; noise_std = 0 is the peers' deterministic SCM.
"""
from __future__ import annotations

import numpy as np

from icm_utils.data.graph import PENDULUM_GRAPH
from icm_utils.data.render import Circle, Segment
from icm_utils.data.scm import ImageSCM

# label units: the mechanism noise of the shadow at which the workbook studies abduction and the
# support ladder's highest level (0.57 label std of the grid's shadow length)
STUDY_NOISE_STD = 2.0
PIVOT = (10.0, 10.5)
ROD_LENGTH = 8.0  # pivot to bob centre
BOB_RADIUS = 1.5
FAR_POINT = 9.5  # pivot to the bob's far edge: the shadow's other end
GROUND_Y = -0.5
SUN_Y, SUN_RADIUS = 20.5, 3.0
MIN_SHADOW = 3.0
XLIM, YLIM = (0.0, 20.0), (-1.0, 21.0)
LINE_POINTS = 3.0  # matplotlib linewidth of rod and shadow in the peers

# the peers' grid: indices i, j with theta = i * pi / 200 (= 0.9 i degrees), phi likewise
ANGLE_INDEX = np.arange(-40, 44)
LIGHT_INDEX = np.array([j for j in range(60, 148) if j != 100])  # phi = 90 skipped by peers
DEG_PER_INDEX = 0.9


def proj(x, y, base, phi_deg):
    """x where the light ray through (x, y) at angle phi (degrees) meets height ``base``."""
    phi = np.deg2rad(phi_deg)
    return x + (base - y) * np.cos(phi) / np.sin(phi)


def shadow(theta_deg, phi_deg) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (length, centre) of the shadow on the ground."""
    th = np.deg2rad(theta_deg)
    p0 = proj(PIVOT[0], PIVOT[1], GROUND_Y, phi_deg)
    p1 = proj(PIVOT[0] + FAR_POINT * np.sin(th), PIVOT[1] - FAR_POINT * np.cos(th),
              GROUND_Y, phi_deg)
    return np.maximum(MIN_SHADOW, np.abs(p0 - p1)), 0.5 * (p0 + p1)


class PendulumSCM(ImageSCM):
    """Pendulum angle, light position -> shadow length, shadow position."""

    name = "pendulum"
    graph = PENDULUM_GRAPH
    units = {"pendulum_angle": "deg", "light_position": "deg",
             "shadow_length": "scene units", "shadow_position": "scene units (x)"}
    # data support (grid ranges; shadow ranges rounded outward from the grid's values)
    label_range = {"pendulum_angle": (-36.0, 38.7), "light_position": (54.0, 132.3),
                   "shadow_length": (3.0, 12.58), "shadow_position": (2.0, 19.61)}
    # do() accepts: bob below the pivot; sun centre inside the frame (|tan phi| >= 1);
    # a shadow that fits the frame's width / has its centre in the frame
    do_range = {"pendulum_angle": (-90.0, 90.0), "light_position": (45.0, 135.0),
                "shadow_length": (0.0, 20.0), "shadow_position": (0.0, 20.0)}
    exogenous_names = ["pendulum_angle", "light_position", "e_length", "e_position"]
    mechanism_noise = ("e_length", "e_position")

    def sample_exogenous(self, n, rng):
        exo = np.empty((n, 4))
        for k, var in enumerate(("pendulum_angle", "light_position")):
            exo[:, k] = rng.uniform(*self.label_range[var], size=n)
        exo[:, 2:] = rng.standard_normal((n, 2))
        return exo

    def mechanism(self, var, values, exo):
        if var == "pendulum_angle":
            return exo[:, 0]
        if var == "light_position":
            return exo[:, 1]
        length, mid = shadow(values["pendulum_angle"], values["light_position"])
        if var == "shadow_length":
            return np.maximum(length + self.noise_std * exo[:, 2], 0.0)
        if var == "shadow_position":
            return mid + self.noise_std * exo[:, 3]
        raise KeyError(var)

    objects = {"pendulum": ("pendulum_angle",), "sun": ("light_position",),
               "shadow": ("shadow_length", "shadow_position")}
    xlim, ylim = XLIM, YLIM

    def scene(self, labels, exogenous, canvas):
        theta, phi, length, mid = (labels[:, k] for k in range(4))
        w = canvas.points_to_scene(LINE_POINTS)
        th = np.deg2rad(theta)
        bx, by = PIVOT[0] + ROD_LENGTH * np.sin(th), PIVOT[1] - ROD_LENGTH * np.cos(th)
        sun_x = proj(PIVOT[0], PIVOT[1], SUN_Y, phi)
        return [
            ("pendulum", Segment(PIVOT[0], PIVOT[1], bx, by, w, "black", cap="round")),  # rod
            ("pendulum", Circle(bx, by, BOB_RADIUS, "firebrick")),  # bob
            ("sun", Circle(sun_x, SUN_Y, SUN_RADIUS, "orange")),
            # butt caps: the drawn shadow is exactly `length` long
            ("shadow", Segment(mid - length / 2, GROUND_Y, mid + length / 2, GROUND_Y, w,
                               "black", cap="butt")),
        ]

    def grid_exogenous(self, seed=0):
        """84 angles x 87 lights = 7,308 units, angle-major as the peers loop.

        The peers' counter sends image k to test when k > 0 and k % 4 == 0 (their "every 5th"
        resets to 0 and is then incremented), giving their 5,482 train / 1,826 test split.
        """
        ii, jj = np.meshgrid(ANGLE_INDEX, LIGHT_INDEX, indexing="ij")
        n = ii.size
        exo = np.zeros((n, 4))
        exo[:, 0] = ii.ravel() * DEG_PER_INDEX
        exo[:, 1] = jj.ravel() * DEG_PER_INDEX
        # mechanism noise (used only when noise_std > 0) is seeded so the grid is reproducible
        exo[:, 2:] = np.random.default_rng(seed).standard_normal((n, 2))
        k = np.arange(n)
        test = (k > 0) & (k % 4 == 0)
        return exo, np.nonzero(~test)[0], np.nonzero(test)[0]
