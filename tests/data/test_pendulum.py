import math

import numpy as np
import pytest

from icm_utils.data.pendulum import PendulumSCM, proj, shadow
from icm_utils.data.render import COLORS

ANGLE, LIGHT, LENGTH, POS = range(4)


@pytest.fixture(scope="module")
def grid():
    return PendulumSCM().grid(32)


def pixel(x, y, res=64):
    """(row, col) of scene point (x, y) in the pendulum frame x (0, 20), y (-1, 21)."""
    return int((21 - y) / 22 * res), int(x / 20 * res)


def exo(theta, phi, e=(0.0, 0.0)):
    return np.array([[theta, phi, *e]], dtype=np.float64)


def test_proj_matches_the_peers_formula_and_hand_values():
    assert proj(10, 10.5, 20.5, 45.0) == pytest.approx(20.0)  # tan 45 = 1: x + 10
    assert proj(10, 10.5, -0.5, 90.0) == pytest.approx(10.0)  # vertical light: straight down
    for x, y, base, phi in [(3.0, 7.0, -0.5, 60.3), (12.0, 2.0, 20.5, 121.5)]:
        t = math.tan(math.radians(phi))
        assert proj(x, y, base, phi) == pytest.approx((base - (y - x * t)) / t)


def test_shadow_hand_computed():
    # theta = 0, phi = 45: pivot -> 10 - 11 = -1, far point (10, 1) -> 10 - 1.5 = 8.5
    length, mid = shadow(0.0, 45.0)
    assert length == pytest.approx(9.5) and mid == pytest.approx(3.75)
    length, mid = shadow(0.0, 135.0)  # mirrored light
    assert length == pytest.approx(9.5) and mid == pytest.approx(16.25)
    length, mid = shadow(0.0, 90.0)  # both points project to x = 10: minimum length 3
    assert length == pytest.approx(3.0) and mid == pytest.approx(10.0)


def test_grid_counts_split_and_ranges(grid):
    s, train, test = grid
    assert len(s) == 7308 and (len(train), len(test)) == (5482, 1826)
    assert test[0] == 4 and np.all(np.diff(test) == 4)  # the peers' counter
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.r_[train, test]), np.arange(7308))
    lab = s.labels
    assert lab.dtype == np.float32 and s.exogenous.dtype == np.float64
    assert s.images.shape == (7308, 32, 32, 3) and s.images.dtype == np.uint8
    lo, hi = lab.min(0), lab.max(0)
    assert (lo[ANGLE], hi[ANGLE]) == pytest.approx((-36.0, 38.7))
    assert (lo[LIGHT], hi[LIGHT]) == pytest.approx((54.0, 132.3))
    assert not np.any(np.isclose(lab[:, LIGHT], 90.0))  # j = 100 skipped
    assert len(np.unique(lab[:, ANGLE])) == 84 and len(np.unique(lab[:, LIGHT])) == 87
    # the peers' ranges: length 3..12.6, mid 2.0..19.6
    assert (lo[LENGTH], hi[LENGTH]) == pytest.approx((3.0, 12.58), abs=0.01)
    assert (lo[POS], hi[POS]) == pytest.approx((2.01, 19.61), abs=0.01)
    scm = PendulumSCM()
    for var, col in (("shadow_length", LENGTH), ("shadow_position", POS)):
        lo, hi = scm.label_range[var]
        assert lo <= lab[:, col].min() and lab[:, col].max() <= hi


def test_grid_labels_equal_the_peers_computation(grid):
    s, _, _ = grid
    for k in (0, 1234, 7307):
        i, j = round(s.labels[k, ANGLE] / 0.9), round(s.labels[k, LIGHT] / 0.9)
        th, ph = i * math.pi / 200, j * math.pi / 200

        def p(x, y, base=-0.5, ph=ph):
            return (base - (y - x * math.tan(ph))) / math.tan(ph)
        a, b = p(10, 10.5), p(10 + 9.5 * math.sin(th), 10.5 - 9.5 * math.cos(th))
        assert s.labels[k, LENGTH] == pytest.approx(max(3, abs(a - b)), rel=1e-6)
        assert s.labels[k, POS] == pytest.approx((a + b) / 2, rel=1e-6)


def test_rendered_pixels_show_bob_sun_shadow_and_white_background():
    scm = PendulumSCM()
    s = scm.counterfactual(exo(0.0, 90.0), None, resolution=64)
    img = s.images[0]
    assert tuple(img[pixel(10, 2.5)]) == COLORS["firebrick"]  # bob centre at (10, 10.5 - 8)
    assert tuple(img[pixel(10, 20.5)]) == COLORS["orange"]  # sun straight above the pivot
    assert tuple(img[pixel(10, 6.5)]) == (0, 0, 0)  # the rod
    assert tuple(img[pixel(10, -0.5)]) == (0, 0, 0)  # the shadow, centred at x = 10
    assert tuple(img[pixel(13, -0.5)]) == (255, 255, 255)  # shadow is only 3 long
    assert tuple(img[pixel(1, 10)]) == (255, 255, 255)


def test_96_pixels_and_determinism():
    scm = PendulumSCM(noise_std=0.3)
    a, b = scm.sample(6, seed=3, resolution=96), scm.sample(6, seed=3, resolution=96)
    assert a.images.shape == (6, 96, 96, 3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = scm.sample(6, seed=4, resolution=96)
    assert not np.array_equal(a.labels, c.labels)


def test_random_mode_stays_in_grid_ranges():
    scm = PendulumSCM()
    lab = scm.sample(500, seed=0, resolution=8).labels
    for col, var in ((ANGLE, "pendulum_angle"), (LIGHT, "light_position")):
        lo, hi = scm.label_range[var]
        assert lo <= lab[:, col].min() and lab[:, col].max() <= hi


def test_intervention_on_root_changes_descendants_only():
    scm = PendulumSCM()
    obs = scm.sample(50, seed=1, resolution=16)
    itv = scm.sample(50, seed=1, do={"pendulum_angle": 20.0}, resolution=16)
    assert np.all(itv.labels[:, ANGLE] == np.float32(20.0))
    np.testing.assert_array_equal(itv.labels[:, LIGHT], obs.labels[:, LIGHT])
    assert not np.allclose(itv.labels[:, LENGTH], obs.labels[:, LENGTH])
    length, mid = shadow(20.0, obs.exogenous[:, 1])
    np.testing.assert_allclose(itv.labels[:, LENGTH], length, rtol=1e-6)
    np.testing.assert_allclose(itv.labels[:, POS], mid, rtol=1e-6)


def test_intervention_on_a_child_leaves_its_sibling_and_parents():
    scm = PendulumSCM()
    obs = scm.sample(20, seed=2, resolution=16)
    cf = scm.counterfactual(obs.exogenous, {"shadow_length": 6.0}, resolution=16)
    keep = [ANGLE, LIGHT, POS]
    np.testing.assert_array_equal(cf.labels[:, keep], obs.labels[:, keep])
    assert np.all(cf.labels[:, LENGTH] == 6.0)


def test_counterfactual_noop_reproduces_the_factual_image_exactly():
    scm = PendulumSCM(noise_std=0.4)
    obs = scm.sample(300, seed=5, resolution=32)
    for do in (None, {}, {"pendulum_angle": obs.exogenous[:, 0]},
               {"light_position": obs.exogenous[:, 1]},
               {"light_position": obs.labels[:, LIGHT]},  # the stored float32 label
               {"shadow_length": obs.labels[:, LENGTH]}):
        cf = scm.counterfactual(obs.exogenous, do, resolution=32)
        np.testing.assert_array_equal(cf.images, obs.images)
        np.testing.assert_array_equal(cf.labels, obs.labels)


def test_noise_makes_counterfactual_differ_from_intervention():
    noisy, clean = PendulumSCM(noise_std=0.5), PendulumSCM()
    obs = noisy.sample(40, seed=6)
    cf = noisy.counterfactual(obs.exogenous, {"pendulum_angle": 10.0})
    # the interventional mechanism's output without this unit's noise
    length, mid = shadow(10.0, obs.exogenous[:, 1])
    np.testing.assert_allclose(cf.labels[:, POS] - mid, 0.5 * obs.exogenous[:, 3], atol=1e-5)
    assert np.abs(cf.labels[:, POS] - mid).max() > 0.1
    # a fresh interventional sample (new units) does not reproduce the counterfactual
    itv = noisy.sample(40, seed=7, do={"pendulum_angle": 10.0})
    assert not np.allclose(itv.labels[:, POS], cf.labels[:, POS])
    # without noise the counterfactual shadow is the deterministic one
    cf0 = clean.counterfactual(obs.exogenous, {"pendulum_angle": 10.0})
    np.testing.assert_allclose(cf0.labels[:, POS], mid, rtol=1e-6)


def test_bad_inputs_name_the_problem():
    scm = PendulumSCM()
    with pytest.raises(ValueError, match="unknown variable 'angle'"):
        scm.sample(2, do={"angle": 3.0})
    with pytest.raises(ValueError, match=r"do\(pendulum_angle=95\) is outside .*\[-90, 90\] deg"):
        scm.sample(2, do={"pendulum_angle": 95.0})
    with pytest.raises(ValueError, match=r"do\(light_position=nan\)"):
        scm.sample(2, do={"light_position": float("nan")})
    with pytest.raises(ValueError, match="must be a scalar or have length 2"):
        scm.sample(2, do={"light_position": [60.0, 70.0, 80.0]})
    with pytest.raises(ValueError, match=r"exogenous must have shape \(N, 4\)"):
        scm.counterfactual(np.zeros((3, 2)), None)
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        scm.sample(-1)
    with pytest.raises(ValueError, match="resolution must be a positive integer"):
        scm.sample(2, resolution=0)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        PendulumSCM(noise_std=-0.1)
