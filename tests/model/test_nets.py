"""Conv nets per resolution, additive "sum" decoder, Bernoulli NLL, official MLP sizes."""
import pytest
import torch

from icm_utils.model.nets import (
    RESOLUTIONS,
    ConvEncoder,
    OfficialMLPDecoder,
    OfficialMLPEncoder,
    bernoulli_nll,
    make_decoder,
)


@pytest.mark.parametrize("r", RESOLUTIONS)
@pytest.mark.parametrize("kind", ["joint", "sum", "mean", "compose"])
def test_shapes_for_every_resolution(r, kind):
    enc = ConvEncoder(r, 12, width=8)
    dec = make_decoder(kind, r, 3, 4, width=8)
    h = enc(torch.rand(2, 3, r, r))
    assert h.shape == (2, 12)
    assert dec(h.reshape(2, 3, 4)).shape == (2, 3, r, r)


@pytest.mark.parametrize("bad", [28, 100, 256])
def test_unsupported_resolution_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="resolution must be one of"):
        ConvEncoder(bad, 4)
    with pytest.raises(ValueError, match="resolution must be one of"):
        make_decoder("joint", bad, 2, 2)
    with pytest.raises(ValueError, match="decoder must be one of"):
        make_decoder("mlp", 32, 2, 2)
    with pytest.raises(ValueError, match="width"):
        ConvEncoder(32, 4, width=7)


def _swap_defect(dec, n=3, k=2):
    """f(a1,b1) + f(a2,b2) - f(a1,b2) - f(a2,b1) over a split of the blocks: zero iff additive."""
    torch.manual_seed(1)
    z1, z2 = torch.randn(4, n, k), torch.randn(4, n, k)
    m1, m2 = z1.clone(), z2.clone()
    m1[:, 0], m2[:, 0] = z2[:, 0], z1[:, 0]
    return (dec(z1) + dec(z2) - dec(m1) - dec(m2)).abs().max().item()


def test_sum_decoder_is_additive_over_blocks_and_joint_is_not():
    torch.manual_seed(0)
    assert _swap_defect(make_decoder("sum", 32, 3, 2, width=8)) < 1e-4
    assert _swap_defect(make_decoder("joint", 32, 3, 2, width=8)) > 1e-3


def test_sum_decoder_equals_sum_of_its_groups():
    torch.manual_seed(0)
    dec = make_decoder("sum", 32, 3, 2, width=8)
    z = torch.randn(2, 3, 2)
    with torch.no_grad():
        parts = []
        for g in range(3):
            zg = torch.zeros_like(z)
            zg[:, g] = z[:, g]
            parts.append(dec(zg))
        zero = dec(torch.zeros_like(z))
        # each part carries every group's output at 0; remove the 2 surplus copies
        torch.testing.assert_close(dec(z), sum(parts) - 2 * zero, atol=1e-4, rtol=1e-4)


def test_bernoulli_nll_matches_formula():
    logits, x = torch.randn(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    p = torch.sigmoid(logits)
    ref = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
    torch.testing.assert_close(bernoulli_nll(logits, x), ref, atol=1e-3, rtol=1e-5)


def test_official_mlp_sizes():
    with torch.device("meta"):  # no allocation: 186M parameters
        enc, dec = OfficialMLPEncoder(96, 4, 16), OfficialMLPDecoder(4, 4, 96, 4)
    n_params = sum(p.numel() for m in (enc, dec) for p in m.parameters())
    assert 180e6 < n_params < 190e6
    small_enc, small_dec = OfficialMLPEncoder(32, 3, 8), OfficialMLPDecoder(2, 4, 32, 3)
    assert small_enc(torch.rand(2, 3, 32, 32)).shape == (2, 16)
    assert small_dec(torch.randn(2, 8)).shape == (2, 3, 32, 32)


def test_output_bias_init_starts_the_decoder_at_the_mean_image():
    torch.manual_seed(0)
    dec = make_decoder("joint", 32, 2, 2, width=8)
    with torch.no_grad():
        for m in dec.deconv.modules():  # silence the conv path so only the bias is left
            if isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.zero_()
                m.bias.zero_()
    x = torch.rand(16, 3, 32, 32) * 0.5 + 0.4
    assert not bool(dec.bias_ready)
    dec.init_output_bias(x)
    assert bool(dec.bias_ready)
    out = torch.sigmoid(dec(torch.randn(3, 2, 2)))
    torch.testing.assert_close(out, x.mean(0).expand(3, 3, 32, 32), atol=1e-5, rtol=1e-5)


def test_compose_decoder_mixes_layers_by_softmax_masks():
    torch.manual_seed(0)
    dec = make_decoder("compose", 32, 3, 2, width=8)
    z = torch.randn(4, 3, 2)
    with torch.no_grad():
        p = torch.sigmoid(dec(z))
    assert p.shape == (4, 3, 32, 32) and float(p.min()) > 0 and float(p.max()) < 1
    # silence every layer: each of the 3 layers and the background get weight 1/4, colour 1/2
    # (the zero layers) or sigmoid(bias) (the background)
    with torch.no_grad():
        for m in dec.deconv.modules():
            if isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.zero_()
                m.bias.zero_()
        dec.pixel_bias.fill_(2.0)
    expected = 0.75 * 0.5 + 0.25 * torch.sigmoid(torch.tensor(2.0))
    torch.testing.assert_close(torch.sigmoid(dec(z)), expected.expand(4, 3, 32, 32),
                               atol=1e-5, rtol=1e-5)
    # a layer whose mask logit dominates paints the pixel alone: block 1 at colour logit -3
    with torch.no_grad():
        last = dec.deconv[-1].conv
        last.bias.view(3, 4)[1] = torch.tensor([-3.0, -3.0, -3.0, 30.0])
    torch.testing.assert_close(torch.sigmoid(dec(z)), torch.sigmoid(torch.tensor(-3.0)).expand(
        4, 3, 32, 32), atol=1e-4, rtol=1e-4)


OBJECTS = [[0], [1], [2, 3]]  # Pendulum's: pendulum <- angle, sun <- light, shadow <- both shadows


def _objects_decoder(r=32):
    torch.manual_seed(0)
    dec = make_decoder("objects", r, 4, 2, width=8, objects=OBJECTS)
    with torch.no_grad():  # away from the near-transparent start, so every slot draws something
        dec.net.deconv[-1].conv.bias.zero_()
    return dec


@pytest.mark.parametrize("r", [32, 64])
def test_object_slots_read_only_their_variables_blocks(r):
    dec = _objects_decoder(r)
    z = torch.randn(3, 4, 2)
    assert dec(z).shape == (3, 3, r, r)
    with torch.no_grad():
        base = dec.slot_absorbances(z)
        for j in range(4):
            moved = z.clone()
            moved[:, j] += 1.0
            changed = (dec.slot_absorbances(moved) - base).abs().amax(dim=(0, 2, 3, 4)) > 0
            assert changed.tolist() == [j in obj for obj in OBJECTS], j


def test_a_slot_can_only_darken_so_it_cannot_erase_another_slots_object():
    """p = background * exp(-sum of absorbances), absorbances >= 0: the image is never brighter
    than any one slot drawn alone on the background, whatever the other slots do."""
    dec = _objects_decoder()
    with torch.no_grad():
        dec.net.pixel_bias.normal_()
        z = 3 * torch.randn(5, 4, 2)
        p = torch.sigmoid(dec(z))
        a = dec.slot_absorbances(z)
        bg = dec.background()
        assert (a >= 0).all()
        torch.testing.assert_close(p, (bg * torch.exp(-a.sum(1))).clamp(max=1 - 1e-5),
                                   atol=1e-5, rtol=1e-4)
        for s in range(len(OBJECTS)):
            assert (p <= bg * torch.exp(-a[:, s]) + 1e-5).all()


def test_objects_decoder_needs_the_objects():
    with pytest.raises(ValueError, match="needs the objects of the scene"):
        make_decoder("objects", 32, 4, 2)
    with pytest.raises(ValueError, match="variable indices"):
        make_decoder("objects", 32, 4, 2, objects=[[0], [4]])
