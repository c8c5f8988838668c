"""The one image conversion: stored (N, H, W, 3) uint8 -> the nets' (N, 3, H, W) float in [0, 1]."""
import numpy as np
import pytest
import torch

from icm_utils.data.images import float_images, images_to_tensor, to_float_images


def _known_images() -> np.ndarray:
    """Two 2x3 images whose pixels encode (sample, row, col, channel)."""
    x = np.zeros((2, 2, 3, 3), np.uint8)
    x[0, 0, 0] = (255, 0, 51)  # sample 0, top-left pixel: red=1, green=0, blue=0.2
    x[1, 1, 2] = (0, 102, 255)  # sample 1, bottom-right pixel
    return x


def test_float_images_known_pixels_layout_and_range():
    out = float_images(_known_images())
    assert out.shape == (2, 3, 2, 3) and out.dtype == torch.float32
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.2]))
    torch.testing.assert_close(out[1, :, 1, 2], torch.tensor([0.0, 0.4, 1.0]))
    assert out.sum() == pytest.approx(1.0 + 0.2 + 0.4 + 1.0)  # every other pixel is 0
    assert float_images(np.full((1, 4, 4, 3), 255, np.uint8)).min() == 1.0


def test_images_to_tensor_keeps_uint8_and_to_float_divides_by_255():
    x = _known_images()
    t = images_to_tensor(x)
    assert t.dtype == torch.uint8 and t.shape == (2, 3, 2, 3) and t.is_contiguous()
    assert t[1, 1, 1, 2] == 102
    torch.testing.assert_close(to_float_images(t), float_images(x))


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (4, 4, 3), (2, 4, 4, 4), (2, 4, 4, 1)])
def test_bad_shapes_are_refused(shape):
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        float_images(np.zeros(shape, np.uint8))
