"""Kernel dependence between abducted noise and its causes: known answers, and the gradients
each measure gives a collapsing block."""
import pytest
import torch

from icm_utils.model.independence import MEASURES, dependence, noise_dependence

B = 256


def _draw(seed: int, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("measure", MEASURES)
def test_about_zero_when_independent_near_one_for_an_invertible_function(measure):
    a, b = _draw(0, B, 2), _draw(1, B, 3)
    assert 0 <= dependence(a, b, measure) < 0.15
    assert dependence(a, torch.tanh(a), measure) > 0.9  # elementwise invertible
    assert dependence(a, 2 * a + 1, measure) > 0.98


@pytest.mark.parametrize("scale", [0.0, 3.0])
def test_cka_floor_finite_and_flat_for_a_constant_block(scale):
    """A collapsed (constant) block: value 0, gradient finite and ~0 (nothing pushes it)."""
    a = torch.full((B, 2), scale, requires_grad=True)
    value = dependence(a, _draw(1, B, 2), "cka_floor")
    value.backward()
    assert torch.isfinite(value) and float(value.detach()) < 1e-6
    assert torch.isfinite(a.grad).all() and float(a.grad.abs().max()) < 1e-6


def _grad_norm(measure: str, scale: float) -> tuple[float, float]:
    """(value, |d value / d a|) for a = scale * x with the causes b a function of x."""
    x = _draw(2, B, 2)
    a = (scale * x).requires_grad_()
    value = dependence(a, torch.cat([x[:, :1] ** 3, torch.tanh(x[:, 1:])], 1), measure)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(a.grad).all()
    return float(value.detach()), float(a.grad.norm())


def test_tiny_noise_shrinks_the_floor_gradient_but_grows_plain_ckas():
    """Below the floor (spread 1e-3 < FLOOR) cka_floor's value and gradient shrink; plain cka is
    scale-free, so its value stays and its gradient grows as 1 / spread."""
    value1, floor1 = _grad_norm("cka_floor", 1.0)
    value_tiny, floor_tiny = _grad_norm("cka_floor", 1e-3)
    assert value1 > 0.5 and value_tiny < 0.01
    assert floor_tiny < floor1
    cka_value1, cka1 = _grad_norm("cka", 1.0)
    cka_value_tiny, cka_tiny = _grad_norm("cka", 1e-3)
    assert cka_value_tiny == pytest.approx(cka_value1, rel=1e-3)
    assert cka_tiny > 100 * cka1


@pytest.mark.parametrize("measure", MEASURES)
def test_gradients_reach_a_but_not_b(measure):
    a = _draw(3, B, 2).requires_grad_()
    b = (a.detach()[:, :1] + 0.5 * _draw(4, B, 1)).requires_grad_()  # depends on a: a gradient
    dependence(a, b, measure).backward()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0
    assert b.grad is None


def test_noise_dependence_sums_over_non_roots_only():
    """Node 1 <- 0, node 2 <- {0, 1}; the root's own noise (even a copy of a cause) adds nothing."""
    causes = _draw(5, B, 3)
    eps = _draw(6, B, 3, 2)
    eps[:, 0] = causes[:, 1:2].expand(B, 2)  # a root's noise equal to a cause: not counted
    parents = [[], [0], [0, 1]]
    expected = dependence(eps[:, 1], causes[:, [0]]) + dependence(eps[:, 2], causes[:, [0, 1]])
    torch.testing.assert_close(noise_dependence(eps, causes, parents), expected)
    # latent causes (B, n, k): a parent's whole block is the cause
    z = _draw(7, B, 3, 2)
    torch.testing.assert_close(noise_dependence(eps, z, parents, "cka"),
                               dependence(eps[:, 1], z[:, 0], "cka")
                               + dependence(eps[:, 2], z[:, [0, 1]].reshape(B, 4), "cka"))
    assert noise_dependence(eps, causes, [[], [], []]) == 0  # a graph with no edges


def test_bad_inputs_are_refused():
    a = _draw(8, 8, 2)
    for args, match in [((a, a, "hsic"), "measure must be one of"), ((a, a[:7]), "one batch size"),
                        ((a[:, 0], a), r"\(B, da\)"), ((a[:3], a[:3]), "at least 4")]:
        with pytest.raises(ValueError, match=match):
            dependence(*args)
