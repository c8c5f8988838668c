import numpy as np
import pytest

from icm_utils.data.graph import CausalGraph, GraphError
from icm_utils.data.synthetic import PRESET_GRAPH, Mixing, SyntheticSCM, preset


@pytest.fixture(scope="module")
def scm():
    return preset(seed=0, obs_dim=10)


def test_preset_graph_has_at_least_5_nodes():
    assert PRESET_GRAPH.n >= 5 and len(PRESET_GRAPH.edges) >= 5


def test_shapes_standardised_latents_and_determinism(scm):
    s = scm.sample(2000, seed=1)
    assert s.latents.shape == (2000, 6) and s.observations.shape == (2000, 10)
    assert s.exogenous.shape == (2000, 6)
    np.testing.assert_allclose(s.latents.mean(0), 0, atol=0.1)
    np.testing.assert_allclose(s.latents.std(0), 1, atol=0.1)
    # same stream; BLAS may round a smaller batch differently in the last bit
    np.testing.assert_allclose(scm.sample(50, seed=1).observations, s.observations[:50],
                               rtol=1e-12, atol=1e-12)
    assert not np.allclose(scm.sample(50, seed=2).latents, s.latents[:50])
    other = preset(seed=1)  # another seed is another SCM
    assert not np.allclose(other.sample(50, seed=1).latents, s.latents[:50])


def test_roots_are_their_noise_and_mechanisms_are_nonlinear(scm):
    s = scm.sample(3000, seed=3)
    a, c = scm.graph.index("a"), scm.graph.index("c")
    np.testing.assert_allclose(s.latents[:, a], (s.exogenous[:, a] - scm.shift[a]) / scm.scale[a])
    # a linear fit of c on its parents leaves more than the additive noise: nonlinear g_c
    pa = scm.graph.parents(c)
    X = np.c_[s.latents[:, pa], np.ones(len(s))]
    resid = s.latents[:, c] - X @ np.linalg.lstsq(X, s.latents[:, c], rcond=None)[0]
    noise = scm.noise_scale * s.exogenous[:, c] / scm.scale[c]
    assert resid.var() > 1.02 * noise.var()


def test_mixing_is_invertible_and_nonlinear(scm):
    s = scm.sample(500, seed=4)
    np.testing.assert_allclose(scm.mixing.inverse(s.observations), s.latents, atol=1e-10)
    m = scm.mixing  # not linear: f(2z) != 2 f(z)
    assert not np.allclose(m(2 * s.latents), 2 * m(s.latents))
    square = Mixing(3, 3, layers=2, seed=5)
    z = np.random.default_rng(0).standard_normal((20, 3))
    np.testing.assert_allclose(square.inverse(square(z)), z, atol=1e-10)


def test_do_on_root_changes_descendants_only(scm):
    eps = scm.sample(400, seed=6).exogenous
    fact = scm.counterfactual(eps)
    cf = scm.counterfactual(eps, {"a": 2.0})
    g = scm.graph
    a = g.index("a")
    desc = g.descendants("a")
    assert np.all(cf.latents[:, a] == 2.0)
    for i in range(g.n):
        if i == a:
            continue
        if i in desc:
            assert not np.allclose(cf.latents[:, i], fact.latents[:, i]), g.names[i]
        else:
            np.testing.assert_array_equal(cf.latents[:, i], fact.latents[:, i])


def test_counterfactual_noop_and_do_equal_to_factual(scm):
    eps = scm.sample(100, seed=7).exogenous
    fact = scm.counterfactual(eps)
    np.testing.assert_array_equal(scm.counterfactual(eps, {}).observations, fact.observations)
    d = scm.graph.index("d")
    same = scm.counterfactual(eps, {"d": fact.latents[:, d]})
    np.testing.assert_array_equal(same.observations, fact.observations)


def test_counterfactual_differs_from_intervention(scm):
    eps = scm.sample(300, seed=8).exogenous
    cf = scm.counterfactual(eps, {"c": 1.0})
    itv = scm.sample(300, seed=9, do={"c": 1.0})
    d = scm.graph.index("d")
    assert not np.allclose(cf.latents[:, d], itv.latents[:, d])


def test_user_graph_from_names_and_edges():
    s = SyntheticSCM(names=["x", "y", "z", "w", "v"], edges=[("x", "y"), ("y", "z")],
                     obs_dim=7, seed=2)
    assert s.sample(10, seed=0).observations.shape == (10, 7)
    assert s.graph == CausalGraph(["x", "y", "z", "w", "v"], [("x", "y"), ("y", "z")])


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"obs_dim \(3\) must be >= the number of causal "
                                         r"variables \(6\)"):
        preset(obs_dim=3)
    with pytest.raises(GraphError, match="cycle"):
        SyntheticSCM(names=["p", "q"], edges=[("p", "q"), ("q", "p")])
    with pytest.raises(GraphError, match="unknown variable 'r'"):
        SyntheticSCM(names=["p", "q"], edges=[("p", "r")])
    with pytest.raises(ValueError, match="give a CausalGraph or names"):
        SyntheticSCM()
    with pytest.raises(TypeError, match="graph must be a CausalGraph"):
        SyntheticSCM(graph={"names": ["a"]})
    s = preset()
    with pytest.raises(ValueError, match="unknown variable 'zz'"):
        s.sample(3, do={"zz": 1.0})
    with pytest.raises(ValueError, match=r"exogenous must have shape \(N, 6\)"):
        s.counterfactual(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"mixing expects latents of shape \(N, 6\)"):
        s.mixing(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="noise_scale must be > 0"):
        preset(noise_scale=0.0)
