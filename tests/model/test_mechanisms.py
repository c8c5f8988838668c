"""Causal flows: exact inverse, log|det| vs autograd Jacobians, graph sparsity, interventions."""
import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from icm_utils.data.graph import FLOW_GRAPH, PENDULUM_GRAPH, CausalGraph, GraphError
from icm_utils.model.mechanisms import CausalFlow, LinearSCM

GRAPHS = {
    "single": CausalGraph(["a"]),
    "chain": CausalGraph(["a", "b", "c"], [("a", "b"), ("b", "c")]),
    "collider": CausalGraph(["a", "b", "c"], [("a", "c"), ("b", "c")]),
    "fork": CausalGraph(["a", "b", "c"], [("a", "b"), ("a", "c")]),
    "pendulum": PENDULUM_GRAPH,
    "flow": FLOW_GRAPH,
    # 6 nodes, 5 levels, nodes listed out of topological order, a skip edge and an isolated node
    "six": CausalGraph(["e", "a", "d", "b", "f", "c"],
                       [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("b", "e"), ("d", "e")]),
}
KINDS = ("affine", "spline")


def make(graph, kind, k=2, std=0.3, dtype=torch.float64, seed=0, **kw):
    """A flow with random (not identity) parameters, so zero Jacobian blocks come from masking."""
    torch.manual_seed(seed)
    f = CausalFlow(graph, k, kind=kind, hidden=8, bound=3.0, **kw).to(dtype)
    with torch.no_grad():
        for p in f.parameters():
            p.add_(std * torch.randn_like(p))
    return f


def block_jacobian(fn, x):
    """|d out_i / d in_j| summed over the k x k block: (n, n) for a single sample x (n, k)."""
    n, k = x.shape
    j = jacobian(lambda v: fn(v.reshape(1, n, k)).reshape(-1), x.reshape(-1))
    return j.reshape(n, k, n, k).abs().sum((1, 3)), j


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gname", list(GRAPHS))
def test_inverse_and_logdet_match_autograd(kind, gname):
    g = GRAPHS[gname]
    f = make(g, kind)
    eps = 1.5 * torch.randn(4, g.n, 2, dtype=torch.float64)  # some values beyond the spline box
    z, ld = f(eps)
    assert z.shape == eps.shape and ld.shape == (4,)
    eps2, ld_inv = f.inverse(z)
    # float64; the spline's inverse solves a quadratic, so allow a little more than round-off
    torch.testing.assert_close(eps2, eps, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ld_inv, -ld, atol=1e-6, rtol=1e-6)
    for b in range(2):
        _, jac = block_jacobian(lambda v: f(v)[0], eps[b])
        assert torch.slogdet(jac)[1].item() == pytest.approx(ld[b].item(), abs=1e-7)
        _, jinv = block_jacobian(lambda v: f.inverse(v)[0], z[b])
        assert torch.slogdet(jinv)[1].item() == pytest.approx(ld_inv[b].item(), abs=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_roundtrip(kind):
    f = make(PENDULUM_GRAPH, kind, k=4, std=0.15, dtype=torch.float32)
    eps = torch.randn(64, 4, 4)
    torch.testing.assert_close(f.inverse(f(eps)[0])[0], eps, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_identity_at_initialisation(kind):
    f = CausalFlow(FLOW_GRAPH, 3, kind=kind, affine_bound="tanh")
    eps = torch.randn(5, 4, 3)
    z, ld = f(eps)
    torch.testing.assert_close(z, eps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ld, torch.zeros(5), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_sigmoid_bound_starts_at_the_midpoint_slope(kind):
    # official bound: a zero last layer gives s = t = sigmoid(0) = 0.5 for every node
    f = CausalFlow(FLOW_GRAPH, 3, kind=kind, affine_bound="sigmoid")
    eps = torch.randn(5, 4, 3)
    z, ld = f(eps)
    torch.testing.assert_close(z, eps * math.exp(0.5) + 0.5, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ld, torch.full((5,), 0.5 * 4 * 3), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gname", ["chain", "collider", "fork", "six"])
def test_jacobian_sparsity_follows_graph(kind, gname):
    g = GRAPHS[gname]
    f = make(g, kind)
    eps = torch.randn(1, g.n, 2, dtype=torch.float64)
    z = f(eps)[0]
    anc = g.ancestor_matrix().T + np.eye(g.n)  # [i, j] = 1 iff j is i or an ancestor of i
    dz_deps, _ = block_jacobian(lambda v: f(v)[0], eps[0])
    np.testing.assert_array_equal(dz_deps.numpy() > 1e-12, anc > 0)
    pa = g.adjacency.T + np.eye(g.n)  # inverse: eps_i reads z_i and z_pa(i) only
    deps_dz, _ = block_jacobian(lambda v: f.inverse(v)[0], z[0])
    np.testing.assert_array_equal(deps_dz.numpy() > 1e-12, pa > 0)
    # the conditioner of node i is a function of its parents' blocks only, whatever the weights
    p_jac = jacobian(lambda v: f.conditioner(v.reshape(1, g.n, 2)).reshape(g.n, -1),
                     z.reshape(-1)).reshape(g.n, -1, g.n, 2).abs().sum((1, 3))
    np.testing.assert_array_equal(p_jac.numpy() > 0, g.adjacency.T > 0)


def _sequential_forward(f, eps, do=None):
    """Independent reference: one node at a time in topological order."""
    z = torch.zeros_like(eps)
    for i in f.graph.order:
        if do and i in do:
            z[:, i] = do[i]
        else:
            z[:, i] = f.transform(eps[:, [i]], z.clone(), [i])[0][:, 0]
    return z


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gname", ["chain", "collider", "fork", "pendulum", "flow", "six"])
def test_interventions_change_exactly_the_descendants(kind, gname):
    g = GRAPHS[gname]
    f = make(g, kind)
    eps = torch.randn(6, g.n, 2, dtype=torch.float64)
    z = f(eps)[0]
    torch.testing.assert_close(z, _sequential_forward(f, eps))
    for i in range(g.n):
        v = torch.full((6, 2), 2.5, dtype=torch.float64)
        z_do, _ = f(eps, do={g.names[i]: v})
        torch.testing.assert_close(z_do, _sequential_forward(f, eps, {i: v}))
        changed = {j for j in range(g.n) if not torch.equal(z_do[:, j], z[:, j])}
        assert changed == g.descendants(i) | {i}
        assert torch.equal(z_do[:, i], v)


def test_intervention_values_broadcast_and_callables_see_final_parents():
    g = GRAPHS["chain"]
    f = make(g, "affine")
    eps = torch.randn(3, 3, 2, dtype=torch.float64)
    z1 = f(eps, do={1: 0.7})[0]
    z2 = f(eps, do={1: torch.full((2,), 0.7, dtype=torch.float64)})[0]
    torch.testing.assert_close(z1, z2)
    # do(c = 2 * b) with b itself intervened: the callable must see the intervened b
    z3 = f(eps, do={"b": 0.7, "c": lambda ctx: 2 * ctx[:, 1]})[0]
    torch.testing.assert_close(z3[:, 2], torch.full((3, 2), 1.4, dtype=torch.float64))
    with pytest.raises(ValueError, match="intervention value"):
        f(eps, do={1: torch.zeros(3, 5)})
    with pytest.raises(GraphError):
        f(eps, do={"nope": 1.0})


def test_forward_is_one_conditioner_call_per_level_and_inverse_one():
    g = GRAPHS["six"]
    f = make(g, "spline")
    calls = []
    f.net.register_forward_hook(lambda *a: calls.append(1))
    eps = torch.randn(2, g.n, 2, dtype=torch.float64)
    z = f(eps)[0]
    assert len(calls) == len(g.levels()) == 5
    calls.clear()
    f.inverse(z)
    assert len(calls) == 1


def test_linear_scm_matches_closed_form_solve():
    g = GRAPHS["six"]
    m = LinearSCM(g, 3).double()
    with torch.no_grad():
        m.weight.copy_(torch.randn(g.n, g.n))
    assert torch.equal(m.A == 0, torch.as_tensor(g.adjacency == 0))
    eps = torch.randn(5, g.n, 3, dtype=torch.float64)
    z, ld = m(eps)
    # z = A^T z + eps  <=>  z = (I - A^T)^{-1} eps, blockwise over the k columns
    ref = torch.linalg.solve(torch.eye(g.n, dtype=torch.float64) - m.A.T.detach(), eps)
    torch.testing.assert_close(z, ref)
    assert torch.equal(ld, torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(m.inverse(z)[0], eps)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(GraphError, match="cycle"):
        CausalGraph(["a", "b"], [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="kind"):
        CausalFlow(FLOW_GRAPH, 4, kind="nope")
    with pytest.raises(ValueError, match="bins"):
        CausalFlow(FLOW_GRAPH, 4, kind="spline", bins=1)
    f = CausalFlow(FLOW_GRAPH, 4)
    with pytest.raises(ValueError, match=r"\(B, 4, 4\)"):
        f(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, 4, 4\)"):
        f.inverse(torch.randn(2, 16))
