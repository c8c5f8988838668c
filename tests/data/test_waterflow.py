import math

import numpy as np
import pytest

from icm_utils.data.render import COLORS
from icm_utils.data.waterflow import WaterFlowSCM, jet_noise, water_flow, water_height

BALL, HOLE, HEIGHT, FLOW = range(4)


@pytest.fixture(scope="module")
def grid():
    return WaterFlowSCM().grid(24)


def pixel(x, y, res=64):
    """(row, col) of scene point (x, y) in the frame (0, 20) x (0, 20)."""
    return int((20 - y) / 20 * res), int(x / 20 * res)


def unit(b=0.5, d=3.0, h_raw=20.0, jet_e=0.01, e=(0.0, 0.0)):
    return np.array([[b, d, h_raw, jet_e, *e]], dtype=np.float64)


def test_physics_hand_computed():
    assert water_height(30 / 30, 10) == pytest.approx(2.0)  # r = 30, h_raw = 10: 1 + 1
    assert water_height(15 / 30, 25) == pytest.approx(0.125 + 2.5)
    assert water_flow(2.0, 3.0) == pytest.approx(math.sqrt(2 * 0.98 * 2.0 * 2.5))
    assert water_flow(2.0, 0.3) == 0.0  # hole below the jet's end: no reach
    assert jet_noise(np.array([0.3, -2.5])) == pytest.approx([0.01, 0.025])
    lab = WaterFlowSCM().labels_from_exogenous(unit(1.0, 4.0, 10.0))[0]
    assert lab == pytest.approx([1.0, 4.0, 2.0, math.sqrt(2 * 0.98 * 2.0 * 3.5)], rel=1e-6)


def test_grid_is_all_8100_combinations_without_collisions(grid):
    s, train, test = grid
    assert len(s) == 8100 and (len(train), len(test)) == (6480, 1620)
    assert test[0] == 4 and np.all(np.diff(test) == 5)
    r = np.rint(s.exogenous[:, 0] * 30).astype(int)
    hole = np.rint(s.exogenous[:, 1] * 3).astype(int)
    h_raw = s.exogenous[:, 2].astype(int)
    keys = set(zip(r, h_raw, hole, strict=True))
    assert len(keys) == 8100
    assert (r.min(), r.max(), h_raw.min(), h_raw.max(), hole.min(), hole.max()) == \
        (5, 34, 10, 39, 6, 14)
    assert len({tuple(row) for row in s.labels}) == 8100  # no two units share all labels
    scm = WaterFlowSCM()
    for k, var in enumerate(scm.names):
        lo, hi = scm.label_range[var]
        assert s.labels[:, k].min() == pytest.approx(lo, rel=1e-6)
        assert s.labels[:, k].max() == pytest.approx(hi, rel=1e-6)
    assert np.all(s.exogenous[:, 3] >= 0.01)  # the peers' jet noise is never below 0.01


def test_rendered_pixels():
    s = WaterFlowSCM().counterfactual(unit(1.0, 4.0, 10.0), None, resolution=64)
    img = s.images[0]
    assert tuple(img[pixel(5.5, 1.5)]) == COLORS["firebrick"]  # ball centre (5.5, 1 + 0.5)
    assert tuple(img[pixel(4.0, 6.0)]) == COLORS["lightskyblue"]  # water below 5 + h = 7
    assert tuple(img[pixel(4.0, 8.0)]) == (255, 255, 255)  # above the water
    assert tuple(img[pixel(3.0, 10.0)]) == (0, 0, 0)  # left wall
    assert tuple(img[pixel(15.0, 0.2)]) == (0, 0, 0)  # ground line
    assert tuple(img[pixel(18.0, 15.0)]) == (255, 255, 255)
    # the jet leaves the hole at (8, 4) and is blue somewhere right of the cup
    right = img[pixel(0, 4.5)[0]: pixel(0, 0.6)[0], pixel(8.6, 0)[1]:]
    assert (np.abs(right.astype(int) - COLORS["lightskyblue"]).sum(-1) < 60).any()


def test_jet_reach_follows_the_flow_label():
    scm = WaterFlowSCM()
    u = np.repeat(unit(0.5, 4.0, 30.0), 2, axis=0)
    cf = scm.counterfactual(u, {"water_flow": np.array([2.0, 8.0])}, resolution=64)
    blue = (np.abs(cf.images.astype(int) - COLORS["lightskyblue"]).sum(-1) < 80)
    cols = [np.nonzero(b.any(0))[0].max() for b in blue]  # rightmost blue column
    assert cols[1] - cols[0] == pytest.approx(6.0 * 64 / 20, abs=2.5)


def test_interventions_and_counterfactual_noop():
    scm = WaterFlowSCM(noise_std=0.2)
    obs = scm.sample(30, seed=0, resolution=24)
    cf = scm.counterfactual(obs.exogenous, {"ball_size": 1.0}, resolution=24)
    np.testing.assert_array_equal(cf.labels[:, HOLE], obs.labels[:, HOLE])  # non-descendant
    assert not np.allclose(cf.labels[:, HEIGHT], obs.labels[:, HEIGHT])
    assert not np.allclose(cf.labels[:, FLOW], obs.labels[:, FLOW])
    cf_h = scm.counterfactual(obs.exogenous, {"water_height": 3.0}, resolution=24)
    np.testing.assert_array_equal(cf_h.labels[:, [BALL, HOLE]], obs.labels[:, [BALL, HOLE]])
    for do in ({}, {"hole_position": obs.exogenous[:, 1]}):
        same = scm.counterfactual(obs.exogenous, do, resolution=24)
        np.testing.assert_array_equal(same.images, obs.images)


def test_counterfactual_keeps_h_raw_unlike_an_intervention():
    scm = WaterFlowSCM()
    obs = scm.sample(25, seed=1, resolution=8)
    cf = scm.counterfactual(obs.exogenous, {"ball_size": 0.5}, resolution=8)
    # abduction keeps each unit's h_raw: the water height moves by exactly the b^3 change
    np.testing.assert_allclose(cf.labels[:, HEIGHT] - obs.labels[:, HEIGHT],
                               0.125 - obs.exogenous[:, 0] ** 3, atol=1e-5)
    itv = scm.sample(25, seed=2, do={"ball_size": 0.5}, resolution=8)
    assert not np.allclose(itv.labels[:, HEIGHT], cf.labels[:, HEIGHT])


def test_determinism_and_96():
    scm = WaterFlowSCM()
    a, b = scm.sample(4, seed=9, resolution=96), scm.sample(4, seed=9, resolution=96)
    assert a.images.shape == (4, 96, 96, 3)
    np.testing.assert_array_equal(a.images, b.images)
    g1, g2 = scm.grid_exogenous(0)[0], scm.grid_exogenous(1)[0]
    assert not np.array_equal(g1[:, 3], g2[:, 3])  # jet noise is seeded, not fixed


def test_bad_do_values():
    scm = WaterFlowSCM()
    with pytest.raises(ValueError, match=r"do\(ball_size=3\) is outside .*\[0, 2.5\]"):
        scm.sample(2, do={"ball_size": 3.0})
    with pytest.raises(ValueError, match=r"do\(hole_position=0.2\) is outside .*\[0.5, 18.6\]"):
        scm.sample(2, do={"hole_position": 0.2})
    with pytest.raises(ValueError, match="unknown variable 'flow'"):
        scm.sample(2, do={"flow": 1.0})
